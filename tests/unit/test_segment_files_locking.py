"""segment_files around other processes: temp files a killed save left behind, a folder lock
held by a stopped process (bounded waits), a folder holding a newer save than ours, and the
INFO line of a normal load.

The lock holder is a real second process (flock locks belong to open files, so a thread of
this process would do too, but a SIGSTOPped process is the case that matters).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vector_worker import segment_files
from vector_worker.convert import SegmentParams
from vector_worker.segment import Segment

DIM = 6
WAIT = 0.5  # seconds: the lock wait under test


def params() -> SegmentParams:
    return SegmentParams("seg-lock", "col-lock", DIM, "l2", 12, 50, ef_search=20, num_threads=1)


def make_segment(n: int = 40, through: int = 57) -> Segment:
    segment = Segment.create(params(), capacity=64)
    rng = np.random.default_rng(n)
    segment.apply(np.arange(1, n + 1), rng.standard_normal((n, DIM)).astype(np.float32),
                  through_sequence=through)
    return segment


def manifest(root) -> dict:
    folder = segment_files.segment_folder(root, "seg-lock")
    return json.loads((folder / segment_files.MANIFEST_FILE).read_text())


@pytest.fixture()
def stopped_lock_holder(tmp_path):
    """Start a process that takes the folder's exclusive lock, then SIGSTOP it."""
    holders = []

    def start(root):
        folder = segment_files.segment_folder(root, "seg-lock")
        folder.mkdir(parents=True, exist_ok=True)
        code = ("import fcntl, os, sys, time\n"
                f"fd = os.open({str(folder / segment_files.LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "time.sleep(600)\n")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        holders.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        os.kill(proc.pid, signal.SIGSTOP)
        return proc

    yield start
    for proc in holders:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait()


def test_a_save_removes_temp_files_a_killed_save_left_behind(tmp_path):
    assert segment_files.save(tmp_path, make_segment()) is segment_files.SaveOutcome.SAVED
    folder = segment_files.segment_folder(tmp_path, "seg-lock")
    left = [folder / "hnsw_index.bin.tmp-999999", folder / "manifest.json.tmp-999999",
            folder / "deleted_labels.bin.tmp-4242"]
    for path in left:
        path.write_bytes(b"x" * 1000)
    segment = make_segment(45, through=60)
    assert segment_files.save(tmp_path, segment) is segment_files.SaveOutcome.SAVED
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name]
    assert segment_files.load(tmp_path, params()).live_count == 45


def test_a_normal_load_logs_what_it_loaded_from_where_and_how_fast(tmp_path, caplog):
    segment_files.save(tmp_path, make_segment())
    with caplog.at_level(logging.INFO, logger="vector_worker.segment_files"):
        assert segment_files.load(tmp_path, params()) is not None
    folder = segment_files.segment_folder(tmp_path, "seg-lock")
    lines = [r for r in caplog.records if "loaded" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "INFO"
    message = lines[0].getMessage()
    assert f"segment seg-lock: loaded 40 vectors (applied 57) from {folder} in " in message
    assert message.endswith("s")


def test_a_load_gives_up_on_a_lock_held_by_a_stopped_process(tmp_path, stopped_lock_holder):
    segment_files.save(tmp_path, make_segment())
    stopped_lock_holder(tmp_path)
    started = time.monotonic()
    with pytest.raises(segment_files.FolderBusy, match="stayed locked by another process"):
        segment_files.load(tmp_path, params(), lock_wait=WAIT)
    assert WAIT <= time.monotonic() - started < WAIT + 2.0


def test_a_save_is_skipped_with_a_warning_while_a_stopped_process_holds_the_lock(
        tmp_path, stopped_lock_holder, caplog):
    segment_files.save(tmp_path, make_segment())
    before = manifest(tmp_path)
    stopped_lock_holder(tmp_path)
    newer = make_segment(50, through=90)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="vector_worker.segment_files"):
        outcome = segment_files.save(tmp_path, newer, lock_wait=WAIT)
    assert outcome is segment_files.SaveOutcome.BUSY
    assert time.monotonic() - started < WAIT + 2.0
    assert "save skipped" in caplog.text and "nothing is lost" in caplog.text
    assert manifest(tmp_path) == before  # untouched
    assert newer.dirty == 50 and newer.persisted_sequence == 0  # still to be saved


def test_the_default_lock_wait_is_a_few_seconds():
    assert 1.0 <= segment_files.LOCK_WAIT <= 10.0


def test_a_save_never_replaces_a_newer_save_of_another_worker(tmp_path, caplog):
    """After a failover and return, this worker's copy (applied 57) is older than what the
    other worker saved (applied 90): the folder must keep the newer save."""
    stale = make_segment(40, through=57)
    assert segment_files.save(tmp_path, make_segment(50, through=90)) is segment_files.SaveOutcome.SAVED
    with caplog.at_level(logging.INFO, logger="vector_worker.segment_files"):
        outcome = segment_files.save(tmp_path, stale)
    assert outcome is segment_files.SaveOutcome.STALE
    assert manifest(tmp_path)["applied_sequence"] == 90
    assert "holds a newer save (applied 90) than this copy (applied 57)" in caplog.text
    assert segment_files.load(tmp_path, params()).live_count == 50
    # An equal or newer copy saves as usual.
    assert segment_files.save(tmp_path, make_segment(55, through=90)) is segment_files.SaveOutcome.SAVED
    assert manifest(tmp_path)["live_count"] == 55


def test_the_cache_backs_off_checkpoints_of_a_folder_whose_lock_is_held(
        tmp_path, stopped_lock_holder, monkeypatch):
    """A busy save is retried by periodic checkpoints only after BUSY_RETRY_AFTER, so the
    requests that trigger them don't each wait LOCK_WAIT for the lock."""
    import socket

    from vector_worker.metadata_client import MetadataClient
    from vector_worker.segment_cache import SegmentCache

    segment_files.save(tmp_path, make_segment())
    with socket.socket() as sock:  # a closed port: loads need no metadata worker
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    client = MetadataClient(address)
    try:
        cache = SegmentCache(tmp_path, client)
        segment = cache.get(params(), 0)
        rng = np.random.default_rng(3)
        threshold = segment.params.sync_threshold
        segment.apply(np.arange(1000, 1000 + threshold), rng.standard_normal(
            (threshold, DIM)).astype(np.float32), through_sequence=5000)
        stopped_lock_holder(tmp_path)
        monkeypatch.setattr(segment_files, "LOCK_WAIT", WAIT)
        started = time.monotonic()
        assert cache.checkpoint_if_due(segment) is False  # waited WAIT, skipped
        assert time.monotonic() - started >= WAIT
        started = time.monotonic()
        assert cache.checkpoint_if_due(segment) is False  # backing off: no wait
        assert time.monotonic() - started < WAIT / 2
        assert cache.counters.persists == 0 and segment.dirty == threshold
        assert manifest(tmp_path)["applied_sequence"] == 57
    finally:
        client.close()
