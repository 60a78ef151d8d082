"""Maintenance SQL: the maintenance_runs table (migration 0004), the applied-log purge and
SQLite's own VACUUM / WAL checkpoint.

Plain functions of a connection, like the other store_* modules. `purge_applied_log` runs in
a write transaction (Store.write); `checkpoint_wal` and `vacuum` must run outside any
transaction on the writer connection (Store.exclusive): SQLite refuses VACUUM inside one.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from metadata_worker import store_log
from metadata_worker.domain import VECTOR_SCOPE

KIND_VACUUM = "vacuum"
KIND_MIGRATE_BACKUP = "migrate-backup"


@dataclass(frozen=True)
class MaintenanceRun:
    id: int
    kind: str
    started_at: str
    finished_at: str
    bytes_before: int
    bytes_after: int
    details: dict[str, Any]


def record_run(conn: sqlite3.Connection, kind: str, started_at: str, finished_at: str,
               bytes_before: int, bytes_after: int, details: dict[str, Any]) -> int:
    """Add one finished run; returns its id."""
    cursor = conn.execute(
        "INSERT INTO maintenance_runs (kind, started_at, finished_at, bytes_before, "
        "bytes_after, details_json) VALUES (?, ?, ?, ?, ?, ?)",
        (kind, started_at, finished_at, int(bytes_before), int(bytes_after),
         json.dumps(details, sort_keys=True)),
    )
    return int(cursor.lastrowid)


def recent_runs(conn: sqlite3.Connection, kind: str | None = None,
                limit: int = 20) -> list[MaintenanceRun]:
    """The newest runs first (of one kind, or all)."""
    rows = conn.execute(
        "SELECT id, kind, started_at, finished_at, bytes_before, bytes_after, details_json "
        "FROM maintenance_runs WHERE (? IS NULL OR kind = ?) ORDER BY id DESC LIMIT ?",
        (kind, kind, limit),
    ).fetchall()
    return [MaintenanceRun(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]


def purge_applied_log(conn: sqlite3.Connection) -> int:
    """Delete every collection's log entries that all of its vector segments have saved
    (the lowest checkpoint); returns how many entries went.

    Each ReportPersisted already purges its own collection, so this mostly finds nothing; it
    catches what a failed purge after a report left behind. A collection with a vector
    segment that never reported a save keeps its log: that segment may still replay it.
    """
    before = store_log.count_entries(conn)
    rows = conn.execute(
        "SELECT s.collection, MIN(COALESCE(k.persisted_sequence, -1)) FROM segments s "
        "LEFT JOIN segment_checkpoints k ON k.segment_id = s.id "
        "WHERE s.scope = ? GROUP BY s.collection",
        (VECTOR_SCOPE,),
    ).fetchall()
    for collection_id, everyone_has in rows:
        if everyone_has > 0:
            store_log.purge(conn, collection_id, everyone_has)
    return before - store_log.count_entries(conn)


@dataclass(frozen=True)
class Checkpoint:
    busy: bool          # readers on an older snapshot kept the -wal file from being reset
    wal_frames: int
    checkpointed_frames: int


def checkpoint_wal(conn: sqlite3.Connection, busy_timeout_ms: int | None = None) -> Checkpoint:
    """Copy the -wal file into the database and truncate it to 0 bytes (TRUNCATE), unless a
    reader still needs it (busy: the pages are copied as far as possible, the file stays).
    `busy_timeout_ms` bounds the wait for such readers (the connection's own otherwise)."""
    (previous,) = conn.execute("PRAGMA busy_timeout").fetchone()
    if busy_timeout_ms is not None:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    try:
        busy, frames, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        if busy_timeout_ms is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(previous)}")
    return Checkpoint(bool(busy), max(frames, 0), max(done, 0))


def vacuum(conn: sqlite3.Connection, busy_timeout_ms: int | None = None) -> Checkpoint:
    """SQLite's VACUUM (rewrite the database without free pages), between two TRUNCATE
    checkpoints: VACUUM writes every page through the -wal file, so without the second one
    the -wal file would stay as large as the database. Returns the second checkpoint."""
    checkpoint_wal(conn, busy_timeout_ms)
    conn.execute("VACUUM")
    return checkpoint_wal(conn, busy_timeout_ms)


@dataclass(frozen=True)
class Pages:
    page_size: int
    page_count: int
    free_pages: int


def pages(conn: sqlite3.Connection) -> Pages:
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (page_count,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    return Pages(page_size, page_count, free)
