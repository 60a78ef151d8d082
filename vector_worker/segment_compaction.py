"""Compacting a vector segment: a vacuum's index half.

hnswlib's mark_deleted keeps a deleted entry's slot - vector, graph links and label - in
memory and in the saved file, and a label is never reused (labels are embeddings.id), so
a collection that deletes and adds keeps growing its index. A rebuild from SQLite holds
only the live vectors, at a capacity of their count.

`compact` (online, CompactSegment): a loaded segment first applies the log to its end and
is saved, so its checkpoint - and with it the log purge - moves up to the present. Then,
if deleted entries make up at least `min_deleted_fraction` of its index (the loaded copy,
else the saved folder's manifest), it is rebuilt through the cache (SegmentCache.rebuild:
under its id lock, saved and reported like any rebuild). A segment that was not loaded
is not left loaded afterwards: a vacuum walks every collection, and keeping each one it
rebuilt would push the working set out of memory (while it is being built it takes its
memory under the budget like any rebuild). A segment neither loaded nor saved here has
nothing to compact.

`build_from_snapshot` is the offline variant's builder (segmentdb.offline_vacuum), fed
pages straight from a stopped folder's SQLite file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from segmentdb.maintenance import deleted_fraction, tree_bytes
from vector_worker import segment_files
from vector_worker.convert import SegmentParams
from vector_worker.segment import INITIAL_CAPACITY, Segment
from vector_worker.segment_cache import SegmentCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Compaction:
    live_count: int       # before
    deleted_count: int    # before
    rebuilt: bool
    bytes_before: int     # of index/<segment_id>/
    bytes_after: int
    seconds: float


def compact(cache: SegmentCache, params: SegmentParams, min_deleted_fraction: float,
            timeout: float | None = None) -> Compaction:
    started = time.monotonic()
    folder = segment_files.segment_folder(cache.root, params.segment_id)
    before = tree_bytes(folder)
    segment = cache.peek(params.segment_id)
    if segment is not None:
        cache.tail(segment, timeout)  # to the log's end; a purged log reloads it
        segment = cache.peek(params.segment_id)
    if segment is not None:
        live, deleted = segment.live_count, segment.deleted_count
    else:
        counts = segment_files.saved_counts(cache.root, params)
        if counts is None:
            return Compaction(0, 0, False, before, before, time.monotonic() - started)
        live, deleted = counts
    rebuild = deleted > 0 and deleted_fraction(live, deleted) >= min_deleted_fraction
    if rebuild:
        cache.rebuild(params, timeout, stay_unloaded=True)
        log.info("segment %s compacted: %d live, %d deleted entries (%.0f%%) rebuilt from "
                 "SQLite; folder %d -> %d bytes", params.segment_id, live, deleted,
                 100 * deleted_fraction(live, deleted), before, tree_bytes(folder))
    elif segment is not None:
        cache.persist(segment)  # saved through the log's end: the log purges up to it
    return Compaction(live, deleted, rebuild, before, tree_bytes(folder),
                      time.monotonic() - started)


def build_from_snapshot(params: SegmentParams,
                        pages: Iterable[tuple[list[int], np.ndarray, int]],
                        count: int) -> Segment:
    """A segment of exactly the live vectors in `pages` ((labels, vectors, snapshot
    sequence) from one SQLite snapshot, metadata_worker.store_log.scan), sized for `count`
    records, applied through the snapshot's sequence."""
    segment = Segment.create(params, capacity=max(INITIAL_CAPACITY, count))
    snapshot = 0
    for labels, vectors, snapshot in pages:
        if len(labels):
            segment.apply(labels, vectors)
    segment.applied_sequence = snapshot
    return segment
