"""The vector worker's segment cache as Prometheus metrics, read at scrape time from the
cache's own counters (SegmentCache.snapshot), so nothing is counted twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from segmentdb import prometheus_metrics as metrics

if TYPE_CHECKING:
    from vector_worker.segment_cache import SegmentCache

_COUNTERS = [
    # (name without _total, help, CacheCounters field)
    ("segmentdb_segment_cache_hits", "Requests that found their segment loaded.", "hits"),
    ("segmentdb_segment_cache_misses", "Requests that had to load their segment (or wait for "
     "another request's load).", "misses"),
    ("segmentdb_segment_cache_loads", "Segments loaded from their folder.", "loads"),
    ("segmentdb_segment_cache_rebuilds", "Segments rebuilt from the metadata worker.",
     "rebuilds"),
    ("segmentdb_segment_cache_evictions", "Segments unloaded for the memory budget or the "
     "idle TTL.", "evictions"),
    ("segmentdb_segment_cache_persists", "Segment saves to their folder.", "persists"),
    ("segmentdb_segment_cache_load_seconds", "Seconds spent loading and rebuilding segments.",
     "load_seconds_total"),
]


def register(cache: "SegmentCache") -> metrics.ReadAtScrape:
    def build(read: bool):
        counters, loaded = cache.snapshot() if read else (None, [])
        for name, documentation, field in _COUNTERS:
            family = CounterMetricFamily(name, documentation)
            if counters is not None:
                family.add_metric([], getattr(counters, field))
            yield family
        gauges = [
            ("segmentdb_segment_cache_loaded_bytes", "Bytes of the loaded segments (index at "
             "capacity plus the float32 mirror), as counted against the budget.",
             sum(item.bytes for item in loaded)),
            ("segmentdb_segment_cache_budget_bytes", "The memory budget (0 = unlimited).",
             cache.memory_budget),
            ("segmentdb_segment_cache_loaded_segments", "Segments loaded now.", len(loaded)),
            ("segmentdb_segment_cache_pinned_segments", "Loaded segments pinned (never "
             "evicted).", sum(1 for item in loaded if item.pinned)),
        ]
        for name, documentation, value in gauges:
            family = GaugeMetricFamily(name, documentation)
            if counters is not None:
                family.add_metric([], value)
            yield family

    return metrics.register("segment_cache", metrics.ReadAtScrape(build))
