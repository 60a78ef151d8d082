"""Migration 0002 (segment checkpoints, log purge) on a database created by 0001 alone:
the upgrade path keeps every record and log position, and 0002 obeys the checksum rules."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from metadata_worker import migrate, store_checkpoints, store_collections
from metadata_worker import store_log, store_records
from metadata_worker.domain import Include, RecordSelection
import old_schema
from metadata_worker.store import DB_FILENAME, Store, connect

V2 = "0002-segment-checkpoints.sql"


@pytest.fixture()
def only_0001(tmp_path):
    folder = tmp_path / "migrations-v1"
    folder.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001-initial.sql", folder)
    return folder


def make_v1_database(data, migrations_v1) -> tuple[str, str, np.ndarray]:
    """A version-1 database holding one collection with 3 records and 4 log entries
    (3 upserts, then a delete), written with version-1 SQL. Returns (collection id,
    vector segment id, vectors)."""
    data.mkdir()
    conn = connect(data / DB_FILENAME)
    assert migrate.apply(conn, migrations_v1) == [1]
    collection = old_schema.create_collection(conn, "old")
    array = np.random.default_rng(3).random((3, 4), dtype=np.float32)
    conn.execute("UPDATE collections SET dimension = 4 WHERE id = ?", (collection.id,))
    for label, (record_id, row) in enumerate(zip(["a", "b", "c"], array), start=1):
        conn.execute("INSERT INTO embeddings (id, segment_id, embedding_id, seq_id, vector) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (label, collection.metadata_segment_id, record_id, label, row.tobytes()))
        conn.execute("INSERT INTO embeddings_log (collection_id, operation, label) VALUES (?, 1, ?)",
                     (collection.id, label))
    conn.execute("DELETE FROM embeddings WHERE id = 2")
    conn.execute("INSERT INTO embeddings_log (collection_id, operation, label) VALUES (?, 2, 2)",
                 (collection.id,))
    conn.close()
    return collection.id, collection.vector_segment_id, array


def test_0002_upgrades_a_version_1_database_keeping_records_and_positions(tmp_path, only_0001):
    data = tmp_path / "data"
    cid, vector_segment, array = make_v1_database(data, only_0001)
    store = Store(data)  # applies 0002 (and every later migration)
    try:
        recorded = store.read(lambda c: c.execute(
            "SELECT version, filename, sha256 FROM migrations ORDER BY version").fetchall())
        files = {m.version: m for m in migrate.available()}
        assert [(v, f) for v, f, _ in recorded][:2] == [(1, "0001-initial.sql"), (2, V2)]
        assert [v for v, _, _ in recorded] == sorted(files)
        for version, _, sha in recorded:
            path = migrate.MIGRATIONS_DIR / files[version].filename
            assert sha == hashlib.sha256(path.read_bytes()).hexdigest()

        assert store.read(store_log.position, cid) == 4
        assert store.read(store_log.purged_through, cid) == 0
        got = store.read(store_records.get, cid, RecordSelection(), None, 0,
                         Include(embeddings=True))
        assert got.ids == ["a", "c"]
        assert got.vectors.tobytes() == array[[0, 2]].tobytes()
        assert store.read(store_log.read, cid, 0, 0).sequences == [1, 3, 4]

        # The new tables work on the upgraded data.
        collection = store.read(store_collections.get_collection_by_id, cid)
        assert store.write(store_checkpoints.report_persisted, vector_segment, cid, 3) == 3
        assert store.read(store_log.read, cid, 3, 0).sequences == [4]
        assert store.read(store_log.position, cid) == 4
        assert collection.vector_segment_id == vector_segment
    finally:
        store.close()
    # Reopening applies nothing new and verifies both checksums.
    Store(data).close()


def test_0002_obeys_the_checksum_rules(tmp_path, only_0001):
    both = tmp_path / "migrations-v2"
    shutil.copytree(only_0001, both)
    shutil.copy(migrate.MIGRATIONS_DIR / V2, both)
    conn = connect(tmp_path / "db.sqlite3")
    assert migrate.apply(conn, only_0001) == [1]
    assert migrate.apply(conn, both) == [2]
    assert migrate.apply(conn, both) == []
    # Code that knows only version 1 refuses the upgraded database (no downgrades)...
    with pytest.raises(migrate.MigrationError, match="migrated to version 2"):
        migrate.apply(conn, only_0001)
    # ...and an edit to the applied 0002 stops start-up.
    path = both / V2
    path.write_text(path.read_text() + "\n-- edited after release\n")
    with pytest.raises(migrate.MigrationError, match=f"'{V2}' \\(version 2\\) was edited"):
        migrate.apply(conn, both)


def test_0002_is_atomic_with_its_bookkeeping_row(tmp_path, only_0001):
    """A failure inside 0002 leaves the database at version 1, with no half-added column."""
    broken = tmp_path / "migrations-broken"
    shutil.copytree(only_0001, broken)
    (broken / V2).write_text((migrate.MIGRATIONS_DIR / V2).read_text() + "\nNOT SQL;\n")
    conn = connect(tmp_path / "db.sqlite3")
    migrate.apply(conn, only_0001)
    with pytest.raises(migrate.MigrationError, match="rolled back"):
        migrate.apply(conn, broken)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(collections)")]
    assert "log_purged_through" not in columns
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'segment_checkpoints'"
                        ).fetchone() is None
    assert conn.execute("SELECT MAX(version) FROM migrations").fetchone() == (1,)

