"""Persisted checkpoints and the log purge, on a real SQLite file: ReportPersisted records
the checkpoint, deletes what it covers, remembers purged_through; the log position (what
queries wait for and scans report) never moves backwards; storage statistics."""

from __future__ import annotations

import numpy as np
import pytest

from segmentdb import errors

from metadata_worker import (
    collection_config, store_checkpoints, store_collections, store_log, store_records,
    store_stats,
)
from metadata_worker.domain import LOG_DELETE, LOG_UPSERT, RecordSelection, RecordWrite
from metadata_worker.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def new_collection(store: Store, name: str):
    collection, _ = store.write(store_collections.create_collection, "", "", name, None,
                                collection_config.resolve_create({}, None), False)
    return collection


def add(store: Store, cid: str, ids: list[str], start: float = 0.0) -> int:
    array = np.arange(len(ids) * 2, dtype=np.float32).reshape(-1, 2) + start
    sequence, _, _ = store.write(store_records.upsert, cid, RecordWrite(ids=ids, vectors=array))
    return sequence


def report(store: Store, collection, applied: int) -> int:
    return store.write(store_checkpoints.report_persisted, collection.vector_segment_id,
                       collection.id, applied)


def position(store: Store, cid: str) -> int:
    return store.read(store_log.position, cid)


def scan_snapshot(store: Store, cid: str) -> int:
    return {snapshot for _, _, snapshot in store.stream(store_log.scan, cid, 2)}.pop()


def test_a_report_purges_the_collections_log_through_it(store):
    c = new_collection(store, "purged")
    other = new_collection(store, "untouched")
    add(store, c.id, ["a", "b"])                      # seqs 1, 2
    add(store, other.id, ["x"])                       # seq 3
    add(store, c.id, ["c"])                           # seq 4
    store.write(store_records.delete, c.id, RecordSelection(ids=["a"]))   # seq 5
    assert report(store, c, 4) == 4

    page = store.read(store_log.read, c.id, 4, 0)
    assert (page.sequences, page.operations, page.purged_through) == ([5], [LOG_DELETE], 4)
    # A reader behind purged_through sees only what is left and learns it must rebuild.
    behind = store.read(store_log.read, c.id, 0, 0)
    assert behind.sequences == [5] and behind.purged_through == 4
    # Other collections' entries are not touched.
    assert store.read(store_log.read, other.id, 0, 0).sequences == [3]
    assert store.read(store_log.read, other.id, 0, 0).purged_through == 0
    assert store.read(store_checkpoints.persisted_sequence, c.vector_segment_id) == 4


def test_purging_everything_leaves_the_log_position_where_it_was(store):
    c = new_collection(store, "all-purged")
    last = add(store, c.id, ["a", "b", "c"])
    assert position(store, c.id) == last == scan_snapshot(store, c.id)
    assert report(store, c, last) == last
    assert store.read(store_log.read, c.id, 0, 0).sequences == []
    # The position survives the purge: queries wait for it, scans report it...
    assert position(store, c.id) == last
    assert scan_snapshot(store, c.id) == last
    target, _ = store.read(store_records.prepare_query, c.id, RecordSelection())
    assert (target.log_sequence, target.record_count) == (last, 3)
    # ...and a write that logs nothing answers with it.
    sequence, updated = store.write(store_records.update, c.id, RecordWrite(ids=["missing"]))
    assert (sequence, updated) == (last, 0)
    # New writes continue after it and are readable from purged_through.
    newer = add(store, c.id, ["d"])
    assert newer > last
    page = store.read(store_log.read, c.id, last, 0)
    assert page.sequences == [newer] and page.operations == [LOG_UPSERT]
    assert position(store, c.id) == newer


def test_a_lower_report_is_recorded_but_never_unpurges(store):
    c = new_collection(store, "lower")
    add(store, c.id, ["a", "b", "c", "d"])            # seqs 1..4
    assert report(store, c, 3) == 3
    # An older save overwrote the folder: the checkpoint describes the folder as it is...
    assert report(store, c, 1) == 3
    assert store.read(store_checkpoints.persisted_sequence, c.vector_segment_id) == 1
    # ...but purged entries stay purged, and the reader at 1 is told to rebuild.
    page = store.read(store_log.read, c.id, 1, 0)
    assert page.sequences == [4] and page.purged_through == 3
    assert report(store, c, 0) == 3
    assert report(store, c, 4) == 4


def test_reports_for_missing_or_mismatched_segments_are_refused(store):
    c = new_collection(store, "gone")
    other = new_collection(store, "other")
    add(store, c.id, ["a"])
    with pytest.raises(errors.NotFoundError, match="segment_id: vector segment 'nope'"):
        store.write(store_checkpoints.report_persisted, "nope", c.id, 1)
    with pytest.raises(errors.NotFoundError):  # the METADATA segment is not a vector segment
        store.write(store_checkpoints.report_persisted, c.metadata_segment_id, c.id, 1)
    with pytest.raises(errors.InvalidArgumentError, match="collection_id: .* belongs to"):
        store.write(store_checkpoints.report_persisted, c.vector_segment_id, other.id, 1)
    with pytest.raises(errors.InvalidArgumentError, match="segment_id"):
        store.write(store_checkpoints.report_persisted, "", c.id, 1)
    with pytest.raises(errors.FailedPreconditionError, match="beyond .* log position 1"):
        report(store, c, 2)
    assert store.read(store_log.read, c.id, 0, 0).sequences == [1]  # nothing purged
    store.write(store_collections.delete_collection, "", "", "gone")
    with pytest.raises(errors.NotFoundError, match="deleted"):
        report(store, c, 1)
    # The checkpoint row went with the collection.
    assert store.read(store_checkpoints.persisted_sequence, c.vector_segment_id) is None


def test_storage_stats_count_the_log_collections_records_and_bytes(store):
    empty = store_stats.storage_stats(store)
    assert (empty.log_entries, empty.collections, empty.records) == (0, 0, 0)
    assert empty.sqlite_bytes > 0
    c = new_collection(store, "stats")
    new_collection(store, "stats-empty")
    last = add(store, c.id, [f"r{i}" for i in range(500)])
    store.write(store_records.delete, c.id, RecordSelection(ids=["r0", "r1"]))
    stats = store_stats.storage_stats(store)
    assert (stats.log_entries, stats.collections, stats.records) == (502, 2, 498)
    assert stats.sqlite_bytes > empty.sqlite_bytes
    report(store, c, last)
    assert store_stats.storage_stats(store).log_entries == 2
    files = [store.db_path, store.db_path.with_name(store.db_path.name + "-wal")]
    assert store_stats.storage_stats(store).sqlite_bytes == sum(
        p.stat().st_size for p in files if p.exists())
