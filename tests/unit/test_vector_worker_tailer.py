"""The log tailer's settings (--tail-interval, SEGMENTDB_TAIL_INTERVAL) and its behaviour when
the metadata worker is unreachable, on a real hnswlib segment and a real gRPC channel to a
closed port: every tick fails, the segment stays loaded, and the WARNING comes at most once per
segment per minute. (The working path, with real processes: tests/integration/
test_vector_worker_tailing.py.)
"""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest

from vector_worker import config, log_tailer
from vector_worker.__main__ import main, parser
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment import Segment
from vector_worker.segment_cache import SegmentCache

BASE = ["--path", "/tmp/data", "--metadata", "127.0.0.1:1"]
FAILED = "background catch-up with the log failed"


def make(argv: list[str]):
    args = vars(parser().parse_args(BASE + argv))
    return config.make_config(**args)


def test_tail_interval_defaults_to_one_second(monkeypatch):
    monkeypatch.delenv("SEGMENTDB_TAIL_INTERVAL", raising=False)
    assert make([]).tail_interval_seconds == 1.0
    assert config.VectorWorkerConfig(path="p", metadata_address="h:1").tail_interval_seconds == 1.0


def test_flag_and_environment_set_it_and_the_flag_wins(monkeypatch):
    monkeypatch.setenv("SEGMENTDB_TAIL_INTERVAL", "0")
    assert make([]).tail_interval_seconds == 0.0
    assert make(["--tail-interval", "2.5"]).tail_interval_seconds == 2.5
    assert "--tail-interval" in parser().format_help()


@pytest.mark.parametrize("value, message", [
    ("often", "--tail-interval: expected a number of seconds, got 'often'"),
    ("-1", "--tail-interval: must be a finite number of seconds >= 0"),
    ("inf", "--tail-interval: must be a finite number of seconds >= 0"),
    ("nan", "--tail-interval: must be a finite number of seconds >= 0"),
])
def test_bad_values_name_the_flag(value, message, capsys):
    assert main(BASE + ["--tail-interval", value]) == 1
    err = capsys.readouterr().err
    assert message in err and "0 = off" in err


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture()
def cache(tmp_path):
    client = MetadataClient(closed_address())
    yield SegmentCache(tmp_path, client)
    client.close()


def loaded_segment(cache: SegmentCache, name: str) -> Segment:
    params = SegmentParams(f"seg-{name}", f"col-{name}", 4, "l2", 16, 50, num_threads=1)
    segment = Segment.create(params)
    segment.apply(np.arange(3), np.ones((3, 4), dtype=np.float32), through_sequence=3)
    cache._insert(segment, "loads", 0.0)  # as if a query had loaded it
    return segment


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and FAILED in r.getMessage()]


def test_failures_are_warned_once_per_segment_per_minute_and_never_unload(cache, caplog):
    a, b = loaded_segment(cache, "a"), loaded_segment(cache, "b")
    tailer = log_tailer.LogTailer(cache, interval=1.0)
    caplog.set_level(logging.INFO, logger="vector_worker")
    for second in range(5):
        assert tailer.tick(now=1000.0 + second) == 0
    got = warnings(caplog)
    assert len(got) == 2 and all("UnavailableError" in m for m in got)
    assert {"seg-a", "seg-b"} == {m.split(":")[0].removeprefix("segment ") for m in got}
    assert tailer.tick(now=1000.0 + log_tailer.WARN_EVERY + 1) == 0
    got = warnings(caplog)
    assert len(got) == 4 and "4 more failure(s) since the last warning" in got[-1]
    assert cache.loaded() == ["seg-a", "seg-b"]  # still loaded, still at sequence 3
    assert a.applied_sequence == b.applied_sequence == 3
    assert cache.counters.hits == cache.counters.misses == 0


def test_a_segment_a_search_just_caught_up_is_skipped(cache, caplog):
    segment = loaded_segment(cache, "recent")
    tailer = log_tailer.LogTailer(cache, interval=1.0)
    segment.caught_up_at = 500.0
    tailer.tick(now=500.2)  # within half an interval: no metadata call, so no failure
    assert warnings(caplog) == []
    tailer.tick(now=501.0)
    assert len(warnings(caplog)) == 1


def test_interval_zero_starts_no_thread(cache):
    tailer = log_tailer.LogTailer(cache, interval=0)
    tailer.start()
    assert tailer._thread is None
    tailer.stop()
