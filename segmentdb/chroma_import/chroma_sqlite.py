"""Read a Chroma `chroma.sqlite3` (0.5.x Python or 1.x Rust layout), read-only.

This is SQL on *Chroma's* schema, not ours: the one place outside metadata_worker/store*.py
that imports sqlite3, and it never writes (the file is opened with `mode=ro`, all reads in one
transaction, so they see one snapshot). Tables read (both versions):

- tenants(id), databases(id, name, tenant_id)
- collections(id, name, dimension, database_id, config_json_str [0.5.x+], schema_str [1.5+])
- collection_metadata(collection_id, key, str_value, int_value, float_value, bool_value)
- segments(id, type, scope, collection), segment_metadata(segment_id, key, ...)
- max_seq_id(segment_id, seq_id): the last log sequence each segment applied; 0.5.x stores
  it as an 8-byte big-endian BLOB, 1.x as an INTEGER
- embeddings(id, segment_id, embedding_id, seq_id): records of the METADATA segment
- embedding_metadata(id, key, string_value, int_value, float_value, bool_value); the key
  "chroma:document" holds the document
- embedding_metadata_array(id, key, ...) [1.x]: one row per list element, in rowid order
- embeddings_queue(seq_id, operation, topic, id, vector, encoding, metadata): the write-ahead
  log. topic is "persistent://<tenant>/<namespace>/<collection id>"; operation 0 ADD,
  1 UPDATE, 2 UPSERT, 3 DELETE; vector little-endian float32 (encoding "FLOAT32"); metadata
  JSON including "chroma:document". Entries are purged once every segment has applied them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segmentdb.chroma_import import ChromaFormatError

DB_FILENAME = "chroma.sqlite3"
DOCUMENT_KEY = "chroma:document"
ADD, UPDATE, UPSERT, DELETE = 0, 1, 2, 3
VECTOR_SCOPE, METADATA_SCOPE = "VECTOR", "METADATA"
_REQUIRED_TABLES = ("tenants", "databases", "collections", "collection_metadata", "segments",
                    "embeddings", "embedding_metadata", "embeddings_queue", "max_seq_id")


@dataclass
class ChromaCollection:
    id: str
    name: str
    tenant: str
    database: str
    dimension: int | None
    metadata: dict | None
    config_json: dict | None         # collections.config_json_str, parsed
    schema: dict | None              # collections.schema_str, parsed (1.5+)
    metadata_segment: str | None
    vector_segment: str | None
    vector_segment_metadata: dict = field(default_factory=dict)
    metadata_max_seq: int | None = None  # None: the segment never recorded one
    vector_max_seq: int | None = None


@dataclass
class ChromaRecord:
    id: str
    document: str | None
    metadata: dict        # without the document key; may be empty


@dataclass
class QueueEntry:
    seq: int
    operation: int
    id: str
    vector: np.ndarray | None    # float32
    metadata: dict | None        # may hold DOCUMENT_KEY; None values delete a key


def decode_seq(value) -> int | None:
    """A max_seq_id / seq_id value: 0.5.x big-endian 8-byte BLOB, 1.x INTEGER."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return int.from_bytes(bytes(value), "big")
    return int(value)


def _value(where: str, string_value, int_value, float_value, bool_value):
    """The one typed value of a metadata row (Chroma fills exactly one column)."""
    if string_value is not None:
        return string_value
    if bool_value is not None:
        return bool(bool_value)
    if int_value is not None:
        return int(int_value)
    if float_value is not None:
        return float(float_value)
    raise ChromaFormatError(f"{where}: a metadata row with no value in any column")


class ChromaSqlite:
    """An open, read-only Chroma database; use as a context manager."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / DB_FILENAME
        if not self.path.is_file():
            raise ChromaFormatError(
                f"--from: {self.path} does not exist; point --from at the folder given to "
                "chromadb.PersistentClient(path=...)"
            )
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                         isolation_level=None)
            self._conn.execute("BEGIN")
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise ChromaFormatError(f"{self.path}: cannot be read as SQLite ({exc})") from None
        if "embeddings_log" in tables and "embeddings_queue" not in tables:
            raise ChromaFormatError(
                f"--from: {self.path} is a segmentdb database, not a Chroma one; to copy a "
                "segmentdb folder use backup/restore"
            )
        missing = [t for t in _REQUIRED_TABLES if t not in tables]
        if missing:
            raise ChromaFormatError(
                f"{self.path}: not a Chroma 0.5.x/1.x database (no table {', '.join(missing)}); "
                "folders of chromadb older than 0.4.15 must be opened once with chromadb 0.5 "
                "to migrate them"
            )
        self._tables = tables
        self._columns = {t: {r[1] for r in self._conn.execute(f"PRAGMA table_info({t})")}
                         for t in ("collections", "collection_metadata", "embedding_metadata",
                                   "segment_metadata") if t in tables}

    def __enter__(self) -> "ChromaSqlite":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # -- tenancy and collections ----------------------------------------------------------

    def tenants(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT id FROM tenants ORDER BY rowid")]

    def databases(self) -> list[tuple[str, str]]:
        """(tenant, database name) of every database."""
        return [(r[0], r[1]) for r in self._conn.execute(
            "SELECT tenant_id, name FROM databases ORDER BY rowid")]

    def collections(self) -> list[ChromaCollection]:
        columns = self._columns["collections"]
        config = "c.config_json_str" if "config_json_str" in columns else "NULL"
        schema = "c.schema_str" if "schema_str" in columns else "NULL"
        rows = self._conn.execute(
            f"SELECT c.id, c.name, d.tenant_id, d.name, c.dimension, {config}, {schema} "
            "FROM collections c JOIN databases d ON d.id = c.database_id ORDER BY c.rowid"
        ).fetchall()
        out = []
        for cid, name, tenant, database, dimension, config_json, schema_json in rows:
            segments = dict(self._conn.execute(
                "SELECT scope, id FROM segments WHERE collection = ?", (cid,)).fetchall())
            collection = ChromaCollection(
                id=cid, name=name, tenant=tenant, database=database, dimension=dimension,
                metadata=self._metadata("collection_metadata", "collection_id", cid,
                                        "str_value") or None,
                config_json=self._json(config_json, f"collection {name!r} config_json_str"),
                schema=self._json(schema_json, f"collection {name!r} schema_str"),
                metadata_segment=segments.get(METADATA_SCOPE),
                vector_segment=segments.get(VECTOR_SCOPE),
            )
            if collection.vector_segment and "segment_metadata" in self._tables:
                collection.vector_segment_metadata = self._metadata(
                    "segment_metadata", "segment_id", collection.vector_segment, "str_value")
            collection.metadata_max_seq = self._max_seq(collection.metadata_segment)
            collection.vector_max_seq = self._max_seq(collection.vector_segment)
            out.append(collection)
        return out

    def _json(self, text: str | None, what: str) -> dict | None:
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            raise ChromaFormatError(f"{self.path}: {what} is not JSON") from None
        return value if isinstance(value, dict) else None

    def _metadata(self, table: str, key_column: str, key: str, string_column: str) -> dict:
        bool_column = "bool_value" if "bool_value" in self._columns[table] else "NULL"
        rows = self._conn.execute(
            f"SELECT key, {string_column}, int_value, float_value, {bool_column} FROM {table} "
            f"WHERE {key_column} = ? ORDER BY rowid", (key,)).fetchall()
        return {k: _value(f"{self.path} {table} {key}/{k}", *values) for k, *values in rows}

    def _max_seq(self, segment_id: str | None) -> int | None:
        if segment_id is None:
            return None
        row = self._conn.execute("SELECT seq_id FROM max_seq_id WHERE segment_id = ?",
                                 (segment_id,)).fetchone()
        return decode_seq(row[0]) if row else None

    # -- records ---------------------------------------------------------------------------

    def record_count(self, metadata_segment: str | None) -> int:
        if metadata_segment is None:
            return 0
        return self._conn.execute("SELECT COUNT(*) FROM embeddings WHERE segment_id = ?",
                                  (metadata_segment,)).fetchone()[0]

    def records(self, metadata_segment: str) -> list[ChromaRecord]:
        """The records of a METADATA segment in Chroma's insertion order (embeddings.id)."""
        bool_column = "m.bool_value" if "bool_value" in self._columns["embedding_metadata"] \
            else "NULL"
        by_label: dict[int, ChromaRecord] = {}
        for label, record_id in self._conn.execute(
                "SELECT id, embedding_id FROM embeddings WHERE segment_id = ? ORDER BY id",
                (metadata_segment,)):
            by_label[label] = ChromaRecord(record_id, None, {})
        scalar_rows = self._conn.execute(
            f"SELECT m.id, m.key, m.string_value, m.int_value, m.float_value, {bool_column} "
            "FROM embedding_metadata m JOIN embeddings e ON e.id = m.id "
            "WHERE e.segment_id = ? ORDER BY m.rowid", (metadata_segment,))
        for label, key, *values in scalar_rows:
            record = by_label[label]
            value = _value(f"{self.path} record {record.id!r} key {key!r}", *values)
            if key == DOCUMENT_KEY:
                record.document = value
            else:
                record.metadata[key] = value
        if "embedding_metadata_array" in self._tables:
            lists: dict[tuple[int, str], list] = {}
            for label, key, *values in self._conn.execute(
                    "SELECT a.id, a.key, a.string_value, a.int_value, a.float_value, "
                    "a.bool_value FROM embedding_metadata_array a JOIN embeddings e "
                    "ON e.id = a.id WHERE e.segment_id = ? ORDER BY a.rowid",
                    (metadata_segment,)):
                where = f"{self.path} record {by_label[label].id!r} key {key!r}"
                lists.setdefault((label, key), []).append(_value(where, *values))
            for (label, key), values in lists.items():
                by_label[label].metadata[key] = values
        return list(by_label.values())

    def queue(self, collection_id: str) -> list[QueueEntry]:
        """The collection's remaining write-ahead log entries, in sequence order."""
        entries = []
        for seq, operation, record_id, blob, encoding, metadata in self._conn.execute(
                "SELECT seq_id, operation, id, vector, encoding, metadata FROM embeddings_queue "
                "WHERE topic LIKE ? ORDER BY seq_id", (f"%/{collection_id}",)):
            where = f"{self.path} embeddings_queue seq_id {seq}"
            if operation not in (ADD, UPDATE, UPSERT, DELETE):
                raise ChromaFormatError(f"{where}: unknown operation {operation}")
            vector = None
            if blob is not None:
                if encoding not in ("FLOAT32", None) or len(blob) % 4:
                    raise ChromaFormatError(f"{where}: vector encoding {encoding!r} with "
                                            f"{len(blob)} bytes is not float32")
                vector = np.frombuffer(blob, "<f4")
            try:
                meta = json.loads(metadata) if metadata else None
            except ValueError:
                raise ChromaFormatError(f"{where}: metadata is not JSON") from None
            entries.append(QueueEntry(seq, operation, record_id, vector, meta or None))
        return entries
