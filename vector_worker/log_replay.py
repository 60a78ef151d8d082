"""Bringing a segment up to date from the metadata worker: a full rebuild (ScanVectors at a
snapshot, then the log after it) and a catch-up (the log after the last applied sequence).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from segmentdb import errors
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment import INITIAL_CAPACITY, Segment

log = logging.getLogger(__name__)


def rebuild(params: SegmentParams, client: MetadataClient,
            timeout: float | None = None) -> Segment:
    """A new segment holding every live vector of the collection, caught up with the log."""
    started = time.monotonic()
    label_pages: list[np.ndarray] = []
    vector_pages: list[np.ndarray] = []
    snapshot = 0
    for page in client.scan_vectors(params.collection_id, timeout=timeout):
        snapshot = page.snapshot_sequence
        if len(page.labels) == 0:
            continue
        if page.vectors.shape != (len(page.labels), params.dimension):
            raise errors.InternalError(
                f"ScanVectors({params.collection_id}): got vectors of shape {page.vectors.shape} "
                f"for {len(page.labels)} labels; the collection's dimension is {params.dimension}")
        label_pages.append(page.labels)
        vector_pages.append(page.vectors)
    total = sum(len(labels) for labels in label_pages)
    # Size the index for the scan at once: one multi-threaded add_items, no resizes.
    segment = Segment.create(params, capacity=max(INITIAL_CAPACITY, total))
    if total:
        segment.apply(np.concatenate(label_pages), np.concatenate(vector_pages))
    # A scan with no messages tells no snapshot: replaying the whole log is then correct.
    segment.applied_sequence = snapshot
    catch_up(segment, client, None, timeout=timeout)
    log.info("segment %s: rebuilt %d vectors (snapshot %d, applied %d) in %.2fs",
             params.segment_id, segment.live_count, snapshot, segment.applied_sequence,
             time.monotonic() - started)
    return segment


def catch_up(segment: Segment, client: MetadataClient, target: int | None,
             timeout: float | None = None) -> int:
    """Apply the log after segment.applied_sequence (through `target`, or to its end when
    target is None). Returns the entries applied. One caller at a time per segment."""
    if target is not None and segment.applied_sequence >= target:
        return 0
    applied = 0
    with segment.catch_up_lock:
        if target is not None and segment.applied_sequence >= target:
            return 0  # another request caught up while we waited
        for page in client.read_log(segment.params.collection_id, segment.applied_sequence,
                                    timeout=timeout):
            applied += segment.apply_log(page.sequences, page.operations, page.labels,
                                         page.vectors, page.read_through)
    if target is not None and segment.applied_sequence < target:
        log.warning("segment %s: the log ends at %d, before the requested sequence %d",
                    segment.segment_id, segment.applied_sequence, target)
    return applied
