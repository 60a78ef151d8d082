"""Vector-worker failover with real processes: `segmentdb serve --vector-workers 3`.

A client queries continuously while the collection's owner (first in rendezvous order) is
killed (kill -9; serve restarts it on the same address) or hung (SIGSTOP, then SIGCONT).
Every answer must equal numpy's exact search; errors are allowed only in the first timeout
window after the fault; when the owner is back its segment goes back to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import segmentdb
from gateway.routing import parse_workers, rank_workers

DIMENSION = 16
RECORDS = 3000  # <= EXACT_SEARCH_MAX: the worker answers exactly, so ids must match numpy's
K = 10
# Errors are tolerated only this long after the fault (the gateway normally hides them all).
FIRST_WINDOW_SECONDS = 5.0


# ------------------------------------------------------------ helpers


def _children_argv(serve_pid: int):
    """The command line (argv list) of each living child of `serve`."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(serve_pid)],
                         capture_output=True, text=True).stdout
    for child in out.split():
        try:
            yield Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue  # exited meanwhile


def vector_workers(serve_pid: int, timeout: float = 30.0) -> dict[str, int]:
    """{address: pid} of the serve's vector workers, from their port files."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, int] = {}
        for argv in _children_argv(serve_pid):
            if "vector-worker" not in argv or "--port-file" not in argv:
                continue
            port_file = argv[argv.index("--port-file") + 1]
            if os.path.exists(port_file):
                with open(port_file) as fh:
                    info = json.load(fh)
                host = argv[argv.index("--host") + 1]
                address = host if host.startswith("unix:") else f"127.0.0.1:{info['port']}"
                found[address] = info["pid"]
        if len(found) == 3 or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def routing_names(serve_pid: int) -> dict[str, str]:
    """{address: name} the serve's gateway ranks its vector workers by (its --vector-workers)."""
    for argv in _children_argv(serve_pid):
        if "gateway" in argv and "--vector-workers" in argv:
            return parse_workers(argv[argv.index("--vector-workers") + 1])[1]
    raise AssertionError(f"no gateway among the children of {serve_pid}")


def vector_segment_id(data: Path, collection_id: str) -> str:
    with sqlite3.connect(f"file:{data / 'chroma.sqlite3'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'",
                           (collection_id,)).fetchone()
    return row[0]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


def worker_stats(client, address: str) -> dict:
    return next(w for w in client.stats()["workers"] if w["address"] == address)


def holds(client, address: str, collection_id: str) -> bool:
    stats = worker_stats(client, address)
    return any(s["collection_id"] == collection_id for s in stats["segments"])


@dataclass
class QueryLoop:
    """Queries in a thread until stopped; records (time, latency, outcome) of each."""

    address: str
    collection_name: str
    queries: np.ndarray
    expected: list[list[str]]
    outcomes: list[tuple[float, float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        client = segmentdb.Client(self.address, timeout=60)
        collection = client.get_collection(self.collection_name)
        i = 0
        while not self._stop.is_set():
            q = i % len(self.queries)
            started = time.monotonic()
            try:
                ids = collection.query(query_embeddings=self.queries[q:q + 1], n_results=K,
                                       include=[])["ids"][0]
                outcome = "ok" if ids == self.expected[q] else f"wrong: {ids} != {self.expected[q]}"
            except segmentdb.SegmentDBError as err:
                outcome = f"error: {type(err).__name__}: {err}"
            self.outcomes.append((started, time.monotonic() - started, outcome))
            i += 1
        client.close()

    def __enter__(self) -> "QueryLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(120)

    def successes_after(self, moment: float) -> int:
        return sum(1 for t, _, o in self.outcomes if t > moment and o == "ok")


@pytest.fixture()
def cluster(tmp_path, lifecycle):
    running = lifecycle.start_service(tmp_path / "data", vector_workers=3)
    try:
        yield from _cluster(running)
    finally:
        assert lifecycle.stop_service(running) == 0, running.log()


def _cluster(running):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((RECORDS, DIMENSION)).astype(np.float32)
    ids = [f"r{i}" for i in range(RECORDS)]
    with segmentdb.Client(running.address, timeout=60) as client:
        collection = client.create_collection("failover")
        collection.add(ids=ids, embeddings=data)
        collection_id = str(collection.id)
    queries = rng.standard_normal((40, DIMENSION)).astype(np.float32)
    distances = ((queries[:, None, :] - data[None, :, :]) ** 2).sum(axis=2)
    expected = [[ids[j] for j in np.argsort(row, kind="stable")[:K]] for row in distances]
    workers = vector_workers(running.process.pid)
    assert len(workers) == 3, running.log()
    owner = rank_workers(vector_segment_id(running.path, collection_id), list(workers),
                         routing_names(running.process.pid))[0]
    yield running, collection_id, queries, expected, workers, owner


def _assert_no_wrong_answers_and_errors_only_early(loop: QueryLoop, fault_at: float, log: str):
    wrong = [o for _, _, o in loop.outcomes if o.startswith("wrong")]
    assert not wrong, wrong[:3]
    late_errors = [(t - fault_at, o) for t, _, o in loop.outcomes
                   if o.startswith("error") and t > fault_at + FIRST_WINDOW_SECONDS]
    assert not late_errors, f"{late_errors[:3]}\n{log[-4000:]}"


# ------------------------------------------------------------ tests


def test_kill_9_the_owner_then_it_gets_its_segment_back(cluster):
    running, collection_id, queries, expected, workers, owner = cluster
    with segmentdb.Client(running.address, timeout=60) as client:
        loop = QueryLoop(running.address, "failover", queries, expected)
        with loop:
            wait_for(lambda: loop.successes_after(0) >= 5, what="first answers")
            assert holds(client, owner, collection_id)
            killed_at = time.monotonic()
            os.kill(workers[owner], signal.SIGKILL)
            wait_for(lambda: loop.successes_after(killed_at) >= 20, what="answers after the kill")
            wait_for(lambda: re.search(rf"vector-worker-\d restarted on {re.escape(owner)}",
                                       running.log()), what="the owner's restart")
            wait_for(lambda: f"vector worker {owner} is SERVING again" in running.log(),
                     what="the gateway marking the owner up")
            back_at = time.monotonic()
            wait_for(lambda: loop.successes_after(back_at) >= 20, what="answers after the return")
        _assert_no_wrong_answers_and_errors_only_early(loop, killed_at, running.log())

        # Ownership went back: the restarted owner (new pid, same address) loaded the segment.
        restarted = vector_workers(running.process.pid)
        assert restarted[owner] != workers[owner]
        wait_for(lambda: holds(client, owner, collection_id), timeout=10,
                 what="the owner holding the segment again")
        # serve logged the exit with its code and the restart delay.
        assert re.search(rf"vector-worker-\d \(pid {workers[owner]}\) was killed by SIGKILL "
                         rf"\(exit code -9\); restarting it on {re.escape(owner)} in \d+\.\ds",
                         running.log()), running.log()[-3000:]


def test_sigstop_the_owner_queries_keep_succeeding_then_it_serves_again(cluster):
    running, collection_id, queries, expected, workers, owner = cluster
    with segmentdb.Client(running.address, timeout=60) as client:
        loop = QueryLoop(running.address, "failover", queries, expected)
        with loop:
            wait_for(lambda: loop.successes_after(0) >= 5, what="first answers")
            assert holds(client, owner, collection_id)
            stopped_at = time.monotonic()
            os.kill(workers[owner], signal.SIGSTOP)
            try:
                wait_for(lambda: loop.successes_after(stopped_at) >= 20, timeout=30,
                         what="answers while the owner is stopped")
                assert f"vector worker {owner} marked down" in running.log()
            finally:
                os.kill(workers[owner], signal.SIGCONT)
            wait_for(lambda: f"vector worker {owner} is SERVING again" in running.log(),
                     what="the gateway marking the owner up")
            hits_before = worker_stats(client, owner)["hits"]
            back_at = time.monotonic()
            wait_for(lambda: loop.successes_after(back_at) >= 20, what="answers after SIGCONT")
        _assert_no_wrong_answers_and_errors_only_early(loop, stopped_at, running.log())
        # No error at all: a hung worker costs latency (about 3-4 s once), not failures.
        errors = [o for _, _, o in loop.outcomes if o.startswith("error")]
        assert not errors, errors[:3]
        slowest = max(latency for t, latency, _ in loop.outcomes if t >= stopped_at)
        assert slowest < 10, f"a query took {slowest:.1f}s while the owner was stopped"
        # Ownership went back: the owner serves the queries again.
        assert worker_stats(client, owner)["hits"] > hits_before
