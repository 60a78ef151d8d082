"""Migration 0005 (import_progress): an existing database gains the table, data intact, and
the table behaves as the import relies on (one row per collection and import id, gone with
its collection)."""

from __future__ import annotations

import sqlite3

import pytest

from metadata_worker import migrate, store_collections
from metadata_worker.store import Store, connect


def test_0005_adds_import_progress_to_an_existing_database(tmp_path):
    data = tmp_path / "data"
    store = Store(data)
    try:
        collection, _ = store.write(store_collections.create_collection, "", "", "keep",
                                    None, {"space": "l2"}, False)
    finally:
        store.close()
    # Make it a database from before 0005: drop the table and its record (and undo 0006,
    # which came after it).
    conn = connect(data / "chroma.sqlite3")
    conn.execute("DROP TABLE import_progress")
    conn.execute("ALTER TABLE collections DROP COLUMN embedding_function_json")
    conn.execute("DELETE FROM migrations WHERE version IN (5, 6)")
    conn.close()

    store = Store(data)  # migrates again
    try:
        versions = store.read(lambda c: [v for (v,) in c.execute("SELECT version FROM migrations")])
        assert 5 in versions
        assert store.read(store_collections.get_collection_by_id, collection.id).name == "keep"

        def record(conn):
            conn.execute("INSERT INTO import_progress (collection_id, import_id, "
                         "committed_records, committed_chunks) VALUES (?, 'i', 10, 1)",
                         (collection.id,))

        store.write(record)
        with pytest.raises(sqlite3.IntegrityError):
            store.write(record)  # one row per (collection, import id)
        store.write(store_collections.delete_collection, "", "", "keep")
        assert store.read(lambda c: c.execute("SELECT COUNT(*) FROM import_progress")
                          .fetchone()[0]) == 0
    finally:
        store.close()


def test_0005_is_among_the_known_migrations():
    assert any(m.filename == "0005-import-progress.sql" for m in migrate.available())
