"""Persisted checkpoints of vector segments, and the log purge they allow.

After each successful save of a segment, a vector worker reports the log sequence number
the saved folder contains (ReportPersisted). The checkpoint is recorded as reported, and
the collection's log entries that every one of its vector segments has persisted are
deleted, in the same transaction. `collections.log_purged_through` remembers how far; it
never decreases, so a lower report (an older save overwrote the folder) is recorded but
purges nothing: that folder's reader will see purged_through above its sequence and rebuild.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

from segmentdb import errors

from metadata_worker import store_log
from metadata_worker.domain import VECTOR_SCOPE


def _check_segment(conn: sqlite3.Connection, segment_id: str, collection_id: str) -> None:
    if not segment_id:
        raise errors.InvalidArgumentError("segment_id: must name the vector segment that was saved")
    if not collection_id:
        raise errors.InvalidArgumentError("collection_id: must name the saved segment's collection")
    row = conn.execute("SELECT collection FROM segments WHERE id = ? AND scope = ?",
                       (segment_id, VECTOR_SCOPE)).fetchone()
    if row is None:
        raise errors.NotFoundError(
            f"segment_id: vector segment {segment_id!r} does not exist (its collection was "
            "deleted?); its folder can be removed"
        )
    if row[0] != collection_id:
        raise errors.InvalidArgumentError(
            f"collection_id: vector segment {segment_id!r} belongs to collection {row[0]!r}, "
            f"not {collection_id!r}; report the segment's own collection"
        )


def report_persisted(conn: sqlite3.Connection, segment_id: str, collection_id: str,
                     applied_sequence: int) -> int:
    """Record that `segment_id`'s folder holds the log through `applied_sequence`, purge
    what every vector segment of the collection has persisted; returns purged_through."""
    _check_segment(conn, segment_id, collection_id)
    log_position = store_log.position(conn, collection_id)
    if applied_sequence > log_position:
        # Only possible when the folder comes from another (or a newer copy of this)
        # database: replaying from it would skip entries, and purging up to it would make
        # the collection's future writes look already purged.
        raise errors.FailedPreconditionError(
            f"applied_sequence: {applied_sequence} is beyond collection {collection_id!r}'s "
            f"log position {log_position}; the segment folder does not belong to this "
            "database: rebuild it from SQLite"
        )
    conn.execute(
        "INSERT INTO segment_checkpoints (segment_id, collection_id, persisted_sequence, "
        "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (segment_id) DO UPDATE SET "
        "persisted_sequence = excluded.persisted_sequence, updated_at = excluded.updated_at",
        (segment_id, collection_id, applied_sequence, datetime.now(timezone.utc).isoformat()),
    )
    # One vector segment per collection today; the MIN keeps the rule right if that changes.
    (everyone_has,) = conn.execute(
        "SELECT MIN(persisted_sequence) FROM segment_checkpoints WHERE collection_id = ?",
        (collection_id,),
    ).fetchone()
    return store_log.purge(conn, collection_id, everyone_has)


def persisted_sequence(conn: sqlite3.Connection, segment_id: str) -> int | None:
    """The segment's last reported checkpoint (None if it never reported one)."""
    row = conn.execute("SELECT persisted_sequence FROM segment_checkpoints WHERE segment_id = ?",
                       (segment_id,)).fetchone()
    return row[0] if row else None
