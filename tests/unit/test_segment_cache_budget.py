"""The segment cache's budget, pins, idle TTL and counters, on real hnswlib segments saved to
real folders. Segments are saved up front, so the cache loads them from disk and never needs
the metadata worker: its client points at a closed port (ReportPersisted then fails, which
must only be logged).
"""

from __future__ import annotations

import json
import logging
import socket
import time

import numpy as np
import pytest

from vector_worker import cache_stats, memory, process_memory, segment_files
from vector_worker.convert import SegmentParams
from vector_worker.idle_reaper import IdleReaper
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment import Segment
from vector_worker.segment_cache import SegmentCache

DIM = 8
# Each saved segment below: capacity 1024 -> memory.segment_bytes ~= 3.07 MB.
SEGMENT_BYTES = memory.segment_bytes(DIM, 16, 1024)


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture()
def client():
    c = MetadataClient(closed_address())
    yield c
    c.close()


def saved_segment(root, name: str, n: int = 100, capacity: int = 1024) -> SegmentParams:
    params = SegmentParams(f"seg-{name}", f"col-{name}", DIM, "l2", 16, 50, num_threads=1)
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    segment = Segment.create(params, capacity=capacity)
    segment.apply(np.arange(n), rng.standard_normal((n, DIM)).astype(np.float32),
                  through_sequence=n)
    segment_files.save(root, segment)
    return params


def test_lru_eviction_keeps_loaded_bytes_within_the_budget(tmp_path, client):
    names = "abcde"
    params = {n: saved_segment(tmp_path, n) for n in names}
    cache = SegmentCache(tmp_path, client, memory_budget=3 * SEGMENT_BYTES)
    for n in "abc":
        cache.get(params[n], 0)
    cache.get(params["a"], 0)  # b is now the least recently used
    cache.get(params["d"], 0)
    assert cache.loaded() == ["seg-c", "seg-a", "seg-d"]
    assert cache.loaded_bytes() <= 3 * SEGMENT_BYTES
    counters = cache.counters
    assert (counters.hits, counters.misses, counters.loads, counters.evictions) == (1, 4, 4, 1)


def test_eviction_saves_a_dirty_segment_first(tmp_path, client, caplog):
    a, b = saved_segment(tmp_path, "a"), saved_segment(tmp_path, "b")
    cache = SegmentCache(tmp_path, client, memory_budget=SEGMENT_BYTES + 1000)
    segment = cache.get(a, 0)
    segment.apply([500], np.ones((1, DIM), np.float32), through_sequence=501)
    with caplog.at_level(logging.WARNING):
        cache.get(b, 0)  # evicts a, which must be saved (its report fails: only logged)
    manifest = json.loads((segment_files.segment_folder(tmp_path, "seg-a") / "manifest.json").read_text())
    assert (manifest["applied_sequence"], manifest["live_count"]) == (501, 101)
    assert cache.loaded() == ["seg-b"] and cache.counters.persists == 1
    assert "reporting it to the metadata worker failed" in caplog.text
    reloaded = cache.get(a, 0)
    assert reloaded.live_count == 101 and reloaded.persisted_sequence == 501


def test_a_segment_larger_than_the_budget_is_served_alone_with_a_warning(tmp_path, client, caplog):
    small = saved_segment(tmp_path, "small")
    big = saved_segment(tmp_path, "big", n=3000, capacity=3000)
    budget = SEGMENT_BYTES + 100_000
    cache = SegmentCache(tmp_path, client, memory_budget=budget)
    cache.get(small, 0)
    with caplog.at_level(logging.WARNING):
        segment = cache.get(big, 0)
    assert cache.loaded() == ["seg-big"]
    assert segment.search(np.zeros((1, DIM), np.float32), 3)[0][0].size == 3
    size = memory.segment_bytes(DIM, 16, 3000)
    assert f"segment seg-big needs {size} bytes" in caplog.text
    assert f"memory budget of {budget} bytes" in caplog.text
    cache.get(small, 0)  # and it goes when something else is needed
    assert cache.loaded() == ["seg-small"]


def test_pinned_segments_are_never_evicted_even_beyond_the_budget(tmp_path, client, caplog):
    params = {n: saved_segment(tmp_path, n) for n in "abc"}
    cache = SegmentCache(tmp_path, client, memory_budget=SEGMENT_BYTES + 1000, idle_ttl=1.0)
    cache.pin(params["a"], 0)
    cache.pin(params["b"], 0)
    with caplog.at_level(logging.WARNING):
        cache.get(params["c"], 0)
    assert set(cache.loaded()) == {"seg-a", "seg-b", "seg-c"}
    assert "pinned segments hold" in caplog.text
    assert cache.evict_idle(now=time.monotonic() + 5) == 1  # only c: pins outlive the TTL
    assert set(cache.loaded()) == {"seg-a", "seg-b"}
    assert cache.release("seg-a") and not cache.release("seg-a")
    assert cache.loaded() == ["seg-b"]  # released and over budget: evicted at once
    stats = cache_stats.worker_stats(cache)
    assert [(s.segment_id, s.pinned) for s in stats.segments] == [("seg-b", True)]


def test_the_idle_reaper_thread_unloads_idle_segments_and_stops(tmp_path, client):
    a, b = saved_segment(tmp_path, "a"), saved_segment(tmp_path, "b")
    cache = SegmentCache(tmp_path, client, idle_ttl=0.3)
    reaper = IdleReaper(cache)
    reaper.start()
    try:
        cache.get(a, 0)
        cache.pin(b, 0)
        deadline = time.monotonic() + 5
        while cache.loaded() != ["seg-b"] and time.monotonic() < deadline:
            cache.get(b, 0)
            time.sleep(0.05)
        assert cache.loaded() == ["seg-b"]
        assert cache.counters.evictions == 1
    finally:
        reaper.stop()
    assert reaper._thread is None


def test_worker_stats_report_counters_segments_and_memory(tmp_path, client):
    a = saved_segment(tmp_path, "a")
    cache = SegmentCache(tmp_path, client, memory_budget=123_456_789, idle_ttl=60)
    cache.get(a, 0)
    cache.get(a, 0)
    stats = cache_stats.worker_stats(cache)
    assert (stats.memory_budget_bytes, stats.idle_ttl_seconds) == (123_456_789, 60)
    assert (stats.hits, stats.misses, stats.loads, stats.rebuilds) == (1, 1, 1, 0)
    assert stats.load_seconds_total >= stats.load_seconds_max > 0
    assert stats.loaded_bytes == SEGMENT_BYTES == stats.segments[0].bytes
    (seg,) = stats.segments
    assert (seg.segment_id, seg.collection_id, seg.live_count, seg.dimension) == ("seg-a", "col-a", 100, DIM)
    assert (seg.applied_sequence, seg.persisted_sequence, seg.pinned) == (100, 100, False)
    assert 0 < stats.resident_bytes <= stats.peak_resident_bytes


def test_resident_bytes_reads_proc_status_and_trimming_gives_memory_back():
    """(Whether a trim is needed is measured, not asserted here: see process_memory's
    docstring — it takes a 20,000 x 384 build, too slow for a unit test.)"""
    rss, peak = process_memory.resident_bytes()
    assert 10 << 20 < rss <= peak
    params = SegmentParams("big", "c", 1024, "l2", 4, 10, num_threads=1)
    segment = Segment.create(params, capacity=15_000)  # ~62 MB level-0 block
    segment.apply(np.arange(15_000), np.random.default_rng(1).standard_normal(
        (15_000, 1024)).astype(np.float32))
    loaded, _ = process_memory.resident_bytes()
    assert loaded > rss + (50 << 20)
    del segment
    process_memory.release_free_memory()
    after, peak_after = process_memory.resident_bytes()
    assert after < rss + (20 << 20) and peak_after >= loaded


def test_periodic_checkpoints_are_paced_by_the_last_save_time(tmp_path, client, monkeypatch):
    """After a save taking S seconds, sync_threshold checkpoints wait SAVE_PACING * S; an
    eviction or shutdown (persist) still saves at once."""
    from vector_worker import segment_cache

    import dataclasses

    params = dataclasses.replace(saved_segment(tmp_path, "paced"), sync_threshold=50)
    cache = SegmentCache(tmp_path, client)
    segment = cache.get(params, 0)
    rng = np.random.default_rng(5)

    def write(first: int) -> None:
        segment.apply(np.arange(first, first + 60), rng.standard_normal((60, DIM)).astype(
            np.float32), through_sequence=first + 60)

    monkeypatch.setattr(segment_cache, "SAVE_PACING", 1e6)  # any save: wait "forever"
    write(100)
    assert cache.checkpoint_if_due(segment)  # first periodic save: nothing to pace by
    write(200)
    assert segment.dirty >= params.sync_threshold
    assert not cache.checkpoint_if_due(segment)  # paced
    assert cache.persist(segment)  # what eviction and shutdown call: not paced
    monkeypatch.setattr(segment_cache, "SAVE_PACING", 0.0)
    write(300)
    cache._next_checkpoint.clear()  # as a pacing of 0 would have left it
    assert cache.checkpoint_if_due(segment)
