"""Bringing a segment up to date from the metadata worker: a full rebuild (ScanVectors at a
snapshot, then the log after it) and a catch-up (the log after the last applied sequence).
"""

from __future__ import annotations

import logging
import time

from segmentdb import errors
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment import INITIAL_CAPACITY, Segment

log = logging.getLogger(__name__)


def rebuild(params: SegmentParams, client: MetadataClient, capacity: int = INITIAL_CAPACITY,
            timeout: float | None = None) -> Segment:
    """A new segment holding every live vector of the collection, caught up with the log.

    `capacity` sizes the index up front (the caller counted the records to reserve memory
    for them); pages are added as they arrive, so the transient memory is one page rather
    than a copy of the whole collection. Records written between the count and the scan grow
    the index by resize. Raises LogPurged if the log is purged past the scan's snapshot while
    we read it (the caller retries)."""
    started = time.monotonic()
    segment = Segment.create(params, capacity=max(INITIAL_CAPACITY, capacity))
    snapshot: int | None = None
    for page in client.scan_vectors(params.collection_id, params.dimension, timeout=timeout):
        snapshot = page.snapshot_sequence
        if len(page.labels) == 0:
            continue
        if page.vectors.shape != (len(page.labels), params.dimension):
            raise errors.InternalError(
                f"ScanVectors({params.collection_id}): got vectors of shape {page.vectors.shape} "
                f"for {len(page.labels)} labels; the collection's dimension is {params.dimension}")
        segment.apply(page.labels, page.vectors)
    # The metadata worker sends at least one message (with the snapshot) even for an empty
    # collection; without one, replaying the whole log is the fallback.
    segment.applied_sequence = snapshot or 0
    catch_up(segment, client, None, timeout=timeout)
    log.info("segment %s: rebuilt %d vectors (snapshot %s, applied %d) in %.2fs",
             params.segment_id, segment.live_count, snapshot, segment.applied_sequence,
             time.monotonic() - started)
    return segment


def catch_up(segment: Segment, client: MetadataClient, target: int | None,
             timeout: float | None = None) -> int:
    """Apply the log after segment.applied_sequence (through `target`, or to its end when
    target is None). Returns the entries applied. One caller at a time per segment.

    Raises LogPurged (nothing of that page applied) when entries after the segment's
    position were purged: the segment must be rebuilt, never patched with a gap."""
    if target is not None and segment.applied_sequence >= target:
        return 0
    applied = 0
    with segment.catch_up_lock:
        if target is not None and segment.applied_sequence >= target:
            return 0  # another request caught up while we waited
        for page in client.read_log(segment.params.collection_id, segment.applied_sequence,
                                    segment.params.dimension, timeout=timeout):
            applied += segment.apply_log(page.sequences, page.operations, page.labels,
                                         page.vectors, page.read_through)
        segment.caught_up_at = time.monotonic()  # read_log reads to the log's end
    if target is not None and segment.applied_sequence < target:
        log.warning("segment %s: the log ends at %d, before the requested sequence %d",
                    segment.segment_id, segment.applied_sequence, target)
    return applied

