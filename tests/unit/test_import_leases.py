"""gateway.import_leases: a resumed import's stream waits for the stream it replaces to
settle — ended, with no chunk committing and none starting after the end."""

from __future__ import annotations

import threading
import time

import pytest

from gateway.import_leases import ImportLeases
from segmentdb import errors


def _acquire_in_thread(leases: ImportLeases, wait_seconds=None):
    got: list = []
    thread = threading.Thread(
        target=lambda: got.append(leases.acquire("c", "i", wait_seconds)), daemon=True)
    thread.start()
    return thread, got


def test_a_second_stream_waits_until_the_first_ends():
    leases = ImportLeases()
    first = leases.acquire("c", "i", None)
    thread, got = _acquire_in_thread(leases)
    thread.join(0.3)
    assert not got
    leases.end("c", "i", first)
    thread.join(5)
    assert got and got[0] is not first


def test_other_imports_do_not_wait():
    leases = ImportLeases()
    leases.acquire("c", "i", None)
    assert leases.acquire("c", "other", None) is not None
    assert leases.acquire("other-collection", "i", None) is not None


def test_an_ended_stream_keeps_its_lease_while_a_chunk_commits():
    leases = ImportLeases()
    first = leases.acquire("c", "i", None)
    with leases.committing("c", "i", first):
        leases.end("c", "i", first)  # the client cancelled mid-commit
        thread, got = _acquire_in_thread(leases)
        thread.join(0.3)
        assert not got
    thread.join(5)
    assert got


def test_no_chunk_starts_committing_after_its_stream_ended():
    leases = ImportLeases()
    first = leases.acquire("c", "i", None)
    leases.end("c", "i", first)
    with pytest.raises(errors.CancelledError, match="sends it again"):
        with leases.committing("c", "i", first):
            pytest.fail("committed a chunk of an ended stream")
    assert leases.acquire("c", "i", 0.1) is not first


def test_a_stream_that_never_ends_is_taken_over_after_the_bound():
    leases = ImportLeases()
    first = leases.acquire("c", "i", None)
    began = time.monotonic()
    second = leases.acquire("c", "i", 0.2)
    assert second is not first and time.monotonic() - began >= 0.2
    leases.end("c", "i", first)  # the old stream's late end does not free the new lease
    thread, got = _acquire_in_thread(leases, 0.3)
    thread.join(0.1)
    assert not got
    thread.join(5)
    assert got
