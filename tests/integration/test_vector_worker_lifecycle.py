"""The segment lifecycle of a real vector worker process under a memory budget, with a real
metadata worker: LRU eviction and reload (answers stay exact), GetWorkerStats counters, pin
and release, RebuildSegment, idle eviction, and a purged log forcing a rebuild.

Helpers (Process, Collection, search, oracle) come from test_vector_worker.py in this folder.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from test_vector_worker import (DIM, TIMEOUT, Collection, Process, assert_oracle, search,
                                vector_stub)
from vector_worker import memory

# Segments of 300 x 16 have capacity 1024: ~3.1 MB each; the budget holds two.
SEGMENT_BYTES = memory.segment_bytes(DIM, 16, 1024)
BUDGET = 2 * SEGMENT_BYTES + 500_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    data = tmp / "data"
    metadata = Process("metadata_worker", ["--path", str(data)], tmp).start()
    # No background tailing: these tests need a loaded copy that lags the log until queried
    # (test_vector_worker_tailing.py covers tailing).
    vector = Process("vector_worker", ["--path", str(data), "--metadata", metadata.address,
                                       "--memory-budget", str(BUDGET), "--tail-interval", "0"],
                     tmp).start()
    rng = np.random.default_rng(21)
    collections = []
    for i in range(4):
        col = Collection(metadata, f"life-{i}")
        col.add([f"c{i}-{j}" for j in range(300)], rng.standard_normal((300, DIM)))
        collections.append(col)
    yield metadata, vector, data, collections
    vector.stop()
    metadata.stop()


def stats(vector: Process):
    return vector_stub(vector).GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(),
                                              timeout=TIMEOUT).stats


def loaded(vector: Process) -> dict[str, bool]:
    return {s.collection_id: s.pinned for s in stats(vector).segments}


def check(vector: Process, col: Collection, queries: np.ndarray) -> None:
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))


def test_eviction_and_reload_keep_answers_exact_and_counters_add_up(cluster):
    metadata, vector, data, cols = cluster
    queries = np.random.default_rng(22).standard_normal((4, DIM)).astype(np.float32)
    for col in cols + [cols[0]]:  # 0, 1 rebuilt; 2, 3 rebuilt evicting 0, 1; 0 loaded
        check(vector, col, queries)
        assert stats(vector).loaded_bytes <= BUDGET
    check(vector, cols[0], queries)  # a hit
    got = stats(vector)
    assert (got.hits, got.misses, got.rebuilds, got.loads, got.evictions) == (1, 5, 4, 1, 3)
    assert got.persists >= 4  # every rebuild is saved
    assert got.memory_budget_bytes == BUDGET and got.idle_ttl_seconds == 0
    assert [s.collection_id for s in got.segments] == [cols[3].id, cols[0].id]  # LRU first
    assert got.load_seconds_total >= got.load_seconds_max > 0
    assert 0 < got.resident_bytes <= got.peak_resident_bytes
    for seg in got.segments:
        assert seg.live_count == 300 and seg.dimension == DIM and not seg.pinned
        assert seg.applied_sequence == seg.persisted_sequence > 0
    assert "evicted" in vector.log.read_text()


def test_pinned_segments_stay_loaded_and_release_lets_them_go(cluster):
    metadata, vector, data, cols = cluster
    queries = np.random.default_rng(23).standard_normal((2, DIM)).astype(np.float32)
    stub = vector_stub(vector)
    for col in cols[1:3]:
        prepared = col.prepare()
        stub.PinSegment(vector_service_pb2.PinSegmentRequest(
            segment=prepared.segment, min_sequence=prepared.log_sequence), timeout=TIMEOUT)
    check(vector, cols[3], queries)  # pins fill the budget: served beside them anyway
    check(vector, cols[0], queries)
    assert loaded(vector) == {cols[1].id: True, cols[2].id: True, cols[0].id: False}
    assert "pinned segments hold" in vector.log.read_text()
    stub.ReleaseSegment(vector_service_pb2.ReleaseSegmentRequest(
        segment_id=cols[1].prepare().segment.segment_id), timeout=TIMEOUT)
    stub.ReleaseSegment(vector_service_pb2.ReleaseSegmentRequest(
        segment_id=cols[2].prepare().segment.segment_id), timeout=TIMEOUT)
    check(vector, cols[3], queries)
    assert set(loaded(vector)) <= {cols[0].id, cols[2].id, cols[3].id}
    assert not any(loaded(vector).values())
    assert stats(vector).loaded_bytes <= BUDGET


def test_rebuild_segment_replaces_the_folder(cluster):
    metadata, vector, data, cols = cluster
    segment_id = cols[2].prepare().segment.segment_id
    index = data / "index" / segment_id / "hnsw_index.bin"
    before = index.stat().st_mtime_ns
    reply = vector_stub(vector).RebuildSegment(vector_service_pb2.RebuildSegmentRequest(
        segment=cols[2].prepare().segment), timeout=TIMEOUT)
    assert reply.live_count == 300 and reply.seconds > 0
    assert index.stat().st_mtime_ns != before
    queries = np.random.default_rng(24).standard_normal((2, DIM)).astype(np.float32)
    check(vector, cols[2], queries)


def test_a_purged_log_forces_a_rebuild_with_exact_answers(cluster):
    metadata, vector, data, cols = cluster
    col = cols[0]
    queries = np.random.default_rng(25).standard_normal((3, DIM)).astype(np.float32)
    check(vector, col, queries)  # loaded, applied through the current position
    rng = np.random.default_rng(26)
    col.add([f"late{j}" for j in range(40)], rng.standard_normal((40, DIM)))
    col.delete([f"c0-{j}" for j in range(20)])
    col.upsert(["late0"], queries[:1])
    prepared = col.prepare()
    # As if another worker saved the segment through the end and the log was purged: this
    # worker's copy has missed those entries and must not patch over the gap.
    col.stub.ReportPersisted(metadata_service_pb2.ReportPersistedRequest(
        segment_id=prepared.segment.segment_id, collection_id=col.id,
        applied_sequence=prepared.log_sequence), timeout=TIMEOUT)
    results = search(vector, col, queries, 10)
    assert results[0][0][0] == "late0"
    assert_oracle(results, col.oracle(queries, 10))
    text = vector.log.read_text()
    assert "the log was purged through" in text and "rebuilding it from the metadata" in text


def test_a_copy_left_behind_by_a_purge_reloads_what_another_worker_saved(cluster, tmp_path):
    """Two workers on one folder: B saves the segment further and the log is purged; A's
    in-memory copy has missed entries, so A reloads B's folder (no rebuild needed)."""
    metadata, vector, data, cols = cluster
    col = cols[3]
    queries = np.random.default_rng(28).standard_normal((3, DIM)).astype(np.float32)
    check(vector, col, queries)  # A holds the segment
    col.add([f"more{j}" for j in range(30)], np.random.default_rng(29).standard_normal((30, DIM)))
    col.upsert(["more0"], queries[:1])
    other = Process("vector_worker", ["--path", str(data), "--metadata", metadata.address],
                    tmp_path).start()
    try:
        check(other, col, queries)
    finally:
        other.stop()  # saves the segment through the log's end and reports it: log purged
    before = len(vector.log.read_text())
    results = search(vector, col, queries, 10)
    assert results[0][0][0] == "more0"
    assert_oracle(results, col.oracle(queries, 10))
    text = vector.log.read_text()[before:]
    assert "reloading it from its folder" in text and "rebuilding" not in text, text


def test_idle_segments_are_unloaded_after_the_ttl(cluster, tmp_path):
    metadata, _, data, cols = cluster
    idle = Process("vector_worker", ["--path", str(data), "--metadata", metadata.address,
                                     "--idle-ttl", "0.5"], tmp_path).start()
    try:
        queries = np.random.default_rng(27).standard_normal((2, DIM)).astype(np.float32)
        check(idle, cols[1], queries)
        assert len(stats(idle).segments) == 1
        deadline = time.monotonic() + 10
        while stats(idle).segments and time.monotonic() < deadline:
            time.sleep(0.1)
        got = stats(idle)
        assert (len(got.segments), got.evictions, got.idle_ttl_seconds) == (0, 1, 0.5)
        check(idle, cols[1], queries)  # and it comes back on demand
    finally:
        idle.stop()
