"""Fixtures that start the real segmentdb processes.

`service` (session scope) runs `segmentdb serve` on port 0 in a temp folder, waits for its
port file (written once the gateway is SERVING) and yields its address; teardown sends SIGTERM
and asserts exit code 0, so every test run also tests a clean shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Every gateway would otherwise serve Chroma's HTTP API on port 8000, and several test runs
# share this machine: processes started by tests inherit "off", and the tests of the HTTP
# API pass --http-port auto (any free port, read back from the port file).
os.environ["SEGMENTDB_HTTP_PORT"] = "0"


@dataclass
class RunningService:
    address: str
    path: Path
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(path: Path, vector_workers: int = 2, extra: list[str] | None = None,
                  timeout: float = 60.0) -> RunningService:
    """Start `segmentdb serve --port 0` on `path` and wait until it answers."""
    path.mkdir(parents=True, exist_ok=True)
    port_file = path.parent / f"{path.name}.port.json"
    if port_file.exists():
        port_file.unlink()
    log_path = path.parent / f"{path.name}.log"
    log_file = open(log_path, "ab")
    cmd = [sys.executable, "-m", "segmentdb.cli", "serve", "--path", str(path), "--port", "0",
           "--vector-workers", str(vector_workers), "--port-file", str(port_file), *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"segmentdb serve exited {proc.returncode}:\n{log_path.read_text()}")
        if port_file.exists():
            port = json.loads(port_file.read_text())["port"]
            return RunningService(f"127.0.0.1:{port}", path, proc, log_path)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"segmentdb serve did not start in {timeout}s:\n{log_path.read_text()}")


def stop_service(service: RunningService, timeout: float = 30.0) -> int:
    """SIGTERM, wait, return the exit code (kill -9 after `timeout`)."""
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGTERM)
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
    return service.process.returncode


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    running = start_service(tmp_path_factory.mktemp("segmentdb") / "data")
    yield running
    code = stop_service(running)
    assert code == 0, f"segmentdb serve exited {code} on SIGTERM:\n{running.log()}"


@pytest.fixture()
def client(service):
    import segmentdb

    c = segmentdb.Client(service.address)
    yield c
    c.close()


@pytest.fixture()
def collection_name(request):
    """A valid, unique collection name per test."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")
    name = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)
    return f"c{name[:40]}{os.getpid() % 1000}x{time.monotonic_ns() % 100000}"
