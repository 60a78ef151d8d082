"""`segmentdb serve` as a supervisor, and PersistentClient's child service — real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from pathlib import Path

import pytest

import segmentdb

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


@pytest.fixture(scope="module")
def lifecycle(request):
    """tests/conftest.py (start_service / stop_service); `from conftest import` is ambiguous."""
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == ROOT_CONFTEST:
            return plugin
    raise RuntimeError(f"{ROOT_CONFTEST} is not loaded")


def _children(pid: int) -> dict[str, int]:
    """{subcommand: pid} of the serve's direct children (first of each kind)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    found: dict[str, int] = {}
    for line in out.splitlines():
        child_pid, args = line.strip().split(" ", 1)
        match = re.search(r"segmentdb\.cli (\S+)", args)
        if match:
            found.setdefault(match.group(1), int(child_pid))
    return found


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def own_service(tmp_path, lifecycle):
    running = lifecycle.start_service(tmp_path / "data", vector_workers=1)
    yield running
    assert lifecycle.stop_service(running) == 0, running.log()


def test_serve_restarts_a_dead_child_on_the_same_port(own_service):
    children = _children(own_service.process.pid)
    assert set(children) == {"metadata-worker", "vector-worker", "gateway"}
    with segmentdb.Client(own_service.address, timeout=30) as client:
        client.get_or_create_collection("before")

        os.kill(children["gateway"], signal.SIGKILL)
        _wait_for(lambda: "gateway restarted on port" in own_service.log())
        # Same address: the client reconnects without being told anything.
        assert [c.name for c in client.list_collections()] == ["before"]

        os.kill(children["metadata-worker"], signal.SIGKILL)
        _wait_for(lambda: "metadata-worker restarted on port" in own_service.log())
        client.get_or_create_collection("after")
        assert client.count_collections() == 2
    assert re.search(r"segmentdb serving on 127\.0\.0\.1:\d+ \(data: ", own_service.log())


def test_serve_stops_children_in_reverse_order(tmp_path, lifecycle):
    running = lifecycle.start_service(tmp_path / "data", vector_workers=2)
    children = _children(running.process.pid)
    assert lifecycle.stop_service(running) == 0, running.log()
    log = running.log()
    assert "segmentdb stopped" in log and "did not stop cleanly" not in log
    for pid in children.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    stopped = [log.index(f"[{children[name]}]: signal 15") for name in ("gateway", "metadata-worker")]
    assert stopped == sorted(stopped), "the gateway must stop before the metadata worker"


def test_persistent_client_shares_and_stops_its_child(tmp_path):
    path = tmp_path / "embedded"
    first = segmentdb.PersistentClient(path, vector_workers=1, timeout=30)
    second = segmentdb.PersistentClient(str(path), vector_workers=1, timeout=30)
    service = first._service
    assert second._service is service  # one child per folder per process
    docs = first.create_collection("docs")
    docs.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["hello"])
    second.close()
    assert service.process.poll() is None  # still used by `first`
    assert first.get_collection("docs").get(ids="a")["documents"] == ["hello"]
    first.close()
    assert service.process.returncode == 0
    # Reopening the folder sees the data: it was really persisted.
    with segmentdb.PersistentClient(path, vector_workers=1, timeout=30) as again:
        assert again.get_collection("docs").count() == 1
