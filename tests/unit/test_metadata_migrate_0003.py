"""Migration 0003 (exact record counts, segment-scoped covering metadata indexes) on a
database written by versions 1-2: counts are exact, every metadata row learns its segment,
filters answer as before, and the old indexes are gone."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from segmentdb.v1 import common_pb2 as pb

from metadata_worker import filters, migrate, store_records
from metadata_worker.domain import Include, RecordSelection
import old_schema
from metadata_worker.store import DB_FILENAME, Store, connect


@pytest.fixture()
def only_0002(tmp_path):
    folder = tmp_path / "migrations-v2"
    folder.mkdir()
    for name in ("0001-initial.sql", "0002-segment-checkpoints.sql"):
        shutil.copy(migrate.MIGRATIONS_DIR / name, folder)
    return folder


def make_v2_database(data, migrations) -> dict[str, str]:
    """Two collections written with version-2 SQL: 'a' with 4 records (one deleted again),
    scalar and list metadata; 'b' with 2 records sharing a's metadata values. Returns
    {name: collection id}."""
    data.mkdir()
    conn = connect(data / DB_FILENAME)
    assert migrate.apply(conn, migrations) == [1, 2]
    ids = {}
    label = 0
    for name, records in (("a", [("a1", "red", 1, ["x", "y"]), ("a2", "blue", 2, None),
                                 ("a3", "red", 3, ["y"]), ("a4", "red", 4, None)]),
                          ("b", [("b1", "red", 1, ["y"]), ("b2", "blue", 5, None)])):
        collection = old_schema.create_collection(conn, name)
        ids[name] = collection.id
        for record_id, colour, n, tags in records:
            label += 1
            conn.execute("INSERT INTO embeddings (id, segment_id, embedding_id, vector) "
                         "VALUES (?, ?, ?, ?)", (label, collection.metadata_segment_id,
                                                 record_id, np.ones(2, np.float32).tobytes()))
            conn.executemany("INSERT INTO embedding_metadata (id, key, string_value, int_value) "
                             "VALUES (?, ?, ?, ?)",
                             [(label, "colour", colour, None), (label, "n", None, n)])
            for position, tag in enumerate(tags or []):
                conn.execute("INSERT INTO embedding_metadata_array (id, key, position, "
                             "string_value) VALUES (?, 'tags', ?, ?)", (label, position, tag))
    conn.execute("DELETE FROM embeddings WHERE embedding_id = 'a4'")  # cascades metadata
    conn.close()
    return ids


def where(key: str, op, value: pb.MetadataValue) -> RecordSelection:
    return RecordSelection(conditions=[filters.compile_where(pb.Where(
        condition=pb.FieldCondition(key=key, operator=op, value=value)))])


def test_0003_upgrades_a_version_2_database(tmp_path, only_0002):
    data = tmp_path / "data"
    ids = make_v2_database(data, only_0002)
    store = Store(data)
    try:
        assert store.read(lambda c: c.execute("SELECT version FROM migrations WHERE "
                                              "version = 3").fetchone()) == (3,)
        assert store.read(store_records.count, ids["a"]) == 3
        assert store.read(store_records.count, ids["b"]) == 2
        assert store.read(lambda c: c.execute(
            "SELECT COUNT(*) FROM embedding_metadata WHERE segment_id = '' UNION ALL "
            "SELECT COUNT(*) FROM embedding_metadata_array WHERE segment_id = ''").fetchall()
        ) == [(0,), (0,)]

        def matching(name, selection):
            found = store.read(store_records.get, ids[name], selection, None, 0,
                               Include(False, False))
            return found.ids

        red = where("colour", pb.COMPARISON_OPERATOR_EQ, pb.MetadataValue(string_value="red"))
        assert matching("a", red) == ["a1", "a3"] and matching("b", red) == ["b1"]
        small = where("n", pb.COMPARISON_OPERATOR_LTE, pb.MetadataValue(float_value=2.0))
        assert matching("a", small) == ["a1", "a2"] and matching("b", small) == ["b1"]
        has_y = where("tags", pb.COMPARISON_OPERATOR_CONTAINS, pb.MetadataValue(string_value="y"))
        assert matching("a", has_y) == ["a1", "a3"] and matching("b", has_y) == ["b1"]
        not_red = where("colour", pb.COMPARISON_OPERATOR_NE, pb.MetadataValue(string_value="red"))
        assert matching("a", not_red) == ["a2"]

        indexes = dict(store.read(lambda c: c.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name LIKE 'embedding_metadata%' AND sql IS NOT NULL").fetchall()))
        assert len(indexes) == 8
        assert all("(segment_id, key," in sql and ", id)" in sql and "IS NOT NULL" in sql
                   for sql in indexes.values()), indexes

        # New writes keep both the count and the segment column up to date.
        store.write(store_records.delete, ids["a"], red)
        assert store.read(store_records.count, ids["a"]) == 1
    finally:
        store.close()
    Store(data).close()  # reopening applies nothing and verifies the checksums
