"""A float32 copy of a segment's vectors, in label order, for exact (brute-force) search.

hnswlib can hand its vectors back only through `get_items`, which builds Python floats
(22-28 ms per 1000 x 384 vectors): too slow to gather a filter's candidates on every query.
The mirror keeps the same vectors (normalized for cosine, as hnswlib stores them) in one
numpy block, so gathering 10,000 candidates is one `np.take`.

Layout: rows sorted by label (int64), so label -> row is `np.searchsorted`. Labels are SQLite
rowids: new records almost always arrive with labels larger than every existing one, and
appending keeps the order; an out-of-order label (a compacted label re-added, a rebuilt log)
re-sorts the rows. A deleted label stays as a tombstone (`alive` False) until tombstones
exceed a quarter of the rows, then the rows are compacted. An upsert of an existing label
(alive or tombstoned) overwrites its row. Capacity grows geometrically; the segment also
reserves hnswlib's capacity, so both grow together and the memory budget counts both.

No per-label Python loops: every operation is a handful of vectorized numpy calls.
"""

from __future__ import annotations

import logging
import mmap
import struct

import numpy as np

log = logging.getLogger(__name__)

# Compact when tombstones exceed this fraction of the rows (and COMPACT_MIN rows).
COMPACT_FRACTION = 0.25
COMPACT_MIN = 1024
GROWTH = 1.5
# Bytes per row besides the vector: label (int64) + squared norm (float32) + alive (bool).
ROW_OVERHEAD = 8 + 4 + 1
# hnswlib normalizes cosine vectors by 1 / (norm + 1e-30) in float32; so do we.
_NORM_EPSILON = np.float32(1e-30)


# Blocks at least this large are mapped with transparent huge pages (see _zeros).
_HUGE_PAGE_MIN_BYTES = 4 << 20


def _zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A zero-filled array; a large one in its own anonymous mapping advised to use huge
    pages. Faulting in 4 KiB pages dominated building a mirror: 0.37 s for 150 MB on our VM
    (the copy itself: 17 ms); with MADV_HUGEPAGE, 20 ms. Dropping the array unmaps it, so
    the memory goes straight back to the OS (no heap fragmentation after evictions)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes < _HUGE_PAGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros(shape, dtype)
    try:
        block = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        block.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError):
        return np.zeros(shape, dtype)
    return np.frombuffer(block, dtype=dtype).reshape(shape)


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as hnswlib does for cosine (a zero row stays zero). hnswlib
    sums the squares in its own (compiler-chosen) order, so a row may differ from hnswlib's
    copy in the last bit (measured: at most 1 ulp); a segment loaded from disk takes
    hnswlib's copy bit for bit."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    return vectors * (np.float32(1.0) / (norms + _NORM_EPSILON))[:, None]


def bytes_for(dimension: int, capacity: int) -> int:
    """Bytes a mirror with `capacity` rows allocates."""
    return capacity * (4 * dimension + ROW_OVERHEAD)


class VectorMirror:
    """Rows of (label, float32 vector, squared norm, alive), sorted by label."""

    def __init__(self, dimension: int, capacity: int = 0, *, cosine: bool = False):
        self.dimension = dimension
        self.cosine = cosine
        self._size = 0  # rows in use (alive or tombstoned)
        self._dead = 0  # tombstones among them
        self._labels = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dimension), dtype=np.float32)
        self._sq_norms = np.zeros(0, dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self.reserve(capacity)

    # ----- facts -----------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return len(self._labels)

    @property
    def row_count(self) -> int:
        """Rows in use, tombstones included."""
        return self._size

    @property
    def live_count(self) -> int:
        return self._size - self._dead

    @property
    def nbytes(self) -> int:
        return (self._labels.nbytes + self._vectors.nbytes + self._sq_norms.nbytes
                + self._alive.nbytes)

    @property
    def labels(self) -> np.ndarray:
        """Labels of the rows in use (ascending; tombstones included). A view: don't keep."""
        return self._labels[:self._size]

    @property
    def vectors(self) -> np.ndarray:
        """Vectors of the rows in use. A view: don't keep it across writes."""
        return self._vectors[:self._size]

    @property
    def sq_norms(self) -> np.ndarray:
        return self._sq_norms[:self._size]

    def live_rows(self) -> np.ndarray:
        if self._dead == 0:
            return np.arange(self._size, dtype=np.int64)
        return np.flatnonzero(self._alive[:self._size])

    def live_labels(self) -> np.ndarray:
        return self.labels[self.live_rows()]

    def contains(self, labels: np.ndarray) -> np.ndarray:
        """Per label: does it have a row (alive or tombstoned)?"""
        return self._find(np.asarray(labels, dtype=np.int64))[1]

    def rows_of(self, labels: np.ndarray) -> np.ndarray:
        """Ascending distinct rows of the live labels among `labels` (others ignored)."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        rows, found = self._find(labels)
        rows = rows[found & self._alive[rows]] if self._size else rows[:0]
        if len(rows) > 1 and not bool(np.all(rows[1:] > rows[:-1])):
            rows = np.unique(rows)  # unsorted or repeated labels
        return rows

    def gather(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Vectors of `rows` (a view when they are consecutive, else copied into `out`)."""
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
            return self._vectors[rows[0]:rows[-1] + 1]
        if out is None:
            return self._vectors[rows]
        # mode="clip": with the default "raise" numpy fills a temporary and copies it into
        # `out`; rows are our own, always in range.
        return np.take(self._vectors, rows, axis=0, out=out[:len(rows)], mode="clip")

    # ----- writes ----------------------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Allocate room for `capacity` rows (never shrinks)."""
        if capacity <= self.capacity:
            return
        size = self._size
        labels = _zeros((capacity,), np.int64)
        vectors = _zeros((capacity, self.dimension), np.float32)
        sq_norms = _zeros((capacity,), np.float32)
        alive = _zeros((capacity,), bool)
        labels[:size] = self._labels[:size]
        vectors[:size] = self._vectors[:size]
        sq_norms[:size] = self._sq_norms[:size]
        alive[:size] = self._alive[:size]
        self._labels, self._vectors, self._sq_norms, self._alive = labels, vectors, sq_norms, alive

    def upsert(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Set the vectors of `labels` (raw: normalized here for cosine). Within one call
        the last vector of a repeated label wins."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dimension)
        if len(labels) == 0:
            return
        if len(np.unique(labels)) != len(labels):
            _, first_from_end = np.unique(labels[::-1], return_index=True)
            keep = np.sort(len(labels) - 1 - first_from_end)
            labels, vectors = labels[keep], vectors[keep]
        if self.cosine:
            vectors = normalize(vectors)
        rows, found = self._find(labels)
        existing = rows[found]
        if len(existing):
            self._dead -= int((~self._alive[existing]).sum())
            self._write_rows(existing, vectors[found])
        if not found.all():
            self._append(labels[~found], vectors[~found])

    def delete(self, labels: np.ndarray) -> np.ndarray:
        """Tombstone the live labels among `labels`; returns them (ascending, distinct)."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        rows, found = self._find(labels)
        rows = np.unique(rows[found & self._alive[rows]]) if self._size else rows[:0]
        removed = self._labels[rows].copy()
        self._alive[rows] = False
        self._dead += len(rows)
        if self._dead > max(COMPACT_MIN, COMPACT_FRACTION * self._size):
            self.compact()
        return removed

    def compact(self) -> None:
        """Drop tombstoned rows (order is kept, so labels stay sorted)."""
        if self._dead == 0:
            return
        keep = np.flatnonzero(self._alive[:self._size])
        n = len(keep)
        self._labels[:n] = self._labels[keep]
        self._vectors[:n] = self._vectors[keep]
        self._sq_norms[:n] = self._sq_norms[keep]
        self._alive[:n] = True
        self._alive[n:self._size] = False
        self._size, self._dead = n, 0

    # ----- internals -------------------------------------------------------------------

    def _find(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of each label, whether it was found); rows of missing labels are in range
        but meaningless."""
        if self._size == 0:
            return np.zeros(len(labels), dtype=np.int64), np.zeros(len(labels), dtype=bool)
        rows = np.searchsorted(self.labels, labels)
        np.minimum(rows, self._size - 1, out=rows)
        return rows, self._labels[rows] == labels

    def _fill(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Fill an empty mirror with sorted distinct labels and their stored vectors."""
        self.reserve(len(labels))
        self._vectors[:len(labels)] = vectors
        self._adopt(labels)

    def _adopt(self, labels: np.ndarray) -> None:
        """Rows 0..len(labels)-1, their vectors already written, become the live rows of
        these sorted distinct labels (an empty mirror's first fill)."""
        self._size, self._dead = len(labels), 0
        self._labels[:self._size] = labels
        self._sq_norms[:self._size] = np.einsum("ij,ij->i", self.vectors, self.vectors)
        self._alive[:self._size] = True

    def _write_rows(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        self._vectors[rows] = vectors
        self._sq_norms[rows] = np.einsum("ij,ij->i", vectors, vectors)
        self._alive[rows] = True

    def _append(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows for labels that have none (distinct), keeping the rows sorted."""
        start, end = self._size, self._size + len(labels)
        if end > self.capacity:
            self.reserve(max(end, int(self.capacity * GROWTH) + 1))
        self._labels[start:end] = labels
        self._write_rows(np.arange(start, end), vectors)
        self._size = end
        in_order = bool(np.all(labels[1:] > labels[:-1])) and (
            start == 0 or labels[0] > self._labels[start - 1])
        if not in_order:
            self._sort()

    def _sort(self) -> None:
        order = np.argsort(self._labels[:self._size], kind="stable")
        for array in (self._labels, self._vectors, self._sq_norms, self._alive):
            array[:self._size] = array[:self._size][order]


# ----- building a mirror from a loaded hnswlib index -------------------------------------

_warned_layout = False
# Rows compared against get_items when checking the level-0 layout.
_VERIFY_ROWS = 8
# Labels per get_items call in the slow fallback (bounded memory).
_FALLBACK_CHUNK = 8192


def from_index(index, dimension: int, deleted: np.ndarray, *, cosine: bool,
               saved_file: str | None = None) -> VectorMirror:
    """A mirror of the live labels of `index` (an hnswlib.Index): those it lists
    (get_ids_list) minus `deleted` (hnswlib keeps deleted labels and can't list them).

    Fast path: hnswlib 0.8's `__getstate__()` copies its level-0 block, whose element
    records hold the float32 vector at `offset_data` and the uint64 label at `label_offset`;
    numpy slices both out without a per-label call (~0.17 s at 100k x 384 instead of
    get_items' ~2.5 s). Load briefly holds two copies of the index (the state is a full copy
    of it) plus the mirror: the state is dropped before returning. The layout is checked on
    a few rows against get_items, and the labels against get_ids_list; any mismatch
    (another hnswlib version) falls back to chunked get_items with one WARNING.

    With `saved_file` (the file the index was just loaded from), the level-0 block is read
    from it a few MiB at a time instead (_from_file): no second copy of the index, so a
    load's peak memory is the index plus the mirror (at 100k x 384: ~0.7 -> ~0.4 GiB)."""
    global _warned_layout
    known = np.sort(np.asarray(index.get_ids_list(), dtype=np.int64))
    live = known[~np.isin(known, np.asarray(deleted, dtype=np.int64))]
    capacity = index.get_max_elements()
    if len(live) == 0:
        return VectorMirror(dimension, capacity, cosine=cosine)
    mirror = None
    if saved_file is not None:
        mirror = _from_file(saved_file, index, dimension, known, live, capacity, cosine)
    if mirror is None:
        mirror = _from_state(index, dimension, known, live, capacity, cosine)
    if mirror is None:
        if not _warned_layout:
            _warned_layout = True
            log.warning(
                "hnswlib's serialized layout is not the one this worker knows (hnswlib 0.8); "
                "loading segment vectors with get_items instead (slower loads, same results)")
        mirror = _from_get_items(index, dimension, live, capacity, cosine)
    return mirror


def _from_state(index, dimension: int, known: np.ndarray, live: np.ndarray, capacity: int,
                cosine: bool) -> VectorMirror | None:
    try:
        state = index.__getstate__()
        state = state[0] if isinstance(state, tuple) else state
        count = int(state["cur_element_count"])
        row_bytes = int(state["size_data_per_element"])
        vector_at = int(state["offset_data"])
        label_at = int(state["label_offset"])
        stored_dimension = int(state["dim"])
        block = state.pop("data_level0")
        del state  # the link lists: not needed, release them now
        if (stored_dimension != dimension or block.nbytes < count * row_bytes
                or not _layout_fits(count, known, row_bytes, vector_at, label_at, dimension)):
            return None
        records = block.view(np.uint8)[:count * row_bytes].reshape(count, row_bytes)
        # Views into the copied block (no copy yet): the last axis is contiguous bytes.
        vectors = records[:, vector_at:vector_at + 4 * dimension].view("<f4")
        labels = records[:, label_at:label_at + 8].view("<u8").reshape(count).astype(np.int64)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    order = np.argsort(labels, kind="stable")
    if not np.array_equal(labels[order], known):
        return None
    order = order[np.isin(labels[order], live)]  # live rows, in label order
    if not _agrees_with_index(index, labels, vectors, order):
        return None
    mirror = VectorMirror(dimension, capacity, cosine=cosine)
    if len(order) == count and bool(np.all(order[1:] > order[:-1])):
        mirror._fill(live, vectors)  # the usual case: no deletions, added in label order
    else:
        mirror._fill(live, vectors[order])
    return mirror


# hnswlib 0.8's saveIndex header: offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, label_offset, offsetData (size_t), maxlevel (int), enterpoint
# (uint), maxM, maxM0, M (size_t), mult (double), ef_construction (size_t); then the
# level-0 block, cur_element_count records of size_data_per_element bytes.
_HNSW_HEADER = struct.Struct("<6QiI3QdQ")
# Level-0 records read per chunk (~7 MB at 384 dims).
_FILE_CHUNK_ROWS = 4096


def _from_file(path: str, index, dimension: int, known: np.ndarray, live: np.ndarray,
               capacity: int, cosine: bool) -> VectorMirror | None:
    """The mirror read from the saved index file in chunks; None (the caller falls back to
    _from_state) when the header or the records do not match what hnswlib loaded."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HNSW_HEADER.size)
            if len(head) != _HNSW_HEADER.size:
                return None
            level0_at, _, count, row_bytes, label_at, vector_at = _HNSW_HEADER.unpack(head)[:6]
            if level0_at != 0 or not _layout_fits(count, known, row_bytes, vector_at,
                                                   label_at, dimension):
                return None
            mirror = VectorMirror(dimension, capacity, cosine=cosine)
            mirror.reserve(len(live))
            # hnswlib's record order is insertion order (interleaved across threads within
            # a batch), not label order: each live record goes to its label's row.
            filled = 0
            # One read buffer for every chunk: a fresh ~7 MB array per chunk was a fresh
            # mapping (the worker's mmap threshold) faulted in page by page.
            buffer = np.empty(min(_FILE_CHUNK_ROWS, count) * row_bytes, dtype=np.uint8)
            for start in range(0, count, _FILE_CHUNK_ROWS):
                rows = min(_FILE_CHUNK_ROWS, count - start)
                raw = buffer[:rows * row_bytes]
                if fh.readinto(memoryview(raw)) != rows * row_bytes:
                    return None
                records = raw.reshape(rows, row_bytes)
                labels = records[:, label_at:label_at + 8].copy().view(
                    "<u8").reshape(rows).astype(np.int64)
                at = np.minimum(np.searchsorted(live, labels), len(live) - 1)
                keep = live[at] == labels
                # The vectors as a strided view of the records (no copy of the chunk).
                vectors = records[:, vector_at:vector_at + 4 * dimension].view("<f4")
                if keep.all():  # no deleted labels in this chunk: the usual case
                    mirror._vectors[at] = vectors
                    filled += rows
                else:
                    mirror._vectors[at[keep]] = vectors[keep]
                    filled += int(keep.sum())
    except (OSError, ValueError, struct.error):
        return None
    if filled != len(live):  # labels are unique in an index: each live row written once
        return None
    mirror._adopt(live)
    return mirror if _agrees_with_index(index, live, mirror.vectors) else None


def _layout_fits(count: int, known: np.ndarray, row_bytes: int, vector_at: int,
                 label_at: int, dimension: int) -> bool:
    """A level-0 layout that can be what hnswlib loaded: one record per known label, the
    vector and the label inside each record."""
    return (count == len(known) and vector_at + 4 * dimension <= row_bytes
            and label_at + 8 <= row_bytes)


def _agrees_with_index(index, labels: np.ndarray, vectors: np.ndarray,
                       rows: np.ndarray | None = None) -> bool:
    """Whether `vectors` (rows of `labels`; only `rows` of them when given) match what
    get_items returns, on _VERIFY_ROWS rows spread over them: the check that a layout was
    read right. Indexes the sample only, never a copy of the whole block."""
    count = len(labels) if rows is None else len(rows)
    sample = np.unique(np.linspace(0, count - 1, _VERIFY_ROWS).astype(np.int64))
    if rows is not None:
        sample = rows[sample]
    stored = np.asarray(index.get_items(labels[sample], return_type="numpy"), dtype=np.float32)
    return bool(np.array_equal(stored, vectors[sample]))


def _from_get_items(index, dimension: int, live: np.ndarray, capacity: int,
                    cosine: bool) -> VectorMirror:
    vectors = np.empty((len(live), dimension), dtype=np.float32)
    for start in range(0, len(live), _FALLBACK_CHUNK):
        chunk = live[start:start + _FALLBACK_CHUNK]
        vectors[start:start + len(chunk)] = index.get_items(chunk, return_type="numpy")
    mirror = VectorMirror(dimension, capacity, cosine=cosine)
    mirror._fill(live, vectors)
    return mirror
