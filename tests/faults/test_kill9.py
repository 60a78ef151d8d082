"""kill -9 one process of `segmentdb serve` while four clients write; nothing acknowledged is
lost, nothing failed is half applied, queries match exact search over SQLite.

Per victim (metadata worker, the vector worker serving the exact-path collection, gateway):
four writer threads add/upsert/delete their own ids in two collections ("small", exact path;
"large", > 4096 records, HNSW) and a reader queries both. Once a third of the work is
acknowledged the victim gets SIGKILL; serve restarts it; the writers go on until each has
its fixed number of acknowledged calls. Then SQLite (read-only), the SDK and queries are
checked against the writers' ledgers (see fault_writers.py).

Killing `serve` itself: its children must exit (PDEATHSIG), and a new serve on the folder
starts and serves every acknowledged write.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import fault_processes as processes
import segmentdb
from fault_checks import verify
from gateway.routing import parse_workers, rank_workers
from fault_oracle import read_collection
from fault_writers import Record, Writer, expected_state

DIM = 16
SMALL, LARGE = "small", "large"
LARGE_PREFILL = 4200  # > EXACT_SEARCH_MAX: the large collection is searched with HNSW
WRITERS = 4
TARGET = 40  # acknowledged calls per writer
# Small sync_threshold: vector workers save segments often, so kills land around saves too.
CONFIG = {"hnsw": {"sync_threshold": 50, "batch_size": 50}}


def _prefill(address: str) -> dict:
    rng = np.random.default_rng(7)
    records = {}
    for i in range(LARGE_PREFILL):
        records[f"pre-{i}"] = Record(rng.standard_normal(DIM).astype(np.float32),
                                     f"prefilled {i}", {"prefill": i})
    with closing(segmentdb.Client(address)) as client:
        client.create_collection(SMALL, configuration=CONFIG)
        large = client.create_collection(LARGE, configuration=CONFIG)
        ids = list(records)
        large.add(ids=ids, embeddings=np.stack([records[i].vector for i in ids]),
                  documents=[records[i].document for i in ids],
                  metadatas=[records[i].metadata for i in ids])
    return records


class Reader(threading.Thread):
    """Queries both collections in a loop (loads segments, drives saves); counts outcomes."""

    def __init__(self, address: str, stop: threading.Event):
        super().__init__(name="reader", daemon=True)
        self.address, self.stop_event = address, stop
        self.ok = self.failed = 0

    def run(self) -> None:
        rng = np.random.default_rng(99)
        with closing(segmentdb.Client(self.address, timeout=15.0)) as client:
            while not self.stop_event.is_set():
                for name in (SMALL, LARGE):
                    try:
                        client.get_collection(name).query(
                            query_embeddings=rng.standard_normal((4, DIM)).astype(np.float32),
                            n_results=5)
                        self.ok += 1
                    except segmentdb.errors.SegmentDBError:
                        self.failed += 1
                        time.sleep(0.05)
                time.sleep(0.02)


def _start_clients(address: str) -> tuple[list[Writer], Reader, threading.Event]:
    stop = threading.Event()
    writers = [Writer(n, address, [SMALL, LARGE], DIM, TARGET, stop, exact_collections={SMALL})
               for n in range(WRITERS)]
    reader = Reader(address, stop)
    for thread in [*writers, reader]:
        thread.start()
    return writers, reader, stop


def _wait_for_progress(writers: list[Writer], fraction: float, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    goal = fraction * WRITERS * TARGET
    while sum(w.ledger.acknowledged for w in writers) < goal:
        assert time.monotonic() < deadline, "writers made no progress before the kill"
        assert all(w.is_alive() or w.crash is None for w in writers), [w.crash for w in writers]
        time.sleep(0.02)


def _finish(writers: list[Writer], reader: Reader, stop: threading.Event) -> None:
    for writer in writers:
        writer.join(timeout=150)
    stop.set()
    reader.join(timeout=30)
    crashes = [w.crash for w in writers if w.crash]
    assert not crashes, crashes[0]


def _vector_worker_serving(serve_pid: int, data: Path, collection: str) -> str:
    """The role of the vector worker that rendezvous hashing picks for `collection`."""
    by_role = processes.roles(serve_pid)
    addresses, names = parse_workers(processes.flag(by_role["gateway"], "--vector-workers"))
    segment = read_collection(data, collection).vector_segment_id
    best = rank_workers(segment, addresses, names)[0]
    for role, pid in by_role.items():
        if role.startswith("vector-worker") and processes.address(pid) == best:
            return role
    raise AssertionError(f"no vector worker listens on {best}: {by_role}")


def _summary(writers: list[Writer], reader: Reader) -> str:
    failed = [b for w in writers for b in w.ledger.failed]
    kinds = {k: sum(b.kind == k for b in failed) for k in ("add", "upsert", "delete")}
    return (f"acknowledged {sum(w.ledger.acknowledged for w in writers)}, failed {kinds}, "
            f"read-your-writes queries {sum(w.ledger.queries_ok for w in writers)} ok / "
            f"{sum(w.ledger.queries_failed for w in writers)} failed, reader "
            f"{reader.ok} ok / {reader.failed} failed")


def _verify_everything(address: str, data: Path, writers: list[Writer], prefill: dict) -> None:
    rng = np.random.default_rng(5)
    violations = [v for w in writers for v in w.ledger.read_your_writes_violations]
    assert not violations, f"read-your-writes broken: {violations[:5]}"
    with closing(segmentdb.Client(address, timeout=60.0)) as client:
        for name, base in ((SMALL, {}), (LARGE, prefill)):
            stored = read_collection(data, name)
            expected, half_applied = expected_state(writers, name, stored.by_id(), base)
            assert not half_applied, f"{name}: failed batches half applied: {half_applied[:3]}"
            verify(client, data, name, expected, rng)


@pytest.mark.parametrize("victim", ["metadata-worker", "vector-worker", "gateway"])
def test_kill9_a_child_while_clients_write(tmp_path, services, victim):
    data = tmp_path / "data"
    service = services.start(data, vector_workers=2)
    serve_pid = service.process.pid
    prefill = _prefill(service.address)
    role = victim
    if victim == "vector-worker":
        role = _vector_worker_serving(serve_pid, data, SMALL)
    old_pid = processes.wait_for_roles(serve_pid, {role})[role]

    writers, reader, stop = _start_clients(service.address)
    try:
        _wait_for_progress(writers, 1 / 3)
        processes.kill9(old_pid)
        new_pid = processes.wait_for_replacement(serve_pid, role, old_pid)
    finally:
        _finish(writers, reader, stop)

    print(f"{victim} ({role}) killed: {_summary(writers, reader)}")
    acknowledged = sum(w.ledger.acknowledged for w in writers)
    assert acknowledged == WRITERS * TARGET, (
        f"writers got {acknowledged} of {WRITERS * TARGET} calls acknowledged after {role} "
        f"restarted; the service did not recover:\n{service.log()[-4000:]}")
    assert [line for line in service.log().splitlines()
            if f"{role} (pid {old_pid})" in line and "-9" in line], "serve logged no restart"
    assert processes.alive(new_pid)
    _verify_everything(service.address, data, writers, prefill)
    assert services.stop(service) == 0, service.log()[-4000:]


def test_kill9_serve_children_exit_and_a_new_serve_has_every_write(tmp_path, services):
    data = tmp_path / "data"
    service = services.start(data, vector_workers=2)
    serve_pid = service.process.pid
    prefill = _prefill(service.address)
    children = processes.wait_for_roles(
        serve_pid, {"metadata-worker", "vector-worker-1", "vector-worker-2", "gateway"})
    services.orphans.update(children.values())

    writers, reader, stop = _start_clients(service.address)
    try:
        _wait_for_progress(writers, 1 / 2)
        processes.kill9(serve_pid)
        service.process.wait(10)
        lingering = processes.wait_gone(list(children.values()))
    finally:
        stop.set()
        _finish(writers, reader, stop)
    print(f"serve killed: {_summary(writers, reader)}")
    assert not lingering, (f"children {lingering} of the killed serve are still running: "
                           f"{ {pid: processes.cmdline(pid) for pid in lingering} }")

    again = services.start(data, vector_workers=2)
    _verify_everything(again.address, data, writers, prefill)
    assert services.stop(again) == 0, again.log()[-4000:]
