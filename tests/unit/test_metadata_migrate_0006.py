"""Migration 0006 (collections.embedding_function_json): a collection from before it keeps
NULL — no function recorded, reported as none, so nothing is embedded for it — while new
collections record the default; a modify can then set one."""

from __future__ import annotations

from metadata_worker import convert, migrate, store_collections
from metadata_worker.store import Store, connect

import old_schema

DEFAULT = {"type": "known", "name": "default", "config": {}}


def test_0006_leaves_old_collections_without_a_function(tmp_path):
    data = tmp_path / "data"
    Store(data).close()
    # Make it a database from before 0006, holding a collection written then.
    conn = connect(data / "chroma.sqlite3")
    conn.execute("ALTER TABLE collections DROP COLUMN embedding_function_json")
    conn.execute("DELETE FROM migrations WHERE version = 6")
    old = old_schema.create_collection(conn, "from-before")
    conn.commit()
    conn.close()

    store = Store(data)  # migrates to 6
    try:
        assert 6 in store.read(lambda c: [v for (v,) in c.execute("SELECT version FROM migrations")])
        before = store.read(store_collections.get_collection_by_id, old.id)
        assert before.embedding_function is None
        assert not convert.collection_to_proto(before).configuration.HasField("embedding_function")
        new, _ = store.write(store_collections.create_collection, "", "", "from-after", None,
                             before.hnsw, False)
        assert new.embedding_function == DEFAULT
        assert convert.collection_to_proto(new).configuration.embedding_function.name == "default"
        modified = store.write(store_collections.modify_collection, old.id, None, None, False, {},
                               DEFAULT)
        assert modified.embedding_function == DEFAULT
    finally:
        store.close()


def test_0006_is_among_the_known_migrations():
    assert any(m.filename == "0006-embedding-function.sql" for m in migrate.available())
