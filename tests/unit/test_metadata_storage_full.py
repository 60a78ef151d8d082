"""A full database in-process: `PRAGMA max_page_count` makes SQLite answer SQLITE_FULL exactly
as a full disk does. Writes fail with StorageFullError and leave nothing behind; the store
stays usable. (tests/integration/test_disk_full.py does the same with a real RLIMIT_FSIZE.)"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from segmentdb import errors

from metadata_worker import collection_config, store_collections, store_log, store_records
from metadata_worker.domain import Include, RecordSelection, RecordWrite
from metadata_worker.store import Store, storage_full_error


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def cap_database_pages(store: Store, extra_pages: int | None) -> None:
    # The limit is a property of the writer connection, so set it there.
    conn = store._writer_connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    limit = 2**31 - 2 if extra_pages is None else pages + extra_pages
    conn.execute(f"PRAGMA max_page_count = {limit}")


def batch(n: int, size: int = 200) -> RecordWrite:
    rng = np.random.default_rng(n)
    return RecordWrite(ids=[f"{n}-{i}" for i in range(size)],
                       vectors=rng.random((size, 32), dtype=np.float32),
                       documents=[f"document {n} {i} " * 8 for i in range(size)])


def test_a_full_database_refuses_the_write_and_keeps_everything_else(store):
    collection, _ = store.write(store_collections.create_collection, "", "", "full", None,
                                collection_config.resolve_create({}, None), False)
    store.write(store_records.add, collection.id, batch(0))
    cap_database_pages(store, 2)
    with pytest.raises(errors.StorageFullError) as info:
        store.write(store_records.add, collection.id, batch(1))
    assert info.value.code.name == "RESOURCE_EXHAUSTED"
    assert "is full" in info.value.message and "free some space and retry" in info.value.message
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)

    # Nothing of the failed batch, reads work, the log has only the first batch.
    ids = store.read(store_records.get, collection.id, RecordSelection(), None, 0,
                     Include(documents=False, metadatas=False)).ids
    assert ids == batch(0).ids
    assert len(store.read(store_log.read, collection.id, 0, 0).sequences) == 200

    cap_database_pages(store, None)  # space returns
    _, inserted = store.write(store_records.add, collection.id, batch(1))
    assert inserted == 200
    assert store.read(store_records.count, collection.id) == 400


def test_only_no_space_errors_become_storage_full(tmp_path):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as info:
        conn.execute("INSERT INTO t VALUES (1)")
    assert storage_full_error(info.value, tmp_path / "x.sqlite3") is None
    assert storage_full_error(ValueError("no"), tmp_path / "x.sqlite3") is None
