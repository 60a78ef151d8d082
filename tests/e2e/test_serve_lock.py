"""A data folder is served once: a second `segmentdb serve` on it exits non-zero at once with
the metadata worker's lock message, and the first keeps serving undisturbed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import segmentdb

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return {int(line) for line in out.split()}


def test_second_serve_on_a_served_folder_exits_with_the_lock_message(tmp_path, lifecycle):
    first = lifecycle.start_service(tmp_path / "data", vector_workers=1)
    try:
        with segmentdb.Client(first.address, timeout=30) as client:
            docs = client.create_collection("docs")
            docs.add(ids=["a", "b"], embeddings=np.eye(2, dtype=np.float32))
        children_before = _children(first.process.pid)

        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "segmentdb.cli", "serve", "--path", str(tmp_path / "data"),
             "--port", "0", "--vector-workers", "1"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        elapsed = time.monotonic() - started

        assert second.returncode != 0
        assert elapsed < 15, f"the second serve took {elapsed:.1f}s to give up"
        lock_file = str(tmp_path / "data" / "chroma.sqlite3.lock")
        assert "already using" in second.stderr and lock_file in second.stderr, second.stderr
        # It gave up before starting anything: no restart loop, no gateway, no port taken.
        assert "restarting" not in second.stderr
        assert "serving on" not in second.stderr

        # The first service is untouched: same children, still answering with its data.
        assert _children(first.process.pid) == children_before
        with segmentdb.Client(first.address, timeout=30) as client:
            result = client.get_collection("docs").query(query_embeddings=[[1.0, 0.0]],
                                                         n_results=1)
            assert result["ids"] == [["a"]]
    finally:
        assert lifecycle.stop_service(first) == 0, first.log()


def test_serve_starts_again_once_the_first_has_stopped(tmp_path, lifecycle):
    first = lifecycle.start_service(tmp_path / "data", vector_workers=1)
    assert lifecycle.stop_service(first) == 0, first.log()
    # The lock check released the lock; a stopped service left none behind.
    again = lifecycle.start_service(tmp_path / "data", vector_workers=1)
    assert lifecycle.stop_service(again) == 0, again.log()
