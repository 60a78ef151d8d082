"""Storage statistics of the metadata worker: log length, SQLite size, collections, records.

Counts come from one read snapshot. COUNT(*) over embeddings_log walks its smallest index
without decoding rows, and purging keeps the log short, so this is cheap to call often.
"""

from __future__ import annotations

import sqlite3

from metadata_worker import store_log
from metadata_worker.domain import StorageStats
from metadata_worker.store import Store
from segmentdb.maintenance import database_bytes


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    collections = conn.execute("SELECT COUNT(*) FROM collections").fetchone()[0]
    records = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    return store_log.count_entries(conn), collections, records


def storage_stats(store: Store) -> StorageStats:
    log_entries, collections, records = store.read(_counts)
    return StorageStats(log_entries=log_entries, sqlite_bytes=database_bytes(store.db_path),
                        collections=collections, records=records)
