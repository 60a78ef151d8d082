"""Plain Python values the store works with (no protobuf, no SQL).

convert.py turns protos into these and back; the store_* modules read and write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"
DEFAULT_DATABASE_ID = "00000000-0000-0000-0000-000000000000"

METADATA_SCOPE = "METADATA"
VECTOR_SCOPE = "VECTOR"
METADATA_SEGMENT_TYPE = "urn:chroma:segment/metadata/sqlite"
VECTOR_SEGMENT_TYPE = "urn:chroma:segment/vector/hnsw-local-persisted"

LOG_UPSERT = 1
LOG_DELETE = 2


class _Delete:
    """A metadata value meaning "remove this key" (chromadb's None in update/upsert)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()

Scalar = Union[str, int, float, bool]
# A value is a scalar, a non-empty homogeneous list of scalars, or DELETE (writes only).
Value = Union[Scalar, list, _Delete]
Metadata = dict  # str -> Value


@dataclass(frozen=True)
class Database:
    id: str
    name: str
    tenant: str


@dataclass(frozen=True)
class Collection:
    id: str
    name: str
    tenant: str
    database: str
    database_id: str
    metadata: Metadata | None
    hnsw: dict  # fully resolved, see collection_config
    dimension: int | None
    metadata_segment_id: str
    vector_segment_id: str
    # Chroma 1.x's JSON (segmentdb.embedding_functions); None: created before it was
    # recorded (migration 0006), which means no server-side function.
    embedding_function: dict | None = None


@dataclass(frozen=True)
class QueryTarget:
    """What a query needs to know about its collection, read in one snapshot."""

    collection: Collection
    log_sequence: int   # the collection's log position
    record_count: int   # live records


@dataclass
class RecordWrite:
    """Columns of an add/upsert/update. `None` columns were not sent.

    documents[i] is None when that record's document was not given (add/upsert-insert:
    no document; update: keep the current one).
    """

    ids: list[str]
    vectors: np.ndarray | None = None
    documents: list[str | None] | None = None
    metadatas: list[Metadata | None] | None = None


@dataclass
class Records:
    """Records read back, in columns; columns not asked for are None."""

    labels: list[int]
    ids: list[str]
    documents: list[str | None] | None = None
    metadatas: list[Metadata | None] | None = None
    vectors: np.ndarray | None = None  # (n, dimension) float32
    dimension: int = 0


@dataclass(frozen=True)
class Include:
    documents: bool = True
    metadatas: bool = True
    embeddings: bool = False


class _Segment:
    """A query parameter standing for the collection's METADATA segment id, which is known
    only when the filter runs (filters compile before the collection is looked up)."""

    def __repr__(self) -> str:
        return "SEGMENT"


SEGMENT = _Segment()


@dataclass(frozen=True)
class Condition:
    """A parameterized SELECT of one column, `id`: the labels of the collection's records
    that match, each once (in no particular order). SEGMENT in `params` is replaced by the
    collection's METADATA segment id when it runs."""

    sql: str
    params: tuple = ()


@dataclass
class RecordSelection:
    """Which records of a collection: ids AND where AND where_document (each optional)."""

    ids: list[str] | None = None
    conditions: list[Condition] = field(default_factory=list)

    @property
    def restricted(self) -> bool:
        return self.ids is not None or bool(self.conditions)


@dataclass
class LogPage:
    sequences: list[int]
    operations: list[int]
    labels: list[int]
    vectors: np.ndarray  # one row per UPSERT entry
    read_through: int
    more: bool
    # Entries up to here were purged; a reader that asked for less has missed some.
    purged_through: int = 0


@dataclass(frozen=True)
class StorageStats:
    log_entries: int    # write-ahead log entries not yet purged
    sqlite_bytes: int   # chroma.sqlite3 plus its -wal file
    collections: int
    records: int
