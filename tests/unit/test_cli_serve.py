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
        _wait_for(lambda: re.search(r"gateway restarted on 127\.0\.0\.1:\d+", own_service.log()))
        # Same address: the client reconnects without being told anything.
        assert [c.name for c in client.list_collections()] == ["before"]

        os.kill(children["metadata-worker"], signal.SIGKILL)
        # The workers listen on Unix sockets in serve's private folder; the same path again.
        _wait_for(lambda: re.search(r"metadata-worker restarted on unix:/\S+/metadata-worker\.sock",
                                    own_service.log()))
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


def test_serve_passes_tail_interval_and_log_retention_to_its_children(tmp_path):
    """The flags reach the worker command lines (read back from /proc/<pid>/cmdline)."""
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    port_file = tmp_path / "port.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "segmentdb.cli", "serve", "--path", str(tmp_path / "data"),
         "--port", "0", "--port-file", str(port_file), "--vector-workers", "1",
         "--tail-interval", "0.25", "--log-retention", "500"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children]
        metadata = next(c for c in cmdlines if b"metadata-worker" in c)
        vector = next(c for c in cmdlines if b"vector-worker" in c)
        assert metadata[metadata.index(b"--log-retention") + 1] == b"500"
        assert vector[vector.index(b"--tail-interval") + 1] == b"0.25"
        assert json.loads(port_file.read_text())["port"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_serve_rejects_bad_tail_interval_and_log_retention(tmp_path):
    import subprocess
    import sys

    for flag, value in (("--tail-interval", "soon"), ("--log-retention", "-3")):
        result = subprocess.run(
            [sys.executable, "-m", "segmentdb.cli", "serve", "--path", str(tmp_path / "d"),
             flag, value], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert flag in result.stderr
