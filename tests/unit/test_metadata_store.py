"""Records in the metadata worker's store, on a real SQLite file: writes, merges,
all-or-nothing batches, the dimension rule, log rows and the vector workers' reads."""

from __future__ import annotations

import numpy as np
import pytest

from segmentdb import errors

from metadata_worker import collection_config, store_collections, store_log, store_records
from metadata_worker.domain import (
    DELETE, LOG_DELETE, LOG_UPSERT, Include, RecordSelection, RecordWrite,
)
from metadata_worker.store import Store

ALL_FIELDS = Include(documents=True, metadatas=True, embeddings=True)


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def new_collection(store: Store, name: str = "records") -> str:
    collection, _ = store.write(store_collections.create_collection, "", "", name, None,
                                collection_config.resolve_create({}, None), False)
    return collection.id


def vecs(n: int, dim: int = 3, start: float = 0.0) -> np.ndarray:
    return (np.arange(n * dim, dtype=np.float32).reshape(n, dim) + start)


def get_all(store: Store, cid: str, include: Include = ALL_FIELDS, **selection):
    return store.read(store_records.get, cid, RecordSelection(**selection), None, 0, include)


def log_entries(store: Store, cid: str, after: int = 0):
    page = store.read(store_log.read, cid, after, 0)
    return list(zip(page.sequences, page.operations, page.labels))


def test_add_then_get_round_trips_every_field(store):
    cid = new_collection(store)
    metadatas = [
        {"s": "x", "i": 7, "f": 2.5, "b": True, "sl": ["a", "b"], "il": [1, 2], "fl": [0.5],
         "bl": [True, False]},
        None,
        {"whole": 5.0},
    ]
    sequence, inserted = store.write(store_records.add, cid, RecordWrite(
        ids=["a", "b", "c"], vectors=vecs(3), documents=["doc a", None, "doc c"],
        metadatas=metadatas))
    assert (sequence, inserted) == (3, 3)
    got = get_all(store, cid)
    assert got.ids == ["a", "b", "c"]
    assert got.documents == ["doc a", None, "doc c"]
    assert got.metadatas == metadatas
    assert type(got.metadatas[0]["b"]) is bool and type(got.metadatas[2]["whole"]) is float
    np.testing.assert_array_equal(got.vectors, vecs(3))


def test_add_leaves_existing_ids_unchanged(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a"], vecs(1), ["first"], [{"k": 1}]))
    sequence, inserted = store.write(store_records.add, cid, RecordWrite(
        ["a", "b"], vecs(2, start=100), ["second", "b"], [{"k": 2}, None]))
    assert inserted == 1
    assert sequence == 2  # only b was logged
    got = get_all(store, cid)
    assert got.ids == ["a", "b"]
    assert got.documents[0] == "first" and got.metadatas[0] == {"k": 1}
    np.testing.assert_array_equal(got.vectors[0], vecs(1)[0])


def test_duplicate_ids_in_one_request_are_rejected(store):
    cid = new_collection(store)
    with pytest.raises(errors.DuplicateIDError, match=r"ids\[2\]: id 'a' also appears at ids\[0\]"):
        store.write(store_records.add, cid, RecordWrite(["a", "b", "a"], vecs(3)))
    assert store.read(store_records.count, cid) == 0


def test_upsert_inserts_new_and_merges_existing(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(
        ["a", "b"], vecs(2), ["doc a", "doc b"],
        [{"keep": 1, "change": "old", "drop": True, "list": ["x"]}, {"k": 1}]))
    sequence, inserted, updated = store.write(store_records.upsert, cid, RecordWrite(
        ["a", "c"], vecs(2, start=50), [None, "doc c"],
        [{"change": "new", "drop": DELETE, "list": 3}, {"k": DELETE, "c": 1}]))
    assert (inserted, updated) == (1, 1)
    got = get_all(store, cid)
    assert got.ids == ["a", "b", "c"]
    assert got.documents == ["doc a", "doc b", "doc c"]  # a's document kept (not given)
    assert got.metadatas == [{"keep": 1, "change": "new", "list": 3}, {"k": 1}, {"c": 1}]
    np.testing.assert_array_equal(got.vectors[0], vecs(2, start=50)[0])  # vector replaced
    # a list may replace a scalar too, and removing every key leaves no metadata
    store.write(store_records.update, cid, RecordWrite(
        ["a"], metadatas=[{"keep": DELETE, "change": DELETE, "list": ["p", "q"]}]))
    store.write(store_records.update, cid, RecordWrite(["b"], metadatas=[{"k": DELETE}]))
    got = get_all(store, cid)
    assert got.metadatas[:2] == [{"list": ["p", "q"]}, None]
    assert sequence == 4  # log: a, b (add) then a (update) and c (insert)


def test_update_ignores_unknown_ids_and_keeps_vectors_when_not_given(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a", "b"], vecs(2), ["x", "y"]))
    sequence, updated = store.write(store_records.update, cid, RecordWrite(
        ["b", "zzz"], documents=["new y", "ignored"]))
    assert updated == 1
    assert sequence == 2  # no vector written: the collection's current position
    got = get_all(store, cid)
    assert got.documents == ["x", "new y"]
    np.testing.assert_array_equal(got.vectors, vecs(2))
    assert [op for _, op, _ in log_entries(store, cid)] == [LOG_UPSERT, LOG_UPSERT]


def test_a_failing_batch_writes_nothing(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a"], vecs(1), ["doc"], [{"k": 1}]))
    # A real SQLite failure late in the batch: after the records, log rows and full-text rows
    # were written, the metadata insert of the last record aborts.
    store.write(lambda conn: conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON embedding_metadata WHEN NEW.key = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"))
    batch = RecordWrite(["b", "c", "d"], vecs(3), ["doc b", "doc c", "doc d"],
                        [{"k": 2}, {"k": 3}, {"boom": 1}])
    with pytest.raises(Exception, match="injected failure"):
        store.write(store_records.add, cid, batch)
    with pytest.raises(Exception, match="injected failure"):
        store.write(store_records.upsert, cid, RecordWrite(
            ["a", "e"], vecs(2, start=9), ["changed", "e"], [{"k": 9}, {"boom": 1}]))
    got = get_all(store, cid)
    assert got.ids == ["a"] and got.documents == ["doc"] and got.metadatas == [{"k": 1}]
    np.testing.assert_array_equal(got.vectors, vecs(1))
    assert log_entries(store, cid) == [(1, LOG_UPSERT, 1)]
    fts = store.read(lambda c: c.execute(
        "SELECT rowid, document FROM embedding_fulltext_search").fetchall())
    assert fts == [(1, "doc")]
    # and the next successful write continues the sequence without a gap
    assert store.write(store_records.add, cid, RecordWrite(["b"], vecs(1)))[0] == 2


def test_first_write_fixes_the_dimension(store):
    cid = new_collection(store)
    assert store.read(store_collections.get_collection_by_id, cid).dimension is None
    store.write(store_records.add, cid, RecordWrite(["a"], vecs(1, dim=4)))
    assert store.read(store_collections.get_collection_by_id, cid).dimension == 4
    for write, batch in [
        (store_records.add, RecordWrite(["b"], vecs(1, dim=5))),
        (store_records.upsert, RecordWrite(["a"], vecs(1, dim=3))),
        (store_records.update, RecordWrite(["a"], vecs(1, dim=2))),
    ]:
        with pytest.raises(errors.InvalidDimensionException,
                           match=r"dimension \d does not match the collection's dimension 4"):
            store.write(write, cid, batch)
    assert store.read(store_records.count, cid) == 1
    assert len(log_entries(store, cid)) == 1


def test_a_rejected_first_write_does_not_fix_the_dimension(store):
    cid = new_collection(store)
    with pytest.raises(errors.DuplicateIDError):
        store.write(store_records.add, cid, RecordWrite(["a", "a"], vecs(2, dim=7)))
    assert store.read(store_collections.get_collection_by_id, cid).dimension is None


def test_log_rows_and_sequences(store):
    one, two = new_collection(store, "one"), new_collection(store, "two")
    assert store.write(store_records.add, one, RecordWrite(["a", "b", "c"], vecs(3)))[0] == 3
    assert store.write(store_records.add, two, RecordWrite(["x"], vecs(1)))[0] == 4
    # sequence numbers are global and monotonic; a collection's position is its last one
    assert store.write(store_records.update, one, RecordWrite(["b"], vecs(1, start=7)))[0] == 5
    sequence, deleted = store.write(store_records.delete, one, RecordSelection(ids=["a", "zz"]))
    assert (sequence, deleted) == (6, 1)
    assert store.read(store_log.position, one) == 6
    assert store.read(store_log.position, two) == 4
    # the UPSERT of deleted record a (label 1) is omitted; its DELETE follows
    assert log_entries(store, one) == [(2, LOG_UPSERT, 2), (3, LOG_UPSERT, 3),
                                       (5, LOG_UPSERT, 2), (6, LOG_DELETE, 1)]
    page = store.read(store_log.read, one, 0, 0)
    np.testing.assert_array_equal(page.vectors, np.stack([vecs(1, start=7)[0], vecs(3)[2],
                                                          vecs(1, start=7)[0]]))
    assert (page.read_through, page.more) == (6, False)
    # paging by limit: read_through counts examined entries, including omitted ones
    first = store.read(store_log.read, one, 0, 2)
    assert (first.sequences, first.read_through, first.more) == ([2], 2, True)
    rest = store.read(store_log.read, one, first.read_through, 2)
    assert (rest.sequences, rest.read_through, rest.more) == ([3, 5], 5, True)
    last = store.read(store_log.read, one, rest.read_through, 2)
    assert (last.sequences, last.more) == ([6], False)
    assert store.read(store_log.read, one, 6, 0).read_through == 6


def test_delete_needs_ids_or_a_filter(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a"], vecs(1)))
    with pytest.raises(errors.InvalidArgumentError, match="delete needs ids, where or where_document"):
        store.write(store_records.delete, cid, RecordSelection())
    assert store.write(store_records.delete, cid, RecordSelection(ids=[]))[1] == 0


def test_get_orders_by_insertion_and_applies_limit_offset(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["c", "a", "b", "d"], vecs(4)))
    got = get_all(store, cid, ids=["d", "a", "missing", "c"])
    assert got.ids == ["c", "a", "d"]
    page = store.read(store_records.get, cid, RecordSelection(), 2, 1, Include(False, False))
    assert page.ids == ["a", "b"] and page.documents is None and page.metadatas is None
    assert store.read(store_records.get, cid, RecordSelection(), None, 3, ALL_FIELDS).ids == ["d"]


def test_fetch_by_labels_keeps_request_order_and_skips_missing(store):
    cid, other = new_collection(store), new_collection(store, "other")
    store.write(store_records.add, cid, RecordWrite(["a", "b", "c"], vecs(3), ["A", "B", "C"]))
    store.write(store_records.add, other, RecordWrite(["z"], vecs(1)))  # label 4
    store.write(store_records.delete, cid, RecordSelection(ids=["b"]))
    collection, position, found = store.read(store_records.fetch_by_labels, cid,
                                             [3, 2, 4, 1, 99], ALL_FIELDS)
    # The snapshot's collection and log position come along (gateway's two-hop queries).
    assert collection.id == cid
    assert position == store.read(store_records.query_target, cid).log_sequence > 0
    assert found.labels == [3, 1] and found.ids == ["c", "a"] and found.documents == ["C", "A"]
    np.testing.assert_array_equal(found.vectors, vecs(3)[[2, 0]])


def test_scan_pages_share_one_snapshot(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite([f"r{i}" for i in range(5)], vecs(5)))
    store.write(store_records.delete, cid, RecordSelection(ids=["r1"]))
    pages = store.stream(store_log.scan, cid, 2)
    labels, array, snapshot = next(pages)
    # a write between pages is not seen by the rest of the scan
    store.write(store_records.add, cid, RecordWrite(["late"], vecs(1)))
    rest = list(pages)
    assert labels == [1, 3] and [p[0] for p in rest] == [[4, 5]]
    assert snapshot == 6 and all(p[2] == 6 for p in rest)
    np.testing.assert_array_equal(np.concatenate([array, rest[0][1]]), vecs(5)[[0, 2, 3, 4]])


def test_scan_of_an_empty_collection_sends_one_empty_page(store):
    cid = new_collection(store)
    assert [(p[0], p[2]) for p in store.stream(store_log.scan, cid, 0)] == [([], 0)]


def test_prepare_query(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a", "b", "c"], vecs(3)))
    target, allowed = store.read(store_records.prepare_query, cid, RecordSelection())
    assert (target.collection.dimension, target.log_sequence, allowed, target.record_count) \
        == (3, 3, None, 3)
    _, allowed = store.read(store_records.prepare_query, cid, RecordSelection(ids=["c", "a"]))
    assert allowed.dtype == np.int64 and allowed.tolist() == [1, 3]
    _, allowed = store.read(store_records.prepare_query, cid, RecordSelection(ids=["zz"]))
    assert allowed.tolist() == []


def test_unknown_collection_is_not_found(store):
    for fn, args in [(store_records.add, (RecordWrite(["a"], vecs(1)),)),
                     (store_records.count, ()), (store_log.read, (0, 0))]:
        with pytest.raises(errors.NotFoundError, match="collection 'nope' does not exist"):
            store.write(fn, "nope", *args)


def test_documents_stay_searchable_after_updates_and_deletes(store):
    cid = new_collection(store)
    store.write(store_records.add, cid, RecordWrite(["a", "b"], vecs(2), ["alpha one", "beta two"]))
    store.write(store_records.update, cid, RecordWrite(["a"], documents=["gamma three"]))
    store.write(store_records.delete, cid, RecordSelection(ids=["b"]))
    fts = store.read(lambda c: c.execute(
        "SELECT rowid, document FROM embedding_fulltext_search ORDER BY rowid").fetchall())
    assert fts == [(1, "gamma three")]
    store.write(store_collections.delete_collection, "", "", "records")
    assert store.read(lambda c: c.execute(
        "SELECT COUNT(*) FROM embedding_fulltext_search").fetchone()) == (0,)


def test_an_update_of_unknown_ids_does_not_fix_the_dimension(store):
    cid = new_collection(store)
    assert store.write(store_records.update, cid, RecordWrite(["ghost"], vecs(1, dim=9)))[1] == 0
    assert store.read(store_collections.get_collection_by_id, cid).dimension is None
