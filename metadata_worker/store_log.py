"""The write-ahead log (embeddings_log) and what vector workers read: catch-up and rebuild.

A collection's LOG POSITION is MAX(its last remaining entry, collections.log_purged_through):
purging entries every segment has persisted (store_checkpoints) never moves a position
backwards, so readers never wait for, or ask for, entries that were purged.

Sequence numbers and labels are assigned here explicitly from sqlite_sequence. That is
safe because every write runs on the single writer connection under the store's lock
(and the folder lock keeps other processes out), and it lets a batch of 50,000 rows be
inserted with one executemany without reading the generated ids back.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

import numpy as np

from segmentdb import vectors

from metadata_worker import store_collections
from metadata_worker.domain import LOG_UPSERT, LogPage

DEFAULT_READ_LIMIT = 10_000
DEFAULT_SCAN_PAGE = 5_000


def next_id(conn: sqlite3.Connection, table: str) -> int:
    """The next AUTOINCREMENT value of `table` ('embeddings' or 'embeddings_log')."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return (row[0] if row else 0) + 1


def append(conn: sqlite3.Connection, collection_id: str, entries: list[tuple[int, int]]) -> list[int]:
    """Log [(operation, label)]; returns their sequence numbers, in order."""
    if not entries:
        return []
    first = next_id(conn, "embeddings_log")
    seqs = list(range(first, first + len(entries)))
    conn.executemany(
        "INSERT INTO embeddings_log (seq_id, collection_id, operation, label) VALUES (?, ?, ?, ?)",
        [(seq, collection_id, op, label) for seq, (op, label) in zip(seqs, entries)],
    )
    return seqs


def position(conn: sqlite3.Connection, collection_id: str) -> int:
    """The collection's log position: its last logged sequence number, counting purged
    entries (0 if it never logged anything or does not exist)."""
    row = conn.execute(
        "SELECT MAX(c.log_purged_through, COALESCE("
        "  (SELECT MAX(seq_id) FROM embeddings_log WHERE collection_id = c.id), 0)) "
        "FROM collections c WHERE c.id = ?",
        (collection_id,),
    ).fetchone()
    return row[0] if row else 0


def purged_through(conn: sqlite3.Connection, collection_id: str) -> int:
    """The collection's entries up to here were purged (0 if none or no such collection)."""
    row = conn.execute("SELECT log_purged_through FROM collections WHERE id = ?",
                       (collection_id,)).fetchone()
    return row[0] if row else 0


def purge(conn: sqlite3.Connection, collection_id: str, through: int) -> int:
    """Delete the collection's entries with seq_id <= `through` (never backwards: a lower
    `through` than already purged does nothing). Returns the new purged_through."""
    current = purged_through(conn, collection_id)
    if through <= current:
        return current
    # A range on the (collection_id, seq_id) index: touches only the rows it deletes.
    conn.execute("DELETE FROM embeddings_log WHERE collection_id = ? AND seq_id <= ?",
                 (collection_id, through))
    conn.execute("UPDATE collections SET log_purged_through = ? WHERE id = ?",
                 (through, collection_id))
    return through


def count_entries(conn: sqlite3.Connection) -> int:
    """Entries in the whole log (not yet purged)."""
    return conn.execute("SELECT COUNT(*) FROM embeddings_log").fetchone()[0]


def read(conn: sqlite3.Connection, collection_id: str, after: int, limit: int) -> LogPage:
    """Entries after `after`, in order; UPSERTs whose record is gone are left out.

    The page carries purged_through: when `after` is below it, entries between were purged
    and the reader must rebuild from `scan` instead of replaying.

    The vector sent with an UPSERT is the record's current one: replaying an older entry
    with a newer vector is harmless because the newer entry follows it.
    """
    collection = store_collections.get_collection_by_id(conn, collection_id)
    dimension = collection.dimension or 0
    limit = limit or DEFAULT_READ_LIMIT
    rows = conn.execute(
        "SELECT l.seq_id, l.operation, l.label, e.vector FROM embeddings_log l "
        "LEFT JOIN embeddings e ON e.id = l.label "
        "WHERE l.collection_id = ? AND l.seq_id > ? ORDER BY l.seq_id LIMIT ?",
        (collection_id, after, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    page = LogPage([], [], [], np.zeros((0, dimension), np.float32),
                   read_through=rows[-1][0] if rows else after, more=more,
                   purged_through=purged_through(conn, collection_id))
    blobs = []
    for seq, op, label, blob in rows:
        if op == LOG_UPSERT:
            if blob is None:
                continue  # deleted since; its DELETE entry follows
            blobs.append(blob)
        page.sequences.append(seq)
        page.operations.append(op)
        page.labels.append(label)
    page.vectors = vectors.rows(blobs, dimension)
    return page


def scan(conn: sqlite3.Connection, collection_id: str,
         page_size: int) -> Iterator[tuple[list[int], np.ndarray, int]]:
    """(labels, vectors, snapshot_sequence) pages of every live vector; the caller holds
    `conn` in one read transaction, so every page comes from the same snapshot."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    dimension = collection.dimension or 0
    page_size = page_size or DEFAULT_SCAN_PAGE
    snapshot = position(conn, collection_id)
    cursor = conn.execute(
        "SELECT id, vector FROM embeddings WHERE segment_id = ? AND vector IS NOT NULL "
        "ORDER BY id",
        (collection.metadata_segment_id,),
    )
    sent = False
    while True:
        rows = cursor.fetchmany(page_size)
        if not rows:
            break
        sent = True
        yield [r[0] for r in rows], vectors.rows([r[1] for r in rows], dimension), snapshot
    if not sent:
        yield [], np.zeros((0, dimension), np.float32), snapshot
