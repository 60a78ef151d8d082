"""Records of a collection: add / upsert / update / delete / get / count / fetch.

Functions of a connection, run through Store.write or Store.read: each write function is
one transaction (records, metadata, full-text rows, log rows), so a failing
batch leaves nothing behind. Batches are written with executemany and ids are looked up
with one query per batch (a JSON array read by json_each), never one query per id.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from segmentdb import errors, vectors

from metadata_worker import filters, store_collections, store_fulltext, store_log, store_metadata
from metadata_worker.domain import (
    LOG_DELETE, LOG_UPSERT, SEGMENT, Collection, Include, QueryTarget, Records, RecordSelection,
    RecordWrite,
)


# -- checks -------------------------------------------------------------------------------------

def _check_ids(ids: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, record_id in enumerate(ids):
        if not record_id:
            raise errors.InvalidArgumentError(f"ids[{i}]: ids must be non-empty strings")
        if "\x00" in record_id:
            # SQLite's json_each (our batched id lookup) ends a string at NUL.
            raise errors.InvalidArgumentError(f"ids[{i}]: ids must not contain NUL characters")
        if record_id in seen:
            raise errors.DuplicateIDError(
                f"ids[{i}]: id {record_id!r} also appears at ids[{seen[record_id]}]; "
                "ids in one request must be unique"
            )
        seen[record_id] = i


def _fix_dimension(conn: sqlite3.Connection, collection: Collection, batch: RecordWrite,
                   writes: bool) -> None:
    """Check the batch's vectors against the collection's dimension; the first write that
    stores vectors (`writes`) fixes it. A mismatch is an error even if nothing is written."""
    if batch.vectors is None or batch.vectors.shape[0] == 0:
        return
    got = int(batch.vectors.shape[1])
    if collection.dimension is None:
        if writes:
            store_collections.set_dimension(conn, collection.id, got)
        return
    if got != collection.dimension:
        raise errors.InvalidDimensionException(
            f"embeddings: dimension {got} does not match the collection's dimension "
            f"{collection.dimension}; send {collection.dimension}-dimensional vectors"
        )


def _blobs(array: np.ndarray) -> list[bytes]:
    data = np.ascontiguousarray(array, dtype=vectors.WIRE_DTYPE).tobytes()
    width = array.shape[1] * 4
    return [data[i:i + width] for i in range(0, len(data), width)]


def _existing(conn: sqlite3.Connection, collection: Collection, ids: list[str]) -> dict[str, int]:
    """{id: label} of the ids already in the collection."""
    if not ids:
        return {}
    return dict(conn.execute(
        "SELECT embedding_id, id FROM embeddings "
        "WHERE segment_id = ? AND embedding_id IN (SELECT value FROM json_each(?))",
        (collection.metadata_segment_id, json.dumps(ids)),
    ).fetchall())


def existing_ids(conn: sqlite3.Connection, collection: Collection,
                 ids: list[str]) -> dict[str, int]:
    """{id: label} of the ids already in the collection (one query for the whole batch)."""
    return _existing(conn, collection, ids)


def _log_sequence(conn: sqlite3.Connection, collection: Collection, seqs: list[int]) -> int:
    return seqs[-1] if seqs else store_log.position(conn, collection.id)


# -- writes ---------------------------------------------------------------------------------------

def _insert(conn: sqlite3.Connection, collection: Collection, batch: RecordWrite,
            positions: list[int]) -> list[int]:
    """Insert the records at `positions` of the batch; returns their log sequences."""
    if not positions:
        return []
    first = store_log.next_id(conn, "embeddings")
    labels = list(range(first, first + len(positions)))
    seqs = store_log.append(conn, collection.id, [(LOG_UPSERT, label) for label in labels])
    blobs = _blobs(batch.vectors[positions])
    documents = batch.documents
    conn.executemany(
        "INSERT INTO embeddings (id, segment_id, embedding_id, seq_id, document, vector) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(label, collection.metadata_segment_id, batch.ids[p], seq,
          documents[p] if documents is not None else None, blob)
         for label, p, seq, blob in zip(labels, positions, seqs, blobs)],
    )
    if documents is not None:
        store_fulltext.insert(conn, [(label, documents[p]) for label, p in zip(labels, positions)])
    if batch.metadatas is not None:
        store_metadata.insert(conn, collection.metadata_segment_id,
                              [(label, batch.metadatas[p]) for label, p in zip(labels, positions)])
    store_collections.add_to_record_count(conn, collection.id, len(positions))
    return seqs


def _update(conn: sqlite3.Connection, collection: Collection, batch: RecordWrite,
            targets: list[tuple[int, int]]) -> list[int]:
    """Update existing records [(position in batch, label)]; returns log sequences."""
    if not targets:
        return []
    seqs: list[int] = []
    if batch.vectors is not None and batch.vectors.shape[0]:
        labels = [label for _, label in targets]
        seqs = store_log.append(conn, collection.id, [(LOG_UPSERT, label) for label in labels])
        blobs = _blobs(batch.vectors[[p for p, _ in targets]])
        conn.executemany("UPDATE embeddings SET vector = ?, seq_id = ? WHERE id = ?",
                         list(zip(blobs, seqs, labels)))
    if batch.documents is not None:
        changed = [(batch.documents[p], label) for p, label in targets
                   if batch.documents[p] is not None]
        conn.executemany("UPDATE embeddings SET document = ? WHERE id = ?", changed)
        store_fulltext.replace(conn, [(label, doc) for doc, label in changed])
    if batch.metadatas is not None:
        store_metadata.merge(conn, collection.metadata_segment_id,
                             [(label, batch.metadatas[p]) for p, label in targets])
    return seqs


def add(conn: sqlite3.Connection, collection_id: str, batch: RecordWrite) -> tuple[int, int]:
    """(log_sequence, inserted). Ids that already exist are left unchanged."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    _check_ids(batch.ids)
    existing = _existing(conn, collection, batch.ids)
    positions = [i for i, record_id in enumerate(batch.ids) if record_id not in existing]
    _fix_dimension(conn, collection, batch, writes=bool(positions))
    seqs = _insert(conn, collection, batch, positions)
    return _log_sequence(conn, collection, seqs), len(positions)


def upsert(conn: sqlite3.Connection, collection_id: str,
           batch: RecordWrite) -> tuple[int, int, int]:
    """(log_sequence, inserted, updated)."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    _check_ids(batch.ids)
    existing = _existing(conn, collection, batch.ids)
    new = [i for i, record_id in enumerate(batch.ids) if record_id not in existing]
    old = [(i, existing[record_id]) for i, record_id in enumerate(batch.ids)
           if record_id in existing]
    _fix_dimension(conn, collection, batch, writes=bool(batch.ids))
    seqs = _update(conn, collection, batch, old) + _insert(conn, collection, batch, new)
    return _log_sequence(conn, collection, sorted(seqs)), len(new), len(old)


def update(conn: sqlite3.Connection, collection_id: str, batch: RecordWrite) -> tuple[int, int]:
    """(log_sequence, updated). Unknown ids are ignored."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    _check_ids(batch.ids)
    existing = _existing(conn, collection, batch.ids)
    old = [(i, existing[record_id]) for i, record_id in enumerate(batch.ids)
           if record_id in existing]
    _fix_dimension(conn, collection, batch, writes=bool(old))
    seqs = _update(conn, collection, batch, old)
    return _log_sequence(conn, collection, seqs), len(old)


def delete(conn: sqlite3.Connection, collection_id: str,
           selection: RecordSelection) -> tuple[int, int]:
    """(log_sequence, deleted). Needs ids or a filter."""
    if not selection.restricted:
        raise errors.InvalidArgumentError(
            "delete needs ids, where or where_document; to delete every record, delete the "
            "collection"
        )
    collection = store_collections.get_collection_by_id(conn, collection_id)
    labels = select_labels(conn, collection, selection)
    if labels:
        store_fulltext.delete(conn, labels)
        # Metadata rows go by ON DELETE CASCADE.
        conn.execute("DELETE FROM embeddings WHERE id IN (SELECT value FROM json_each(?))",
                     (json.dumps(labels),))
        store_collections.add_to_record_count(conn, collection.id, -len(labels))
    seqs = store_log.append(conn, collection.id, [(LOG_DELETE, label) for label in labels])
    return _log_sequence(conn, collection, seqs), len(labels)


# -- reads ----------------------------------------------------------------------------------------

def _selection_sql(collection: Collection, selection: RecordSelection) -> tuple[str, list]:
    """One SELECT of the selected labels (each once, unordered) and its parameters."""
    parts = list(selection.conditions)
    if selection.ids is not None:
        parts.insert(0, filters.ids_condition(selection.ids))
    condition = filters.intersect(parts)
    segment = collection.metadata_segment_id
    return condition.sql, [segment if p is SEGMENT else p for p in condition.params]


# SQLite's own limits on a statement's shape. A filter within filters.MAX_FILTER_DEPTH can
# still reach them (a nested $nin next to a nested where_document: SQLite 3.40's parser stack
# holds about 5-9 nested subqueries, depending on the operators): the client's filter is too
# complex, not a server fault.
_TOO_COMPLEX = ("parser stack overflow", "too many terms in compound SELECT",
                "Expression tree is too large")


def _run_selection(conn: sqlite3.Connection, sql: str, params) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if any(text in str(exc) for text in _TOO_COMPLEX):
            raise errors.InvalidArgumentError(
                f"where/where_document: the filter is too complex for SQLite ({exc}); nest "
                "fewer $and/$or levels (e.g. one $in instead of nested $or, a flat $and)"
            ) from None
        raise


def select_labels(conn: sqlite3.Connection, collection: Collection, selection: RecordSelection,
                  limit: int | None = None, offset: int = 0) -> list[int]:
    """Labels of the selected records in insertion order; limit/offset after filtering."""
    sql, params = _selection_sql(collection, selection)
    return [row[0] for row in _run_selection(
        conn, f"SELECT id FROM ({sql}) ORDER BY id LIMIT ? OFFSET ?",
        (*params, -1 if limit is None else limit, offset))]


def select_label_array(conn: sqlite3.Connection, collection: Collection,
                       selection: RecordSelection) -> np.ndarray:
    """Labels of the selected records, ascending, as int64. A filter may select 100,000:
    SQLite joins them into one text value (group_concat) that numpy parses in C, about
    three times faster than building a Python int and tuple per row."""
    sql, params = _selection_sql(collection, selection)
    (joined,) = _run_selection(conn, f"SELECT group_concat(id) FROM ({sql})",
                               params).fetchone()
    if not joined:
        return np.zeros(0, np.int64)
    return np.sort(np.fromstring(joined, dtype=np.int64, sep=","))


def fetch(conn: sqlite3.Connection, collection: Collection, labels: list[int],
          include: Include) -> Records:
    """Records by label in the order given; labels not in the collection are skipped."""
    columns = "e.id, e.embedding_id"
    columns += ", e.document" if include.documents else ", NULL"
    columns += ", e.vector" if include.embeddings else ", NULL"
    # CROSS JOIN: one rowid look-up per label asked for. Left to itself the planner may
    # walk the collection's whole (segment_id, embedding_id) index instead.
    rows = {row[0]: row for row in conn.execute(
        f"SELECT {columns} FROM json_each(?) j CROSS JOIN embeddings e ON e.id = j.value "
        "WHERE e.segment_id = ?",
        (json.dumps(labels), collection.metadata_segment_id),
    )} if labels else {}
    found = [rows[label] for label in labels if label in rows]
    dimension = collection.dimension or 0
    out = Records(labels=[r[0] for r in found], ids=[r[1] for r in found], dimension=dimension)
    if include.documents:
        out.documents = [r[2] for r in found]
    if include.metadatas:
        metadata = store_metadata.read(conn, out.labels)
        out.metadatas = [metadata.get(label) or None for label in out.labels]
    if include.embeddings:
        out.vectors = vectors.rows([r[3] for r in found], dimension)
    return out


def get(conn: sqlite3.Connection, collection_id: str, selection: RecordSelection,
        limit: int | None, offset: int, include: Include) -> Records:
    collection = store_collections.get_collection_by_id(conn, collection_id)
    labels = select_labels(conn, collection, selection, limit, offset)
    return fetch(conn, collection, labels, include)


def fetch_by_labels(conn: sqlite3.Connection, collection_id: str, labels: list[int],
                    include: Include) -> tuple[Collection, int, Records]:
    """(the collection, its log position, the records), from one snapshot: a gateway that
    searched with a cached spec and position checks them against this snapshot."""
    collection = store_collections.get_collection_by_id(conn, collection_id)
    return (collection, store_log.position(conn, collection.id),
            fetch(conn, collection, labels, include))


def count(conn: sqlite3.Connection, collection_id: str) -> int:
    collection = store_collections.get_collection_by_id(conn, collection_id)
    return store_collections.record_count(conn, collection.id)


def query_target(conn: sqlite3.Connection, collection_id: str) -> QueryTarget:
    collection = store_collections.get_collection_by_id(conn, collection_id)
    return QueryTarget(collection, store_log.position(conn, collection.id),
                       store_collections.record_count(conn, collection.id))


def prepare_query(conn: sqlite3.Connection, collection_id: str, selection: RecordSelection
                  ) -> tuple[QueryTarget, np.ndarray | None]:
    """(the collection with its log position and record count, the allowed labels
    ascending or None when unfiltered), all from one snapshot."""
    target = query_target(conn, collection_id)
    if not selection.restricted:
        return target, None
    return target, select_label_array(conn, target.collection, selection)
