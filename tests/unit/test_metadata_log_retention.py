"""Log retention on a real SQLite file: a collection's log is purged down to half the limit
once it holds more than the limit after a write, not before; purged_through and the log
position move as the purge says; ReadLog tells a reader behind it to rebuild; other
collections and checkpoints interact as the rules say; the config reads the setting."""

from __future__ import annotations

import numpy as np
import pytest

from metadata_worker import (
    collection_config, log_retention, store_checkpoints, store_collections, store_log,
    store_records,
)
from metadata_worker.config import DEFAULT_LOG_RETENTION, resolve
from metadata_worker.domain import RecordWrite
from metadata_worker.store import Store

LIMIT = 10


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def new_collection(store: Store, name: str):
    collection, _ = store.write(store_collections.create_collection, "", "", name, None,
                                collection_config.resolve_create({}, None), False)
    return collection


def write(store: Store, retention: log_retention.LogRetention, cid: str, ids: list[str]):
    """One acknowledged write, then the retention check (as the servicer does)."""
    array = np.random.default_rng(len(ids)).random((len(ids), 2), dtype=np.float32)
    sequence, _, _ = store.write(store_records.upsert, cid, RecordWrite(ids=ids, vectors=array))
    return sequence, retention.after_write(cid, sequence)


def remaining(store: Store, cid: str) -> list[int]:
    return store.read(store_log.read, cid, 0, 0).sequences


def test_nothing_is_purged_up_to_the_limit(store):
    c = new_collection(store, "within")
    retention = log_retention.LogRetention(store, LIMIT)
    for i in range(LIMIT):
        _, purged = write(store, retention, c.id, [f"r{i}"])
        assert purged is None
    assert len(remaining(store, c.id)) == LIMIT
    assert store.read(store_log.purged_through, c.id) == 0


def test_past_the_limit_it_keeps_the_newest_half_and_the_position_holds(store):
    c = new_collection(store, "beyond")
    retention = log_retention.LogRetention(store, LIMIT)
    for i in range(LIMIT):
        write(store, retention, c.id, [f"r{i}"])
    last, purged = write(store, retention, c.id, [f"r{LIMIT}"])  # entry LIMIT + 1
    assert purged == last - LIMIT // 2
    assert remaining(store, c.id) == list(range(purged + 1, last + 1))
    assert store.read(store_log.purged_through, c.id) == purged
    assert store.read(store_log.position, c.id) == last  # queries still wait for `last`

    # A reader that saw nothing (or persisted an older checkpoint) learns it must rebuild,
    # and what it rebuilds from holds every record, with the same snapshot position.
    page = store.read(store_log.read, c.id, 0, 0)
    assert page.purged_through == purged > 0
    labels, snapshot = [], None
    for page_labels, _, snapshot in store.stream(store_log.scan, c.id, 4):
        labels += page_labels
    assert len(labels) == LIMIT + 1 and snapshot == last

    # Not on every write: the next LIMIT // 2 writes purge nothing.
    for i in range(LIMIT // 2):
        assert write(store, retention, c.id, [f"s{i}"])[1] is None
    assert write(store, retention, c.id, ["t"])[1] is not None


def test_a_big_batch_is_purged_after_it_commits(store):
    c = new_collection(store, "batch")
    retention = log_retention.LogRetention(store, LIMIT)
    last, purged = write(store, retention, c.id, [f"r{i}" for i in range(3 * LIMIT)])
    assert purged == last - LIMIT // 2
    assert len(remaining(store, c.id)) == LIMIT // 2
    assert store.read(store_records.count, c.id) == 3 * LIMIT  # records are never touched


def test_counts_entries_not_sequence_numbers_when_collections_interleave(store):
    busy, quiet = new_collection(store, "busy"), new_collection(store, "quiet")
    retention = log_retention.LogRetention(store, LIMIT)
    for i in range(LIMIT):
        write(store, retention, busy.id, [f"b{i}"])
        write(store, retention, quiet.id, [f"q{i}"])   # sequence gaps in busy's log
    assert store.read(store_log.purged_through, busy.id) == 0  # LIMIT entries: within
    _, purged = write(store, retention, busy.id, ["b-last"])
    assert len(remaining(store, busy.id)) == LIMIT // 2 and purged is not None
    assert len(remaining(store, quiet.id)) == LIMIT  # another collection's log is its own
    assert store.read(store_log.purged_through, quiet.id) == 0


def test_zero_keeps_every_entry(store):
    c = new_collection(store, "keep")
    retention = log_retention.LogRetention(store, 0)
    for i in range(3):
        assert write(store, retention, c.id, [f"r{i}" for i in range(i * 50, i * 50 + 50)])[1] \
            is None
    assert len(remaining(store, c.id)) == 150


def test_a_limit_of_one_keeps_no_entries_and_the_position(store):
    c = new_collection(store, "one")
    retention = log_retention.LogRetention(store, 1)
    assert write(store, retention, c.id, ["a"])[1] is None
    last, purged = write(store, retention, c.id, ["b"])
    assert purged == last and remaining(store, c.id) == []
    assert store.read(store_log.position, c.id) == last


def test_a_later_lower_checkpoint_purges_nothing_more_and_never_lowers(store):
    c = new_collection(store, "checkpointed")
    retention = log_retention.LogRetention(store, LIMIT)
    first, _ = write(store, retention, c.id, ["a"])
    last, purged = write(store, retention, c.id, [f"r{i}" for i in range(2 * LIMIT)])
    # A vector worker saved its segment at `first`, before retention purged past it.
    assert store.write(store_checkpoints.report_persisted, c.vector_segment_id, c.id,
                       first) == purged
    assert store.read(store_log.purged_through, c.id) == purged
    # A save that covers everything purges the rest, as before.
    assert store.write(store_checkpoints.report_persisted, c.vector_segment_id, c.id,
                       last) == last


def test_a_failing_purge_is_logged_not_raised(store, caplog):
    c = new_collection(store, "closed")
    retention = log_retention.LogRetention(store, LIMIT)
    write(store, retention, c.id, [f"r{i}" for i in range(LIMIT)])
    store.close()
    assert retention.after_write(c.id, 10**9) is None
    assert "log retention" in caplog.text and "failed" in caplog.text


def test_a_deleted_or_unknown_collection_is_left_alone(store):
    retention = log_retention.LogRetention(store, LIMIT)
    assert retention.after_write("no-such-collection", 10**9) is None


def test_negative_limit_is_refused(store):
    with pytest.raises(ValueError, match="negative"):
        log_retention.LogRetention(store, -1)


def test_config_reads_the_flag_then_the_environment():
    assert resolve({"path": "/d"}, environ={}).log_retention == DEFAULT_LOG_RETENTION == 100_000
    env = {"SEGMENTDB_LOG_RETENTION": "500"}
    assert resolve({"path": "/d"}, environ=env).log_retention == 500
    assert resolve({"path": "/d", "log_retention": "0"}, environ=env).log_retention == 0
    with pytest.raises(ValueError, match="--log-retention: 'many'"):
        resolve({"path": "/d", "log_retention": "many"}, environ={})
    with pytest.raises(ValueError, match="--log-retention: -5 is negative"):
        resolve({"path": "/d", "log_retention": "-5"}, environ={})
