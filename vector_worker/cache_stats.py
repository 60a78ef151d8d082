"""The segment cache's counters and their conversion to segmentdb.v1.WorkerStats."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from segmentdb.v1 import admin_pb2
from vector_worker import process_memory

if TYPE_CHECKING:  # segment_cache imports this module
    from vector_worker.segment_cache import SegmentCache


@dataclass
class CacheCounters:
    hits: int = 0  # requests that found their segment loaded
    misses: int = 0  # requests that had to load it (or wait for another request's load)
    loads: int = 0  # loaded from a folder
    rebuilds: int = 0  # built from the metadata worker
    evictions: int = 0  # unloaded for the budget or the idle TTL
    persists: int = 0  # saves to the segment's folder
    load_seconds_total: float = 0.0  # loads and rebuilds
    load_seconds_max: float = 0.0

    def record_load(self, seconds: float) -> None:
        self.load_seconds_total += seconds
        self.load_seconds_max = max(self.load_seconds_max, seconds)

    def copy(self) -> "CacheCounters":
        return dataclasses.replace(self)


def worker_stats(cache: "SegmentCache") -> admin_pb2.WorkerStats:
    """WorkerStats of this process (address and reachable are the gateway's to fill)."""
    counters, loaded = cache.snapshot()
    rss, peak = process_memory.resident_bytes()
    return admin_pb2.WorkerStats(
        memory_budget_bytes=cache.memory_budget,
        loaded_bytes=sum(item.bytes for item in loaded),
        resident_bytes=rss,
        peak_resident_bytes=peak,
        hits=counters.hits,
        misses=counters.misses,
        loads=counters.loads,
        rebuilds=counters.rebuilds,
        evictions=counters.evictions,
        persists=counters.persists,
        load_seconds_total=counters.load_seconds_total,
        load_seconds_max=counters.load_seconds_max,
        idle_ttl_seconds=cache.idle_ttl,
        segments=[admin_pb2.SegmentStats(
            segment_id=item.segment.segment_id,
            collection_id=item.segment.params.collection_id,
            bytes=item.bytes,
            live_count=item.segment.live_count,
            dimension=item.segment.params.dimension,
            pinned=item.pinned,
            idle_seconds=item.idle_seconds,
            applied_sequence=item.segment.applied_sequence,
            persisted_sequence=item.segment.persisted_sequence,
            ef_search=item.segment.params.ef_search,
        ) for item in loaded],
    )
