"""Export pages and resumable import chunks (functions of a connection).

Export: `export` runs inside Store.stream, so the header and every page come from one read
snapshot; pages go in label (insertion) order, so "the records after label L" is a resume
point that survives any interruption: a resumed export yields every record exactly once.

Import: `import_chunk` writes one chunk's records AND advances the import's row in
`import_progress` (migration 0005) in the same transaction. A chunk is therefore either
committed and counted or neither, and a chunk sent twice (its ack was lost when the stream
broke) is recognised by its offset and acknowledged without being written again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterator

from segmentdb import errors

from metadata_worker import store_collections, store_records
from metadata_worker.domain import Collection, Include, Records, RecordWrite

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000

MODE_INSERT = "insert"
MODE_UPSERT = "upsert"

_EVERYTHING = Include(documents=True, metadatas=True, embeddings=True)


@dataclass(frozen=True)
class ExportStart:
    collection: Collection
    record_count: int       # live records at the snapshot
    remaining_count: int    # of those, the ones after the resume point


@dataclass(frozen=True)
class ImportProgress:
    committed_records: int = 0
    committed_chunks: int = 0


@dataclass(frozen=True)
class ChunkResult:
    committed_records: int
    already_committed: bool
    inserted: int = 0
    updated: int = 0
    log_sequence: int = 0


# -- export -------------------------------------------------------------------------------------

def export(conn: sqlite3.Connection, collection_id: str, after_label: int,
           page_size: int) -> Iterator[ExportStart | Records]:
    """An ExportStart, then Records pages (labels > after_label, ascending, every field).

    The caller holds `conn` in one read transaction (Store.stream)."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    segment = collection.metadata_segment_id
    (remaining,) = conn.execute(
        "SELECT COUNT(*) FROM embeddings WHERE segment_id = ? AND id > ?",
        (segment, after_label)).fetchone()
    yield ExportStart(collection, store_collections.record_count(conn, collection.id), remaining)
    last = after_label
    while True:
        # The (segment_id) index holds the rowid: one range scan per page, no sort.
        labels = [row[0] for row in conn.execute(
            "SELECT id FROM embeddings WHERE segment_id = ? AND id > ? ORDER BY id LIMIT ?",
            (segment, last, page_size))]
        if not labels:
            return
        _require_vectors(conn, collection, labels)
        yield store_records.fetch(conn, collection, labels, _EVERYTHING)
        last = labels[-1]


def _require_vectors(conn: sqlite3.Connection, collection: Collection, labels: list[int]) -> None:
    row = conn.execute(
        "SELECT embedding_id FROM embeddings WHERE segment_id = ? AND id BETWEEN ? AND ? "
        "AND vector IS NULL LIMIT 1",
        (collection.metadata_segment_id, labels[0], labels[-1])).fetchone()
    if row is not None:
        raise errors.FailedPreconditionError(
            f"record {row[0]!r} of collection {collection.name!r} has no stored vector, and an "
            "export carries every record's embedding; give it one with update(embeddings=...) "
            "or delete it, then export again"
        )


# -- import -------------------------------------------------------------------------------------

def progress(conn: sqlite3.Connection, collection_id: str, import_id: str) -> ImportProgress:
    """Where the import stands (zeros for an import id never seen in this collection)."""
    store_collections.get_collection_by_id(conn, collection_id)  # NOT_FOUND first
    row = conn.execute(
        "SELECT committed_records, committed_chunks FROM import_progress "
        "WHERE collection_id = ? AND import_id = ?", (collection_id, import_id)).fetchone()
    return ImportProgress(*row) if row else ImportProgress()


def import_chunk(conn: sqlite3.Connection, collection_id: str, import_id: str, mode: str,
                 offset: int, batch: RecordWrite) -> ChunkResult:
    """Write one chunk and advance the import's progress, in the caller's transaction."""
    current = progress(conn, collection_id, import_id)
    committed = current.committed_records
    count = len(batch.ids)
    if offset + count <= committed:
        return ChunkResult(committed, already_committed=True)
    if offset != committed:
        raise errors.FailedPreconditionError(
            f"import {import_id!r} has {committed} records committed, so the next chunk must "
            f"start at offset {committed} (this one starts at {offset}); resume from "
            "ImportStarted.committed_records (a chunk may not skip or overlap records)"
        )
    if mode == MODE_INSERT:
        _refuse_existing(conn, collection_id, batch.ids)
        sequence, inserted = store_records.add(conn, collection_id, batch)
        updated = 0
    else:
        sequence, inserted, updated = store_records.upsert(conn, collection_id, batch)
    committed += count
    conn.execute(
        "INSERT INTO import_progress (collection_id, import_id, committed_records, "
        "committed_chunks) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (collection_id, import_id) DO UPDATE SET "
        "committed_records = excluded.committed_records, "
        "committed_chunks = committed_chunks + 1, updated_at = CURRENT_TIMESTAMP",
        (collection_id, import_id, committed))
    return ChunkResult(committed, already_committed=False, inserted=inserted, updated=updated,
                       log_sequence=sequence)


def _refuse_existing(conn: sqlite3.Connection, collection_id: str, ids: list[str]) -> None:
    collection = store_collections.get_collection_by_id(conn, collection_id)
    present = store_records.existing_ids(conn, collection, ids)
    if present:
        listed = ", ".join(repr(i) for i in sorted(present)[:5])
        more = f" and {len(present) - 5} more" if len(present) > 5 else ""
        raise errors.UniqueConstraintError(
            f"ids: {listed}{more} already in collection {collection.name!r}; an INSERT import "
            "never changes existing records. Import into a new collection, delete those "
            "records first, or import in UPSERT mode (mode='upsert'; segmentdb import --upsert)"
        )
