"""collections.record_count (migration 0003) stays exactly the number of the collection's rows
through every write path, a rolled-back write and a kill -9 in the middle of writing; and
the query path's SQL uses the indexes it was written for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from segmentdb.v1 import common_pb2 as pb

from metadata_worker import collection_config, filters, store_collections, store_records
from metadata_worker.domain import Include, RecordSelection, RecordWrite
from metadata_worker.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def new_collection(store: Store, name: str) -> str:
    collection, _ = store.write(store_collections.create_collection, "", "", name, None,
                                collection_config.resolve_create({}, None), False)
    return collection.id


def batch(ids: list[str], metadatas=None) -> RecordWrite:
    return RecordWrite(ids, np.ones((len(ids), 3), np.float32), None, metadatas)


def rows_of(store: Store, cid: str) -> int:
    collection = store.read(store_collections.get_collection_by_id, cid)
    return store.read(lambda c: c.execute("SELECT COUNT(*) FROM embeddings WHERE segment_id = ?",
                                          (collection.metadata_segment_id,)).fetchone()[0])


def assert_exact(store: Store, *cids: str) -> None:
    for cid in cids:
        counted = store.read(store_records.count, cid)
        target, _ = store.read(store_records.prepare_query, cid, RecordSelection())
        assert counted == target.record_count == rows_of(store, cid)


def where_eq(key: str, value: str) -> pb.Where:
    return pb.Where(condition=pb.FieldCondition(key=key, operator=pb.COMPARISON_OPERATOR_EQ,
                                                value=pb.MetadataValue(string_value=value)))


def test_count_follows_every_write_path(store):
    a, b = new_collection(store, "count-a"), new_collection(store, "count-b")
    assert_exact(store, a, b)
    store.write(store_records.add, a, batch(["1", "2", "3"], [{"k": "x"}, {"k": "y"}, None]))
    store.write(store_records.add, b, batch(["1"]))
    assert store.read(store_records.count, a) == 3
    store.write(store_records.add, a, batch(["3", "4"]))            # "3" exists: one insert
    store.write(store_records.upsert, a, batch(["4", "5", "6"]))    # 1 update, 2 inserts
    store.write(store_records.update, a, batch(["1", "nope"]))      # no new records
    assert store.read(store_records.count, a) == 6
    assert_exact(store, a, b)
    store.write(store_records.delete, a, RecordSelection(ids=["1", "nope"]))
    store.write(store_records.delete, a, RecordSelection(
        conditions=[filters.compile_where(where_eq("k", "y"))]))
    store.write(store_records.delete, a, RecordSelection(ids=["1"]))  # already gone
    assert store.read(store_records.count, a) == 4
    assert store.read(store_records.count, b) == 1
    assert_exact(store, a, b)
    store.write(store_collections.delete_collection, "", "", "count-b")
    assert store.read(lambda c: c.execute("SELECT SUM(record_count) FROM collections"
                                          ).fetchone()[0]) == 4


def test_a_rolled_back_write_leaves_the_count_unchanged(store):
    cid = new_collection(store, "rollback")
    store.write(store_records.add, cid, batch(["a"]))

    def add_then_fail(conn):
        store_records.add(conn, cid, batch(["b", "c"]))
        store_records.delete(conn, cid, RecordSelection(ids=["a"]))
        raise RuntimeError("boom after writing")

    with pytest.raises(RuntimeError, match="boom"):
        store.write(add_then_fail)
    assert store.read(store_records.count, cid) == 1
    assert_exact(store, cid)


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from metadata_worker import store_records
    from metadata_worker.domain import RecordSelection, RecordWrite
    from metadata_worker.store import Store
    store = Store(sys.argv[1])
    cid = sys.argv[2]
    i = 0
    print("writing", flush=True)
    while True:
        ids = [f"r{i}-{j}" for j in range(50)]
        store.write(store_records.add, cid, RecordWrite(ids, np.ones((50, 3), np.float32)))
        store.write(store_records.delete, cid, RecordSelection(ids=ids[:7]))
        i += 1
""")


def test_count_is_exact_after_kill_9_mid_writes(tmp_path):
    data = tmp_path / "data"
    s = Store(data)
    cid = new_collection(s, "killed")
    s.close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data), cid], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout.readline().strip() == b"writing"
        time.sleep(1.0)  # many committed batches, one probably in flight
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    s = Store(data)
    try:
        assert s.read(store_records.count, cid) > 0
        assert_exact(s, cid)
    finally:
        s.close()


# -- the query path's SQL plans ------------------------------------------------------------

def _plan(store: Store, sql: str, params) -> str:
    return " | ".join(row[3] for row in store.read(
        lambda c: c.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()))


def test_filters_scan_covering_indexes_and_fetch_looks_labels_up_by_rowid(store):
    cid = new_collection(store, "plans")
    store.write(store_records.add, cid, batch(
        [f"r{i}" for i in range(20)], [{"cat": "ten" if i % 10 == 0 else "rest", "n": i}
                                       for i in range(20)]))
    collection = store.read(store_collections.get_collection_by_id, cid)
    for where in (where_eq("cat", "ten"), pb.Where(condition=pb.FieldCondition(
            key="n", operator=pb.COMPARISON_OPERATOR_GTE, value=pb.MetadataValue(int_value=5)))):
        sql, params = store_records._selection_sql(
            collection, RecordSelection(conditions=[filters.compile_where(where)]))
        plan = _plan(store, sql, params)
        assert "USING COVERING INDEX embedding_metadata_" in plan, plan
        assert "embeddings" not in plan.replace("embedding_metadata", ""), plan
    sql, params = store_records._selection_sql(collection, RecordSelection(ids=["r3", "r1"]))
    assert "sqlite_autoindex_embeddings_1 (segment_id=? AND embedding_id=?)" in _plan(
        store, sql, params)
    assert store.read(store_records.prepare_query, cid, RecordSelection(
        conditions=[filters.compile_where(where_eq("cat", "ten"))]))[1].tolist() == [1, 11]
    _, _, fetched = store.read(store_records.fetch_by_labels, cid, [11, 1, 999],
                               Include(False, False))
    assert (fetched.labels, fetched.ids) == ([11, 1], ["r10", "r0"])
