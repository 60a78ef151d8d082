"""Every check the gateway can make without storage, run BEFORE anything is written.

Each function raises a `segmentdb.errors` class (INVALID_ARGUMENT unless noted) whose
message starts with the field it is about and says how to fix it. What needs storage
(existence, the collection's dimension, uniqueness against stored ids) and the filter
rules (where / where_document, one implementation in the metadata worker) are checked
by the metadata worker.

Names:
- collection: 3-512 characters of [a-zA-Z0-9._-], a letter or digit first and last,
  no '..', and not a valid IPv4 address such as '1.2.3.4' (chromadb's rule).
- tenant and database: an empty string means default_tenant / default_database; after
  that 1-512 characters, no control characters (NUL included), no leading or trailing
  whitespace. Tenant names in CreateTenant/GetTenant are required (no default). Other
  characters (`../x`, `'; DROP TABLE x; --`) are plain data: names never become paths (index
  folders are named by segment UUIDs) and reach SQLite only as bound parameters.
- a collection name looked up (get, delete) is at most 512 characters without control
  characters (a longer one cannot exist); a collection_id at most 64 characters (ids are
  36-character UUIDs).

Sizes (docs/internals.md "Security"): a metadata key is at most 1 KiB, a value at most
1 MiB (a string's UTF-8 bytes; a list: the sum of its elements, 8 bytes per number), one
record's (or collection's) metadata at most 4 MiB in all. Limits of the request, not of the
server's state: INVALID_ARGUMENT, naming the key and the limit.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Sequence

import numpy as np

from segmentdb import errors, vectors
from segmentdb.v1 import collection_pb2, common_pb2, record_service_pb2

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"
MAX_NAME_LENGTH = 512
MAX_COLLECTION_ID_LENGTH = 64
MAX_DUPLICATES_LISTED = 5
MAX_METADATA_KEY_BYTES = 1024
MAX_METADATA_VALUE_BYTES = 1024 * 1024
MAX_METADATA_BYTES = 4 * 1024 * 1024
# Characters of a client's value quoted in an error message (the rest is elided).
SHOWN_CHARACTERS = 80

_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
_COLLECTION_NAME_RULE = (
    "use 3-512 characters of [a-zA-Z0-9._-], starting and ending with a letter or digit, "
    "without '..'"
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# chromadb reserves metadata keys starting with these for itself ("#document", "$...")...
RESERVED_KEY_PREFIXES = ("#", "$")
# ...and this record metadata key (where it keeps documents); collection metadata may use it.
RESERVED_RECORD_KEY = "chroma:document"

GET_FIELDS = frozenset({
    common_pb2.INCLUDE_FIELD_DOCUMENTS,
    common_pb2.INCLUDE_FIELD_METADATAS,
    common_pb2.INCLUDE_FIELD_EMBEDDINGS,
})
QUERY_FIELDS = GET_FIELDS | {common_pb2.INCLUDE_FIELD_DISTANCES}
DEFAULT_GET_INCLUDE = frozenset({common_pb2.INCLUDE_FIELD_DOCUMENTS,
                                 common_pb2.INCLUDE_FIELD_METADATAS})
DEFAULT_QUERY_INCLUDE = DEFAULT_GET_INCLUDE | {common_pb2.INCLUDE_FIELD_DISTANCES}


def shown(value: str) -> str:
    """`value` quoted for an error message, cut to SHOWN_CHARACTERS (a 10 MB name must not
    come back in the status)."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value)} characters)"


# ---- names -------------------------------------------------------------------------------

def collection_name(name: str, field: str = "name") -> None:
    """Raise InvalidCollectionNameError unless `name` follows the collection-name rule."""
    if len(name) > MAX_NAME_LENGTH:
        raise errors.InvalidCollectionNameError(
            f"{field}: the collection name is {len(name)} characters; use at most "
            f"{MAX_NAME_LENGTH} ({_COLLECTION_NAME_RULE})")
    if not _COLLECTION_NAME.match(name) or ".." in name:
        raise errors.InvalidCollectionNameError(
            f"{field}: {shown(name)} is not a valid collection name: {_COLLECTION_NAME_RULE}"
        )
    if _is_ipv4_address(name):
        raise errors.InvalidCollectionNameError(
            f"{field}: {name!r} is a valid IPv4 address, which chromadb does not allow as a "
            "collection name (it would be ambiguous in URLs); use another name, e.g. with a "
            "letter in it"
        )


def _is_ipv4_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)  # leading zeros and octets > 255 are not addresses
    except ValueError:
        return False
    return True


def _scope_name(value: str, field: str, kind: str) -> None:
    if not value:
        raise errors.InvalidArgumentError(f"{field}: a {kind} name is required")
    if len(value) > MAX_NAME_LENGTH:
        raise errors.InvalidArgumentError(
            f"{field}: {kind} name is {len(value)} characters; use at most {MAX_NAME_LENGTH}"
        )
    if _CONTROL_CHARACTERS.search(value):
        raise errors.InvalidArgumentError(
            f"{field}: {kind} name {shown(value)} contains a control character (such as "
            "NUL); use printable characters only"
        )
    if value != value.strip():
        raise errors.InvalidArgumentError(
            f"{field}: {kind} name {shown(value)} starts or ends with whitespace; remove it"
        )


def tenant_name(value: str, field: str = "tenant", *, default: bool = True) -> str:
    """The tenant name to use (empty -> default_tenant when `default`), checked."""
    if default and not value:
        return DEFAULT_TENANT
    _scope_name(value, field, "tenant")
    return value


def database_name(value: str, field: str = "database", *, default: bool = True) -> str:
    """The database name to use (empty -> default_database when `default`), checked."""
    if default and not value:
        return DEFAULT_DATABASE
    _scope_name(value, field, "database")
    return value


def required_string(value: str, field: str, what: str) -> None:
    if not value:
        raise errors.InvalidArgumentError(f"{field}: {what} is required")


def lookup_name(value: str, field: str = "name") -> None:
    """A collection name to look up: required, at most 512 characters, no control
    characters (not the full creation rule: a name is found as it was stored)."""
    required_string(value, field, "the collection's name")
    if len(value) > MAX_NAME_LENGTH:
        raise errors.InvalidArgumentError(
            f"{field}: the collection name is {len(value)} characters; names have at most "
            f"{MAX_NAME_LENGTH}")
    if _CONTROL_CHARACTERS.search(value):
        raise errors.InvalidArgumentError(
            f"{field}: {shown(value)} contains a control character (such as NUL); collection "
            "names never do")


# ---- ids and columns ---------------------------------------------------------------------

def record_ids(ids: Sequence[str], field: str = "ids", *, required: bool) -> None:
    """Ids are non-empty strings, unique within the request; at least one when `required`."""
    if required and not ids:
        raise errors.InvalidArgumentError(f"{field}: at least one id is required")
    seen: set[str] = set()
    duplicates: list[str] = []
    for position, record_id in enumerate(ids):
        if not record_id:
            raise errors.InvalidArgumentError(
                f"{field}[{position}]: ids must be non-empty strings"
            )
        if record_id in seen and record_id not in duplicates:
            duplicates.append(record_id)
        seen.add(record_id)
    if duplicates:
        listed = ", ".join(repr(d) for d in duplicates[:MAX_DUPLICATES_LISTED])
        more = len(duplicates) - MAX_DUPLICATES_LISTED
        suffix = f" and {more} more" if more > 0 else ""
        raise errors.DuplicateIDError(
            f"{field}: duplicate ids in one request: {listed}{suffix}; "
            "each id may appear only once"
        )


def batch_size(count: int, max_batch_size: int, field: str = "ids") -> None:
    """RESOURCE_EXHAUSTED when a write carries more records than the gateway accepts."""
    if count > max_batch_size:
        raise errors.BatchSizeExceededError(
            f"{field}: {count} records exceed the gateway's limit of {max_batch_size} per "
            "request; split the batch (GetLimits reports the limit) or raise the gateway's "
            "--max-batch-size"
        )


def column_length(column: Sequence, count: int, field: str) -> None:
    """An optional column is empty or has exactly one entry per id."""
    if column and len(column) != count:
        raise errors.InvalidArgumentError(
            f"{field}: got {len(column)} entries for {count} ids; give exactly one per id "
            "or leave it empty"
        )


# ---- vectors -----------------------------------------------------------------------------

def record_vectors(batch: common_pb2.VectorBatch, count: int, operation: str, *,
                   required: bool, field: str = "embeddings") -> np.ndarray | None:
    """Decode and check a write's vectors: one per id, finite, whole float32 rows.

    Returns None when the (optional) column is absent.
    """
    if not batch.data:
        if required:
            hint = ("import does not embed: export with embeddings, or add/upsert the "
                    "documents (the server embeds those)" if operation == "import" else
                    "or a document per id, which the server embeds with the collection's "
                    "embedding function")
            raise errors.InvalidArgumentError(
                f"{field}: required for {operation}; send one vector per id ({hint})"
            )
        return None
    return vectors.decode_checked(batch, count, field)


def documents_to_embed(documents: Sequence[common_pb2.OptionalString], count: int,
                       operation: str, field: str = "documents") -> bool:
    """True when a write without embeddings carries a document for every id (the server
    embeds them); INVALID_ARGUMENT when some are missing; False without documents."""
    if not documents:
        return False
    for position, document in enumerate(documents):
        if not document.HasField("value"):
            raise errors.InvalidArgumentError(
                f"{field}[{position}]: no document, and the {operation} has no embeddings; "
                "when the server embeds the documents every id needs one (or send embeddings)"
            )
    return len(documents) == count


def query_vectors(batch: common_pb2.VectorBatch,
                  field: str = "query_embeddings") -> np.ndarray:
    """At least one finite query vector of a positive dimension."""
    if not batch.data:
        raise errors.InvalidArgumentError(
            f"{field}: at least one query vector is required (or query_texts, which the "
            "server embeds with the collection's embedding function)"
        )
    return vectors.decode_checked(batch, None, field)


def query_texts(request: record_service_pb2.QueryRecordsRequest, max_batch_size: int) -> bool:
    """True when the query is by text (the server embeds it); exactly one of
    query_embeddings and query_texts."""
    if not request.query_texts:
        return False
    if request.query_embeddings.data or request.query_embeddings.dimension:
        raise errors.InvalidArgumentError(
            "query_embeddings/query_texts: give one of them, not both"
        )
    batch_size(len(request.query_texts), max_batch_size, "query_texts")
    collection_id(request.collection_id)
    n_results(request.n_results)
    record_ids(request.ids, required=False)
    include(request.include, query=True, present=request.HasField("include"))
    return True


# ---- metadata ----------------------------------------------------------------------------

def metadata(value: common_pb2.Metadata, field: str, *, allow_null: bool,
             record: bool = False) -> None:
    """Keys non-empty and not reserved; every value set; lists non-empty; floats finite;
    null only if allowed; sizes within the MAX_METADATA_* limits. `record` adds the key
    reserved in record metadata only."""
    total = 0
    for key, item in value.fields.items():
        if not key:
            raise errors.InvalidArgumentError(
                f"{field}: metadata keys must be non-empty strings"
            )
        key_bytes = _text_bytes(key)
        if key_bytes > MAX_METADATA_KEY_BYTES:
            raise errors.InvalidArgumentError(
                f"{field}[{shown(key)}]: the key is {key_bytes} bytes; metadata keys have at "
                f"most {MAX_METADATA_KEY_BYTES} bytes (UTF-8)")
        where = f"{field}[{key!r}]"
        _metadata_key(key, where, record=record)
        size = _metadata_value(item, where, allow_null=allow_null)
        if size > MAX_METADATA_VALUE_BYTES:
            raise errors.InvalidArgumentError(
                f"{where}: the value is {size} bytes; a metadata value has at most "
                f"{MAX_METADATA_VALUE_BYTES} bytes (1 MiB); store large text as the document")
        total += key_bytes + size
    if total > MAX_METADATA_BYTES:
        raise errors.InvalidArgumentError(
            f"{field}: the metadata is {total} bytes; at most {MAX_METADATA_BYTES} bytes (4 MiB) "
            "of keys and values per record or collection")


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _metadata_key(key: str, where: str, *, record: bool) -> None:
    if key.startswith(RESERVED_KEY_PREFIXES):
        raise errors.InvalidArgumentError(
            f"{where}: metadata keys must not start with '#' or '$' (reserved, as in "
            "chromadb); rename the key"
        )
    if record and key == RESERVED_RECORD_KEY:
        raise errors.InvalidArgumentError(
            f"{where}: {RESERVED_RECORD_KEY!r} is reserved for the document (as in chromadb); "
            "pass the text as the record's document, or rename the key"
        )


def _metadata_value(item: common_pb2.MetadataValue, where: str, *, allow_null: bool) -> int:
    """Check one value; returns its size in bytes (a string's UTF-8 bytes, 8 per number,
    1 per bool; a list: the sum of its elements)."""
    kind = item.WhichOneof("kind")
    if kind is None:
        raise errors.InvalidArgumentError(
            f"{where}: the value is empty; set a string, int, float, bool or a non-empty "
            "list of one of them"
        )
    if kind == "string_value":
        return _text_bytes(item.string_value)
    if kind == "null_value":
        if not allow_null:
            raise errors.InvalidArgumentError(
                f"{where}: null_value (None) removes a key and is allowed only in update "
                "and upsert; omit the key instead"
            )
        return 0
    if kind == "float_value":
        _finite(item.float_value, where)
    elif kind.endswith("_list"):
        values = getattr(item, kind).values
        if not values:
            raise errors.InvalidArgumentError(
                f"{where}: lists must be non-empty; omit the key or add a value"
            )
        if kind == "float_list":
            for position, number in enumerate(values):
                _finite(number, f"{where}[{position}]")
        if kind == "string_list":
            return sum(_text_bytes(text) for text in values)
        return len(values) if kind == "bool_list" else 8 * len(values)
    return 8


def _finite(number: float, where: str) -> None:
    if not math.isfinite(number):
        raise errors.InvalidArgumentError(
            f"{where}: {number} is not a finite number; NaN and infinity cannot be stored"
        )


def metadatas(column: Sequence[common_pb2.Metadata], *, allow_null: bool,
              field: str = "metadatas") -> None:
    for position, value in enumerate(column):
        metadata(value, f"{field}[{position}]", allow_null=allow_null, record=True)


# ---- reads -------------------------------------------------------------------------------

def include(value: common_pb2.Include, *, query: bool, present: bool,
            field: str = "include") -> frozenset[int]:
    """The fields to return: the default when `present` is False, else the fields given.

    UNSPECIFIED and unknown values are rejected; DISTANCES only in a query.
    """
    if not present:
        return DEFAULT_QUERY_INCLUDE if query else DEFAULT_GET_INCLUDE
    allowed = QUERY_FIELDS if query else GET_FIELDS
    for position, item in enumerate(value.fields):
        if item in allowed:
            continue
        if item == common_pb2.INCLUDE_FIELD_DISTANCES:
            raise errors.InvalidArgumentError(
                f"{field}.fields[{position}]: DISTANCES is only returned by a query; "
                "remove it from this get"
            )
        choices = "DOCUMENTS, METADATAS, EMBEDDINGS" + (", DISTANCES" if query else "")
        raise errors.InvalidArgumentError(
            f"{field}.fields[{position}]: {_include_name(item)} is not a field to include; "
            f"use {choices}"
        )
    return frozenset(value.fields)


def _include_name(item: int) -> str:
    try:
        return common_pb2.IncludeField.Name(item)
    except ValueError:
        return f"value {item}"


def n_results(value: int, field: str = "n_results") -> None:
    if value < 1:
        raise errors.InvalidArgumentError(
            f"{field}: must be at least 1 (got {value}); ask for 1 or more nearest neighbours"
        )


# ---- collection configuration ------------------------------------------------------------

_POSITIVE_HNSW_FIELDS = ("max_neighbors", "ef_construction", "ef_search", "num_threads",
                         "sync_threshold", "batch_size")


def configuration(value: collection_pb2.CollectionConfiguration, field: str) -> None:
    """Range checks on the HNSW parameters that are set (mutability is the worker's call)."""
    hnsw = value.hnsw
    if hnsw.HasField("space") and hnsw.space not in (
        collection_pb2.SPACE_L2, collection_pb2.SPACE_IP, collection_pb2.SPACE_COSINE
    ):
        raise errors.InvalidArgumentError(
            f"{field}.hnsw.space: {hnsw.space} is not a space; use SPACE_L2, SPACE_IP or "
            "SPACE_COSINE, or leave it unset for the default (SPACE_L2)"
        )
    for name in _POSITIVE_HNSW_FIELDS:
        if hnsw.HasField(name) and getattr(hnsw, name) < 1:
            raise errors.InvalidArgumentError(
                f"{field}.hnsw.{name}: must be at least 1; leave it unset for the default"
            )
    if hnsw.HasField("resize_factor") and not (
        math.isfinite(hnsw.resize_factor) and hnsw.resize_factor >= 1.0
    ):
        raise errors.InvalidArgumentError(
            f"{field}.hnsw.resize_factor: {hnsw.resize_factor} is not a growth factor; use a "
            "finite number >= 1.0 (default 1.2)"
        )


# ---- whole requests ----------------------------------------------------------------------

def collection_id(value: str, field: str = "collection_id") -> None:
    required_string(value, field, "the collection's id")
    if len(value) > MAX_COLLECTION_ID_LENGTH or _CONTROL_CHARACTERS.search(value):
        raise errors.InvalidArgumentError(
            f"{field}: {shown(value)} is not a collection id; ids are UUIDs (36 characters, "
            f"at most {MAX_COLLECTION_ID_LENGTH}) as returned by CreateCollection")


def _write(request, max_batch_size: int, operation: str, *, vectors_required: bool,
           allow_null: bool) -> bool:
    collection_id(request.collection_id)
    return _columns(request, max_batch_size, operation, vectors_required=vectors_required,
                    allow_null=allow_null)


def _columns(request, max_batch_size: int, operation: str, *, vectors_required: bool,
             allow_null: bool, embeddable: bool = True) -> bool:
    """ids, documents, metadatas, embeddings of a write (or an import chunk). True when
    the vectors are to be made by the server from the documents (`embeddable` writes
    without embeddings whose every id has a document)."""
    count = len(request.ids)
    batch_size(count, max_batch_size)
    record_ids(request.ids, required=True)
    column_length(request.documents, count, "documents")
    column_length(request.metadatas, count, "metadatas")
    embed = (embeddable and vectors_required and not request.embeddings.data
             and documents_to_embed(request.documents, count, operation))
    record_vectors(request.embeddings, count, operation, required=vectors_required and not embed)
    metadatas(request.metadatas, allow_null=allow_null)
    return embed


def check_add(request: record_service_pb2.AddRecordsRequest, max_batch_size: int) -> bool:
    """True when the server must embed the documents (no embeddings were sent)."""
    return _write(request, max_batch_size, "add", vectors_required=True, allow_null=False)


def check_upsert(request: record_service_pb2.UpsertRecordsRequest, max_batch_size: int) -> bool:
    """True when the server must embed the documents (no embeddings were sent)."""
    return _write(request, max_batch_size, "upsert", vectors_required=True, allow_null=True)


def check_import_chunk(chunk, max_batch_size: int) -> None:
    """An ImportChunk follows add's rules: embeddings required, no null metadata values."""
    _columns(chunk, max_batch_size, "import", vectors_required=True, allow_null=False,
             embeddable=False)


def check_update(request: record_service_pb2.UpdateRecordsRequest, max_batch_size: int) -> None:
    _write(request, max_batch_size, "update", vectors_required=False, allow_null=True)


def check_delete(request: record_service_pb2.DeleteRecordsRequest, max_batch_size: int) -> None:
    collection_id(request.collection_id)
    batch_size(len(request.ids), max_batch_size)
    record_ids(request.ids, required=False)
    if not request.ids and not request.HasField("where") and not request.HasField(
        "where_document"
    ):
        raise errors.InvalidArgumentError(
            "ids/where/where_document: a delete needs ids, a where filter or a "
            "where_document filter; give at least one"
        )


def check_get(request: record_service_pb2.GetRecordsRequest) -> frozenset[int]:
    collection_id(request.collection_id)
    record_ids(request.ids, required=False)
    return include(request.include, query=False, present=request.HasField("include"))


def check_query(request: record_service_pb2.QueryRecordsRequest) -> tuple[np.ndarray,
                                                                        frozenset[int]]:
    """The decoded query vectors and the fields to return."""
    collection_id(request.collection_id)
    queries = query_vectors(request.query_embeddings)
    n_results(request.n_results)
    record_ids(request.ids, required=False)
    fields = include(request.include, query=True, present=request.HasField("include"))
    return queries, fields

