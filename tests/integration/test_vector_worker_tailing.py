"""Background log tailing of a real vector worker process with a real metadata worker: once a
query has loaded a segment, later writes are applied and saved (and the log purged) with no
query; unloaded segments stay unloaded; shutdown still saves and exits 0; an unreachable
metadata worker is warned about once, not every tick; --tail-interval 0 turns it off.

Helpers (Process, Collection, search, oracle) come from test_vector_worker.py in this folder.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from segmentdb.v1 import collection_pb2, collection_service_pb2
from test_vector_worker import (DIM, TIMEOUT, Collection, Process, assert_oracle,
                                metadata_stub, search, segment_folder, vector_stub)

INTERVAL = 0.2
SYNC_THRESHOLD = 50
# Generous: a tick is one ReadLog per loaded segment; CI machines can be slow.
SETTLE = 15.0


class SmallSyncCollection(Collection):
    """A collection saved every SYNC_THRESHOLD applied records (the default is 1000)."""

    def __init__(self, metadata: Process, name: str):
        self.stub = metadata_stub(metadata)
        reply = self.stub.CreateCollection(collection_service_pb2.CreateCollectionRequest(
            name=name, configuration=collection_pb2.CollectionConfiguration(
                hnsw=collection_pb2.HnswConfiguration(
                    space=collection_pb2.SPACE_L2, sync_threshold=SYNC_THRESHOLD))),
            timeout=TIMEOUT)
        self.id = reply.collection.id
        self.space = collection_pb2.SPACE_L2
        self.model: dict[str, np.ndarray] = {}


def start(tmp_path, *flags: str) -> tuple[Process, Process]:
    metadata = Process("metadata_worker", ["--path", str(tmp_path / "data")], tmp_path).start()
    vector = Process("vector_worker", ["--path", str(tmp_path / "data"), "--metadata",
                                       metadata.address, *flags], tmp_path).start()
    return metadata, vector


@pytest.fixture()
def tailing(tmp_path):
    metadata, vector = start(tmp_path, "--tail-interval", str(INTERVAL))
    yield metadata, vector
    vector.stop()
    metadata.stop()


def worker_stats(vector: Process):
    return vector_stub(vector).GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(),
                                              timeout=TIMEOUT).stats


def segment_stats(vector: Process, col: Collection):
    found = [s for s in worker_stats(vector).segments if s.collection_id == col.id]
    assert len(found) == 1, worker_stats(vector)
    return found[0]


def log_entries(metadata: Process) -> int:
    return metadata_stub(metadata).GetStorageStats(
        metadata_service_pb2.GetStorageStatsRequest(), timeout=TIMEOUT).stats.log_entries


def add(col: Collection, prefix: str, n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    return col.add([f"{prefix}{j}" for j in range(n)], rng.standard_normal((n, DIM)))


def wait_for(condition, what: str, timeout: float = SETTLE):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def load(vector: Process, col: Collection, seed: int) -> np.ndarray:
    queries = np.random.default_rng(seed).standard_normal((3, DIM)).astype(np.float32)
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
    return queries


def test_writes_without_queries_are_applied_saved_and_purged(tailing, tmp_path):
    metadata, vector = tailing
    col = SmallSyncCollection(metadata, "tail-saved")
    add(col, "a", 100, 1)
    queries = load(vector, col, 2)  # rebuilt, saved and reported: its log purged
    unqueried = SmallSyncCollection(metadata, "tail-never-queried")
    add(unqueried, "u", 30, 3)
    assert log_entries(metadata) == 30

    last = 0
    for batch in range(3):  # 120 records: past sync_threshold, with no query
        last = add(col, f"b{batch}-", 40, 10 + batch)
    wait_for(lambda: segment_stats(vector, col).persisted_sequence == last,
             "the tailer applies and saves the segment")
    got = segment_stats(vector, col)
    assert got.applied_sequence == last and got.live_count == 220
    wait_for(lambda: log_entries(metadata) == 30, "the save's checkpoint purges the log")
    manifest = json.loads((segment_folder(tmp_path / "data", col) / "manifest.json").read_text())
    assert manifest["applied_sequence"] == last

    # Below sync_threshold: applied, not saved (the log keeps those entries).
    small = add(col, "c", 10, 20)
    wait_for(lambda: segment_stats(vector, col).applied_sequence == small,
             "the tailer applies a small write")
    time.sleep(3 * INTERVAL)
    assert segment_stats(vector, col).persisted_sequence == last
    assert log_entries(metadata) == 40

    stats = worker_stats(vector)
    # Tailing is not a use, and it never loads what no query asked for.
    assert (stats.hits, stats.misses, stats.rebuilds, stats.loads) == (0, 1, 1, 0)
    assert [s.collection_id for s in stats.segments] == [col.id]
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
    assert worker_stats(vector).hits == 1


def test_shutdown_with_the_tailer_running_saves_and_exits_zero(tmp_path):
    metadata, vector = start(tmp_path, "--tail-interval", str(INTERVAL))
    try:
        col = SmallSyncCollection(metadata, "tail-shutdown")
        add(col, "a", 60, 1)
        queries = load(vector, col, 2)
        last = add(col, "b", 10, 3)  # below sync_threshold: only shutdown saves it
        wait_for(lambda: segment_stats(vector, col).applied_sequence == last,
                 "the tailer applies the write")
        assert segment_stats(vector, col).persisted_sequence < last
        vector.stop()  # asserts exit code 0
        manifest = json.loads((segment_folder(tmp_path / "data", col) /
                               "manifest.json").read_text())
        assert (manifest["applied_sequence"], manifest["live_count"]) == (last, 70)
        assert "persisted 1 segment(s)" in vector.log.read_text()
        assert log_entries(metadata) == 0  # the shutdown save was reported

        vector.start()  # loads what it saved, nothing to replay
        assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
        assert worker_stats(vector).rebuilds == 0
        vector.stop()
    finally:
        if vector.proc.poll() is None:
            vector.proc.kill()
        metadata.stop()


def test_an_unreachable_metadata_worker_is_warned_about_once(tmp_path):
    metadata, vector = start(tmp_path, "--tail-interval", "0.1")
    try:
        col = SmallSyncCollection(metadata, "tail-down")
        add(col, "a", 20, 1)
        load(vector, col, 2)
    finally:
        metadata.stop()
    try:
        time.sleep(2.0)  # ~20 ticks, every one failing
        text = vector.log.read_text()
        assert text.count("background catch-up with the log failed") == 1, text
        assert " WARNING " in text and "UnavailableError" in text
        assert worker_stats(vector).segments  # still serving, segment still loaded
    finally:
        vector.stop()  # exits 0: a failing tailer does not block shutdown


def test_tail_interval_zero_applies_nothing_until_a_query(tmp_path):
    metadata, vector = start(tmp_path, "--tail-interval", "0")
    try:
        col = SmallSyncCollection(metadata, "tail-off")
        first = add(col, "a", 60, 1)
        queries = load(vector, col, 2)
        last = add(col, "b", 120, 3)
        time.sleep(1.0)
        got = segment_stats(vector, col)
        assert (got.applied_sequence, got.persisted_sequence) == (first, first)
        assert log_entries(metadata) == 120
        assert "tail interval off" in vector.log.read_text()
        assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
        assert segment_stats(vector, col).applied_sequence == last
    finally:
        vector.stop()
        metadata.stop()
