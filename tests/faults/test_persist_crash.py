"""kill -9 the vector worker while it persists a large segment; it recovers and answers right.

One collection of 50,000 × 64 clustered vectors with sync_threshold 100: a client adds 200
records (plus some upserts and deletes) and queries, so almost every query ends with a
save of the whole ~20 MB index. Each round kills the worker at one of three moments:
  - while hnswlib writes the index (`hnsw_index.bin.tmp-<pid>` exists),
  - after the data files are written, before the manifest commits the save
    (`manifest.json.tmp-<pid>` exists),
  - at a random moment of the write/query loop.
After serve restarts it, the very next query must answer right — filtered queries (≤ 4096
candidates: exact) equal numpy over SQLite; unfiltered recall ≥ 0.95 — within a deadline (no
stuck worker), and the new worker's log shows a normal load or a rebuild, never an error.

Polling for the temp files is the only hook: the instant between two `os.replace`s (index
replaced, manifest not yet) can't be hit this way; test_index_damage builds that state by hand.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import closing

import numpy as np
import pytest

import fault_processes as processes
import segmentdb
from fault_checks import RECALL_MIN, first_answer
from fault_oracle import assert_exact_answers, exact_l2, read_collection, recall

N, DIM, CLUSTERS, BUCKETS = 50_000, 64, 1000, 16  # 50k / 16 buckets: each ≤ 4096 → exact
NAME = "big"
ROUNDS = ("index-being-written", "manifest-being-written", "random", "index-being-written")
# Rebuilding 50k × 64 takes ~7 s on 2 cores; a worker that needs far longer is stuck.
RECOVERY_DEADLINE = 90.0


class Data:
    """Clustered vectors (HNSW recall on them is ~1.0 at the default ef, so a recall drop
    means a broken index, not a hard data set)."""

    def __init__(self, seed: int = 3):
        self.rng = np.random.default_rng(seed)
        self.centers = self.rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)

    def vectors(self, n: int) -> np.ndarray:
        picks = self.rng.integers(CLUSTERS, size=n)
        return (self.centers[picks] + 0.35 * self.rng.standard_normal((n, DIM))).astype(np.float32)


class Churn(threading.Thread):
    """Adds, upserts, deletes and queries until stopped; failures are expected (the kill).
    After MAX_WRITE_STEPS steps it only queries, so buckets stay on the exact path."""

    MAX_WRITE_STEPS = 10  # × 200 adds per round

    def __init__(self, address: str, data: Data, first_id: int, stop: threading.Event):
        super().__init__(name="churn", daemon=True)
        self.address, self.data, self.next_id, self.stop_event = address, data, first_id, stop
        self.rng = np.random.default_rng(first_id)
        self.ok = self.failed = 0

    def run(self) -> None:
        with closing(segmentdb.Client(self.address, timeout=20.0)) as client:
            collection = client.get_collection(NAME)
            while not self.stop_event.is_set():
                try:
                    if self.ok < self.MAX_WRITE_STEPS:
                        self._step(collection)
                    else:
                        collection.query(query_embeddings=self.data.vectors(3), n_results=5)
                        time.sleep(0.05)
                    self.ok += 1
                except segmentdb.errors.SegmentDBError:
                    self.failed += 1
                    time.sleep(0.05)

    def _step(self, collection) -> None:
        ids = [str(i) for i in range(self.next_id, self.next_id + 200)]
        self.next_id += 200
        collection.add(ids=ids, embeddings=self.data.vectors(200),
                       metadatas=[{"bucket": int(i) % BUCKETS} for i in ids])
        existing = [str(i) for i in self.rng.integers(0, N, size=30)]
        collection.upsert(ids=existing[:20], embeddings=self.data.vectors(20),
                          metadatas=[{"bucket": int(i) % BUCKETS} for i in existing[:20]])
        collection.delete(ids=existing[20:])
        collection.query(query_embeddings=self.data.vectors(3), n_results=5)


def _wait_and_kill(folder, pid: int, mode: str, rng: np.random.Generator) -> str:
    """SIGKILL `pid` at the moment `mode` names; returns what was seen when it died."""
    if mode == "random":
        time.sleep(float(rng.uniform(0.0, 1.5)))
        seen = sorted(os.listdir(folder)) if folder.exists() else []
        processes.kill9(pid)
        return f"random moment, folder: {seen}"
    wanted = {"index-being-written": f"hnsw_index.bin.tmp-{pid}",
              "manifest-being-written": f"manifest.json.tmp-{pid}"}[mode]
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        try:
            if wanted in os.listdir(folder):
                processes.kill9(pid)
                return f"killed with {wanted} present"
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    processes.kill9(pid)
    return f"MISSED: {wanted} never appeared in 20s"


def _check_answers(address: str, data_path, data: Data, rng: np.random.Generator) -> float:
    """The first query after a restart (it loads or rebuilds the segment) answers right."""
    stored = read_collection(data_path, NAME)
    with closing(segmentdb.Client(address, timeout=RECOVERY_DEADLINE)) as client:
        collection = client.get_collection(NAME)
        for bucket in rng.choice(BUCKETS, size=3, replace=False):
            queries = data.vectors(8)
            started = time.monotonic()
            got = first_answer(lambda: collection.query(
                query_embeddings=queries, n_results=10, where={"bucket": int(bucket)},
                include=["distances"]))
            assert time.monotonic() - started < RECOVERY_DEADLINE
            rows = [i for i, meta in enumerate(stored.metadatas) if meta == {"bucket": int(bucket)}]
            subset = _subset(stored, rows)
            assert len(rows) <= 4096, "a bucket outgrew the exact path; use more buckets"
            assert_exact_answers(got, subset, queries, 10)
        queries = data.vectors(40)
        got = collection.query(query_embeddings=queries, n_results=10)
        want, _ = exact_l2(stored.vectors, stored.ids, queries, 10)
        value = recall(got["ids"], want)
        assert value >= RECALL_MIN, f"recall {value:.3f} over {len(stored.ids)} records"
        return value


def _subset(stored, rows):
    from dataclasses import replace

    return replace(stored, ids=[stored.ids[r] for r in rows], vectors=stored.vectors[rows])


def test_kill9_vector_worker_while_it_persists_a_large_segment(tmp_path, services):
    data_path = tmp_path / "data"
    service = services.start(data_path, vector_workers=1)
    serve_pid = service.process.pid
    data = Data()
    rng = np.random.default_rng(11)
    with closing(segmentdb.Client(service.address, timeout=120.0)) as client:
        collection = client.create_collection(NAME, configuration={"hnsw": {"sync_threshold": 100}})
        for start in range(0, N, 25_000):
            collection.add(ids=[str(i) for i in range(start, start + 25_000)],
                           embeddings=data.vectors(25_000),
                           metadatas=[{"bucket": i % BUCKETS} for i in range(start, start + 25_000)])
    _check_answers(service.address, data_path, data, rng)  # builds and saves the segment
    folder = data_path / "index" / read_collection(data_path, NAME).vector_segment_id

    next_id, report = N, []
    for round_number, mode in enumerate(ROUNDS):
        worker = processes.wait_for_roles(serve_pid, {"vector-worker-1"})["vector-worker-1"]
        stop = threading.Event()
        churn = Churn(service.address, data, next_id, stop)
        churn.start()
        try:
            seen = _wait_and_kill(folder, worker, mode, rng)
        finally:
            stop.set()
            churn.join(timeout=60)
        next_id = churn.next_id
        new_worker = processes.wait_for_replacement(serve_pid, "vector-worker-1", worker)
        value = _check_answers(service.address, data_path, data, rng)
        lines = processes.log_lines_of(service.log(), new_worker)
        outcome = _recovery_outcome(lines)
        report.append(f"round {round_number} {mode}: {seen}; churn {churn.ok} ok/{churn.failed} "
                      f"failed; then {outcome}, recall {value:.3f}")
    print("\n".join(report))
    assert not [line for line in report if "MISSED" in line], "\n".join(report)
    assert services.stop(service) == 0, service.log()[-4000:]


def _recovery_outcome(lines: list[str]) -> str:
    """'rebuilt' or 'loaded' from the new worker's log lines; fails on errors."""
    text = "\n".join(lines)
    assert "Traceback" not in text and " ERROR " not in text, text
    if "will be rebuilt" in text:
        assert "rebuilt" in text.replace("will be rebuilt", ""), (
            f"the worker found an invalid segment folder but logged no rebuild:\n{text}")
    if "rebuilt" in text.replace("will be rebuilt", ""):
        return "rebuilt"
    # segment_files logs every load: "segment <id>: loaded N vectors (applied S) from ...".
    assert ": loaded" in text, f"the worker neither rebuilt nor logged a load:\n{text}"
    return "loaded"


def test_a_save_killed_midway_leaves_no_temp_files_after_the_next_save(tmp_path, services):
    data_path = tmp_path / "data"
    service = services.start(data_path, vector_workers=1)
    serve_pid = service.process.pid
    data = Data(seed=5)
    with closing(segmentdb.Client(service.address, timeout=120.0)) as client:
        collection = client.create_collection(NAME, configuration={"hnsw": {"sync_threshold": 100}})
        collection.add(ids=[str(i) for i in range(20_000)], embeddings=data.vectors(20_000),
                       metadatas=[{"bucket": i % BUCKETS} for i in range(20_000)])
        collection.query(query_embeddings=data.vectors(1))  # rebuild + first save
    folder = data_path / "index" / read_collection(data_path, NAME).vector_segment_id
    worker = processes.wait_for_roles(serve_pid, {"vector-worker-1"})["vector-worker-1"]
    stop = threading.Event()
    churn = Churn(service.address, data, 20_000, stop)
    churn.start()
    try:
        seen = _wait_and_kill(folder, worker, "index-being-written", np.random.default_rng(1))
    finally:
        stop.set()
        churn.join(timeout=60)
    assert "MISSED" not in seen, seen
    processes.wait_for_replacement(serve_pid, "vector-worker-1", worker)
    _check_answers(service.address, data_path, data, np.random.default_rng(2))
    assert services.stop(service) == 0, service.log()[-4000:]  # saves the segment again
    leftovers = sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)
    assert not leftovers, f"temp files of the killed save are still in {folder}: {leftovers}"
