"""The interface every benchmarked system implements, and process helpers shared by them.

Record ids are "r<index>" everywhere, so every system answers with dataset row indices and
recall is computed the same way for all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

COLLECTION = "bench"
Query = Callable[[np.ndarray, int, Optional[dict]], list[int]]


def row_indices(ids: Sequence[str]) -> list[int]:
    return [int(i[1:]) for i in ids]


class System:
    """A system under test. `workdir` is its own empty folder (its data lives there)."""

    name = "?"
    version = "?"

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def ingest(self, ids: list[str], vectors: np.ndarray, metadatas: list[dict]) -> None: ...

    def wait_queryable(self, probe_id: str, probe: np.ndarray, timeout: float = 600.0) -> None:
        """Return once `probe_id` (the last record written) is its own nearest neighbour."""
        deadline = time.monotonic() + timeout
        want = int(probe_id[1:])
        while want not in self.query(probe, 10, None):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: {probe_id} not queryable after {timeout}s")
            time.sleep(0.005)

    def query(self, vector: np.ndarray, k: int, where: Optional[dict]) -> list[int]: ...
    def query_batch(self, vectors: np.ndarray, k: int) -> list[list[int]]: ...
    def pids(self) -> list[int]:
        """Every process whose peak RSS counts for this system."""
        return [os.getpid()]

    def disk_path(self) -> Path:
        return self.workdir

    def client_spec(self) -> dict:
        """Picklable recipe from which `connect` opens a query client in another process."""
        raise NotImplementedError

    @staticmethod
    def connect(spec: dict) -> Query:
        raise NotImplementedError

    def cold_start(self, probe: np.ndarray) -> float:
        """Seconds from launching a fresh instance on the existing data to its first answer."""
        raise NotImplementedError


# --- process helpers --------------------------------------------------------------------------

def launch(argv: list[str], log: Path, env: Optional[dict] = None) -> subprocess.Popen:
    """Start a server in its own session so stopping it reaches its children too."""
    handle = open(log, "ab")
    return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def stop_process(process: Optional[subprocess.Popen], timeout: float = 20.0) -> None:
    """SIGTERM by PID, then SIGKILL the process group if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc (no psutil needed)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return found


def peak_rss_mib(pid: int) -> Optional[float]:
    """VmHWM (peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def disk_mib(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total / 2**20


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # the server is still coming up: any failure means "not yet"
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout}s")
        time.sleep(0.02)
