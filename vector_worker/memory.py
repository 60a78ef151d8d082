"""Bytes a loaded hnswlib index occupies, from its dimension, M and capacity.

hnswlib allocates its level-0 block for the whole capacity up front, so the budget counts
capacity, not the live count. Per element slot it holds:
  level-0 block: 4*d (float32 vector) + 4*2M (neighbour ids) + 4 (neighbour count) + 8 (label)
  bookkeeping: a std::mutex per element (40), the link-list pointer (8), the level (4), the
  label->id hash map node (~48), upper-level link lists (~(4M+4)/(M-1) + malloc overhead) and
  a 2-byte visited-list slot per searching thread.
plus a fixed ~2.6 MB (65536 label-operation mutexes).

Measured (hnswlib 0.8.0, Linux x86-64, RSS of a fresh process after init + fill to capacity):
  d=32  M=16 n=100000: 422.7 B/elem = 268 level-0 + 154.7 extra
  d=128 M=16 n=50000:  816.1 B/elem = 652 level-0 + 164.1 extra
  d=32  M=48 n=50000:  704.4 B/elem = 524 level-0 + 180.4 extra
  d=8   M=4  n=200000: 222.1 B/elem =  76 level-0 + 146.1 extra
  d=32  M=16 n=10000:  664.0 B/elem = 268 level-0 + 396 extra (the fixed 2.5 MB spread thin)
so EXTRA_PER_ELEMENT = 170 covers the measurements (slightly over-counts: a budget should err
on the safe side).

Next to the index each segment keeps a VectorMirror (vector_mirror.py) with the same capacity:
4*d (float32 vector) + 8 (label) + 4 (squared norm) + 1 (alive) bytes per slot. It replaced
the Python set of live labels (~72 B per live label), so live labels cost nothing more.
"""

from __future__ import annotations

from vector_worker import vector_mirror

FIXED_INDEX_BYTES = 2_700_000
EXTRA_PER_ELEMENT = 170


def element_bytes(dimension: int, max_neighbors: int) -> int:
    """Bytes per element slot of an hnswlib index (level-0 block + bookkeeping)."""
    level0 = 4 * dimension + 4 * 2 * max_neighbors + 4 + 8
    return level0 + EXTRA_PER_ELEMENT


def index_bytes(dimension: int, max_neighbors: int, capacity: int) -> int:
    """Bytes an hnswlib index with `capacity` slots occupies once filled."""
    return FIXED_INDEX_BYTES + capacity * element_bytes(dimension, max_neighbors)


def segment_bytes(dimension: int, max_neighbors: int, capacity: int) -> int:
    """Bytes of a loaded segment: its index plus its vector mirror, both at `capacity` (live
    labels are rows of the mirror, so the live count adds nothing)."""
    return index_bytes(dimension, max_neighbors, capacity) + vector_mirror.bytes_for(
        dimension, capacity)
