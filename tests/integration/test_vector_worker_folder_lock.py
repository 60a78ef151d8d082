"""Vector workers sharing one data folder, as in a failover: a worker stopped (SIGSTOP) while
holding a segment folder's lock must not block the fallback worker, and a worker returning
with an older copy of a segment must not overwrite the newer save the other worker made.

Real processes throughout: a metadata worker, vector workers, and a lock holder that takes
`index/<id>/.lock` and is then SIGSTOPped (catching a real worker mid-save is a matter of
luck; the lock is what the fallback worker sees either way).
Helpers (Process, Collection, search, oracle) come from test_vector_worker.py in this folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from test_vector_worker import DIM, Collection, Process, assert_oracle, search, segment_folder
from vector_worker import segment_files


@pytest.fixture()
def metadata(tmp_path):
    process = Process("metadata_worker", ["--path", str(tmp_path / "data")], tmp_path).start()
    yield process
    process.stop()


def vector_worker(tmp_path, metadata: Process, name: str, *extra: str) -> Process:
    home = tmp_path / name
    home.mkdir()
    return Process("vector_worker", ["--path", str(tmp_path / "data"),
                                     "--metadata", metadata.address, *extra], home).start()


def check(vector: Process, col: Collection, seed: int) -> None:
    queries = np.random.default_rng(seed).standard_normal((4, DIM)).astype(np.float32)
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))


def manifest_of(folder) -> dict:
    return json.loads((folder / segment_files.MANIFEST_FILE).read_text())


def add(col: Collection, prefix: str, n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    return col.add([f"{prefix}{j}" for j in range(n)], rng.standard_normal((n, DIM)))


def test_a_stopped_lock_holder_does_not_block_the_fallback_worker(tmp_path, metadata):
    col = Collection(metadata, "lock-held")
    add(col, "a", 300, 1)
    first = vector_worker(tmp_path, metadata, "first")
    check(first, col, 2)  # rebuilt and saved
    first.stop()
    assert "memory budget" in first.log.read_text() and "(auto: half of" in first.log.read_text()
    folder = segment_folder(tmp_path / "data", col)
    saved = manifest_of(folder)

    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, time\n"
         f"fd = os.open({str(folder / segment_files.LOCK_FILE)!r}, os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(600)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGSTOP)  # as if stopped in the middle of a save
        add(col, "b", 20, 3)

        fallback = vector_worker(tmp_path, metadata, "fallback")
        started = time.monotonic()
        check(fallback, col, 4)  # rebuilt in memory, exact
        assert time.monotonic() - started < segment_files.LOCK_WAIT + 20
        started = time.monotonic()
        fallback.stop()  # its shutdown save is skipped, not blocked
        assert time.monotonic() - started < segment_files.LOCK_WAIT + 20
        text = fallback.log.read_text()
        assert "stayed locked by another process" in text, text
        assert "rebuilding it in memory" in text and "save skipped" in text, text
        assert " WARNING " in text
        assert manifest_of(folder) == saved  # nobody wrote under the held lock
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.kill()
        holder.wait()

    # Nothing was lost: the log still holds what the folder lacks.
    after = vector_worker(tmp_path, metadata, "after")
    try:
        check(after, col, 5)
        text = after.log.read_text()
        assert "loaded 300 vectors" in text and "rebuilt" not in text, text
    finally:
        after.stop()


def test_a_returning_worker_does_not_overwrite_a_newer_save(tmp_path, metadata):
    """A loads the segment, falls behind (its copy applied s2); B saves it through s3 (and
    the log is purged through s3); when A shuts down, its save of s2 must be refused."""
    col = Collection(metadata, "stale-copy")
    add(col, "a", 300, 11)
    a = vector_worker(tmp_path, metadata, "a", "--tail-interval", "0")  # A must lag
    try:
        check(a, col, 12)  # rebuilt and saved
        s2 = add(col, "b", 20, 13)
        check(a, col, 14)  # caught up to s2: dirty, below sync_threshold, not saved
        s3 = add(col, "c", 20, 15)
        b = vector_worker(tmp_path, metadata, "b")
        check(b, col, 16)
        b.stop()  # saves through s3 and reports it
        folder = segment_folder(tmp_path / "data", col)
        assert manifest_of(folder)["applied_sequence"] == s3 > s2
    finally:
        a.stop()  # tries to save its copy (applied s2)
    newest = manifest_of(folder)
    assert (newest["applied_sequence"], newest["live_count"]) == (s3, 340)
    text = a.log.read_text()
    assert f"holds a newer save (applied {s3}) than this copy (applied {s2})" in text, text

    c = vector_worker(tmp_path, metadata, "c")
    try:
        check(c, col, 17)
        assert "rebuilt" not in c.log.read_text()
    finally:
        c.stop()
