"""chromadb-style Python values <-> segmentdb.v1 protos.

The SDK speaks chromadb's dialect (metadata dicts, `where` dicts with `$eq`/`$and`,
include strings, `{"hnsw": {...}}` configurations); the wire speaks typed protos. This
module is the one translation in both directions, and it validates as it goes so that a
malformed argument fails here, naming the field, before any call is made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from segmentdb import embedding_functions, vectors
from segmentdb.errors import InternalError, InvalidArgumentError
from segmentdb.v1 import collection_pb2, common_pb2

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# ---------------------------------------------------------------- metadata values

def _scalar_kind(value: Any) -> str | None:
    """'bool' | 'int' | 'float' | 'str' for a metadata scalar, None otherwise.

    bool is tested before int because `isinstance(True, int)` is true in Python and a
    bool must never travel (or compare) as an int.
    """
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    return None


def _set_scalar(target: common_pb2.MetadataValue, value: Any, kind: str, field: str) -> None:
    if kind == "bool":
        target.bool_value = bool(value)
    elif kind == "int":
        number = int(value)
        if not INT64_MIN <= number <= INT64_MAX:
            raise InvalidArgumentError(
                f"{field}: integer {number} does not fit in 64 bits; store it as a float or a string"
            )
        target.int_value = number
    elif kind == "float":
        target.float_value = float(value)
    else:
        target.string_value = value


def value_to_proto(value: Any, field: str, allow_null: bool = False) -> common_pb2.MetadataValue:
    """One metadata value (scalar, non-empty homogeneous list, or None where allowed)."""
    out = common_pb2.MetadataValue()
    if value is None:
        if not allow_null:
            raise InvalidArgumentError(
                f"{field}: None is only allowed in update/upsert (where it removes the key); "
                "leave the key out instead"
            )
        out.null_value = struct_pb2.NULL_VALUE
        return out
    kind = _scalar_kind(value)
    if kind is not None:
        _set_scalar(out, value, kind, field)
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if not items:
            raise InvalidArgumentError(f"{field}: a list value must not be empty; leave the key out instead")
        kinds = {_scalar_kind(item) for item in items}
        if None in kinds:
            bad = next(item for item in items if _scalar_kind(item) is None)
            raise InvalidArgumentError(
                f"{field}: list elements must be str, int, float or bool, got {type(bad).__name__}"
            )
        if len(kinds) != 1:
            raise InvalidArgumentError(
                f"{field}: list elements must all have one type, got {sorted(kinds)}"
            )
        _set_list(out, items, kinds.pop(), field)
        return out
    raise InvalidArgumentError(
        f"{field}: expected str, int, float, bool or a list of one of them, got {type(value).__name__}"
    )


def _set_list(target: common_pb2.MetadataValue, items: list, kind: str, field: str) -> None:
    if kind == "bool":
        target.bool_list.values.extend(bool(item) for item in items)
    elif kind == "int":
        for i, item in enumerate(items):
            if not INT64_MIN <= int(item) <= INT64_MAX:
                raise InvalidArgumentError(f"{field}[{i}]: integer {int(item)} does not fit in 64 bits")
        target.int_list.values.extend(int(item) for item in items)
    elif kind == "float":
        target.float_list.values.extend(float(item) for item in items)
    else:
        target.string_list.values.extend(items)


def value_from_proto(value: common_pb2.MetadataValue) -> Any:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind.endswith("_list"):
        return list(getattr(value, kind).values)
    return getattr(value, kind)


def metadata_to_proto(
    metadata: Mapping[str, Any] | None, field: str = "metadata", allow_null: bool = False
) -> common_pb2.Metadata:
    """A metadata dict (or None / {} for "no metadata") as a Metadata message."""
    out = common_pb2.Metadata()
    if metadata is None:
        return out
    if not isinstance(metadata, Mapping):
        raise InvalidArgumentError(
            f"{field}: expected a dict of str keys to values, got {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"{field}: keys must be non-empty strings, got {key!r}")
        out.fields[key].CopyFrom(value_to_proto(value, f"{field}[{key!r}]", allow_null))
    return out


def metadata_from_proto(metadata: common_pb2.Metadata) -> dict[str, Any] | None:
    """The dict of a Metadata message; an empty one is None (chromadb's "no metadata")."""
    if not metadata.fields:
        return None
    return {key: value_from_proto(value) for key, value in metadata.fields.items()}


# ---------------------------------------------------------------- where

_OPERATORS = {
    "$eq": common_pb2.COMPARISON_OPERATOR_EQ,
    "$ne": common_pb2.COMPARISON_OPERATOR_NE,
    "$gt": common_pb2.COMPARISON_OPERATOR_GT,
    "$gte": common_pb2.COMPARISON_OPERATOR_GTE,
    "$lt": common_pb2.COMPARISON_OPERATOR_LT,
    "$lte": common_pb2.COMPARISON_OPERATOR_LTE,
    "$in": common_pb2.COMPARISON_OPERATOR_IN,
    "$nin": common_pb2.COMPARISON_OPERATOR_NIN,
    "$contains": common_pb2.COMPARISON_OPERATOR_CONTAINS,
    "$not_contains": common_pb2.COMPARISON_OPERATOR_NOT_CONTAINS,
}
_OPERATOR_NAMES = {number: name for name, number in _OPERATORS.items()}
_ORDERING = {"$gt", "$gte", "$lt", "$lte"}
_LIST_OPERATORS = {"$in", "$nin"}
_LOGICAL = {"$and": "all_of", "$or": "any_of"}
# The server's bound on nested $and/$or (metadata_worker.filters.MAX_FILTER_DEPTH): checked
# here too, so a deep filter fails with the same clear error before recursion or protobuf's
# own nesting limit (100 messages) could fail it less clearly.
MAX_FILTER_DEPTH = 8


def _check_depth(depth: int, field: str) -> None:
    if depth > MAX_FILTER_DEPTH:
        raise InvalidArgumentError(
            f"{field[:120]}: nested more than {MAX_FILTER_DEPTH} levels of $and/$or; flatten "
            "the filter")


def _one_entry(value: Any, field: str, what: str) -> tuple[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"{field}: expected a dict, got {type(value).__name__}")
    if len(value) != 1:
        raise InvalidArgumentError(
            f"{field}: expected exactly one {what} per dict, got {len(value)} ({list(value)!r}); "
            "combine several conditions with {'$and': [...]} or {'$or': [...]}"
        )
    return next(iter(value.items()))


def _clauses(value: Any, field: str, op: str) -> list:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise InvalidArgumentError(
            f"{field}: {op} needs a list of at least two clauses, got {value!r}"
        )
    return list(value)


def where_to_proto(where: Mapping[str, Any], field: str = "where",
                   _depth: int = 0) -> common_pb2.Where:
    """chromadb's `where` dict as a Where tree; `{"k": v}` means `{"k": {"$eq": v}}`."""
    key, value = _one_entry(where, field, "key")
    out = common_pb2.Where()
    if key in _LOGICAL:
        _check_depth(_depth + 1, field)
        target = getattr(out, _LOGICAL[key])
        for i, clause in enumerate(_clauses(value, f"{field}.{key}", key)):
            target.clauses.append(where_to_proto(clause, f"{field}.{key}[{i}]", _depth + 1))
        return out
    if not isinstance(key, str) or not key or key.startswith("$"):
        raise InvalidArgumentError(
            f"{field}: unknown logical operator {key!r}; use $and or $or, or a metadata key"
        )
    if isinstance(value, Mapping):
        op, operand = _one_entry(value, f"{field}[{key!r}]", "operator")
    else:
        op, operand = "$eq", value
    condition = out.condition
    condition.key = key
    condition.operator = _operator(op, f"{field}[{key!r}]")
    condition.value.CopyFrom(_operand(op, operand, f"{field}[{key!r}][{op!r}]"))
    return out


def _operator(op: Any, field: str) -> int:
    if op not in _OPERATORS:
        raise InvalidArgumentError(
            f"{field}: unknown operator {op!r}; expected one of {', '.join(_OPERATORS)}"
        )
    return _OPERATORS[op]


def _operand(op: str, operand: Any, field: str) -> common_pb2.MetadataValue:
    if op in _LIST_OPERATORS:
        if not isinstance(operand, (list, tuple)):
            raise InvalidArgumentError(f"{field}: {op} needs a list of values, got {operand!r}")
        if not operand:  # an empty list still has to be *a list* on the wire
            value = common_pb2.MetadataValue()
            value.string_list.SetInParent()
            return value
        return value_to_proto(list(operand), field)
    kind = _scalar_kind(operand)
    if kind is None:
        raise InvalidArgumentError(
            f"{field}: {op} needs a str, int, float or bool, got {type(operand).__name__}"
        )
    if op in _ORDERING and kind not in ("int", "float"):
        raise InvalidArgumentError(f"{field}: {op} needs an int or float, got {kind} {operand!r}")
    return value_to_proto(operand, field)


def where_from_proto(where: common_pb2.Where) -> dict[str, Any]:
    """A Where tree as a dict (conditions always in the explicit `{"k": {"$op": v}}` form)."""
    expr = where.WhichOneof("expr")
    if expr in ("all_of", "any_of"):
        op = "$and" if expr == "all_of" else "$or"
        return {op: [where_from_proto(c) for c in getattr(where, expr).clauses]}
    if expr == "condition":
        condition = where.condition
        return {condition.key: {_OPERATOR_NAMES[condition.operator]: value_from_proto(condition.value)}}
    return {}


# ---------------------------------------------------------------- where_document

_DOCUMENT_OPERATORS = {
    "$contains": common_pb2.DOCUMENT_OPERATOR_CONTAINS,
    "$not_contains": common_pb2.DOCUMENT_OPERATOR_NOT_CONTAINS,
    "$regex": common_pb2.DOCUMENT_OPERATOR_REGEX,
    "$not_regex": common_pb2.DOCUMENT_OPERATOR_NOT_REGEX,
}
_DOCUMENT_OPERATOR_NAMES = {number: name for name, number in _DOCUMENT_OPERATORS.items()}


def where_document_to_proto(
    where_document: Mapping[str, Any], field: str = "where_document", _depth: int = 0
) -> common_pb2.WhereDocument:
    op, value = _one_entry(where_document, field, "operator")
    out = common_pb2.WhereDocument()
    if op in _LOGICAL:
        _check_depth(_depth + 1, field)
        target = getattr(out, _LOGICAL[op])
        for i, clause in enumerate(_clauses(value, f"{field}.{op}", op)):
            target.clauses.append(where_document_to_proto(clause, f"{field}.{op}[{i}]",
                                                          _depth + 1))
        return out
    if op not in _DOCUMENT_OPERATORS:
        valid = ", ".join([*_DOCUMENT_OPERATORS, *_LOGICAL])
        raise InvalidArgumentError(f"{field}: unknown operator {op!r}; expected one of {valid}")
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{field}[{op!r}]: expected a string, got {type(value).__name__}")
    if not value:
        # chromadb's rule; the metadata worker checks it too, for clients of other languages.
        raise InvalidArgumentError(f"{field}[{op!r}]: the pattern is empty; give a non-empty string")
    out.condition.operator = _DOCUMENT_OPERATORS[op]
    out.condition.pattern = value
    return out


def where_document_from_proto(where_document: common_pb2.WhereDocument) -> dict[str, Any]:
    expr = where_document.WhichOneof("expr")
    if expr in ("all_of", "any_of"):
        op = "$and" if expr == "all_of" else "$or"
        return {op: [where_document_from_proto(c) for c in getattr(where_document, expr).clauses]}
    if expr == "condition":
        condition = where_document.condition
        return {_DOCUMENT_OPERATOR_NAMES[condition.operator]: condition.pattern}
    return {}


# ---------------------------------------------------------------- include

INCLUDE_FIELDS = {
    "documents": common_pb2.INCLUDE_FIELD_DOCUMENTS,
    "metadatas": common_pb2.INCLUDE_FIELD_METADATAS,
    "embeddings": common_pb2.INCLUDE_FIELD_EMBEDDINGS,
    "distances": common_pb2.INCLUDE_FIELD_DISTANCES,
}
_INCLUDE_NAMES = {number: name for name, number in INCLUDE_FIELDS.items()}
# chromadb's include values for URIs and the data its data loader reads from them. Records
# here have no URIs, so the SDK answers them itself (None per record) and never sends them.
SDK_ONLY_INCLUDE = ("uris", "data")


def include_to_proto(include: Iterable[str], operation: str = "get") -> common_pb2.Include:
    """Include strings as an Include message; `distances` only for query.

    "uris" (and "data" in a query) are accepted and left off the wire, like chromadb without
    a data loader; "data" in a get raises, as chromadb does when no data loader is set.
    """
    if isinstance(include, str):
        raise InvalidArgumentError(f"include: expected a list of strings, got the string {include!r}")
    out = common_pb2.Include()
    allowed = [name for name in INCLUDE_FIELDS if operation == "query" or name != "distances"]
    for item in include:
        if item == "data" and operation != "query":
            raise InvalidArgumentError(
                "include: 'data' needs a data loader to read records' URIs, and segmentdb "
                f"collections have neither; use {', '.join(allowed)}"
            )
        if item in SDK_ONLY_INCLUDE:
            continue
        if item not in allowed:
            raise InvalidArgumentError(
                f"include: {item!r} is not valid in {operation}; expected some of {', '.join(allowed)}"
            )
        if INCLUDE_FIELDS[item] not in out.fields:
            out.fields.append(INCLUDE_FIELDS[item])
    return out


def include_from_proto(include: common_pb2.Include) -> list[str]:
    return [_INCLUDE_NAMES[field] for field in include.fields]


# ---------------------------------------------------------------- configuration

_SPACES = {
    "l2": collection_pb2.SPACE_L2,
    "ip": collection_pb2.SPACE_IP,
    "cosine": collection_pb2.SPACE_COSINE,
}
_SPACE_NAMES = {number: name for name, number in _SPACES.items()}
_HNSW_INT_KEYS = ("max_neighbors", "ef_construction", "ef_search", "num_threads",
                  "sync_threshold", "batch_size")
_HNSW_ALIASES = {"M": "max_neighbors"}
_HNSW_KEYS = ("space", *_HNSW_INT_KEYS, "resize_factor")
# chromadb puts this next to "hnsw"; None for it means "not used" and is accepted.
_IGNORED_TOP_LEVEL = ("spann",)


def configuration_to_proto(configuration: Mapping[str, Any] | None) -> collection_pb2.CollectionConfiguration:
    """`{"hnsw": {"space": "cosine", "ef_search": 50}}` as a CollectionConfiguration.

    Keys left out stay unset (server default on create, unchanged on modify).
    `embedding_function` is Chroma 1.x's JSON dict (`{"type": "known", "name": "default"}`
    or `{"type": "legacy"}`); a callable there is a client-side function, which the client
    handles (segmentdb.client) and which is not sent.
    """
    out = collection_pb2.CollectionConfiguration()
    if configuration is None:
        return out
    if not isinstance(configuration, Mapping):
        raise InvalidArgumentError(
            f"configuration: expected a dict like {{'hnsw': {{'space': 'cosine'}}}}, got "
            f"{type(configuration).__name__}"
        )
    for key, value in configuration.items():
        if key == "hnsw":
            if value is not None:
                _hnsw_to_proto(value, out.hnsw)
        elif key == "embedding_function":
            if value is not None and not callable(value):
                out.embedding_function.CopyFrom(
                    embedding_functions.message_from_dict(value, "configuration.embedding_function"))
        elif key in _IGNORED_TOP_LEVEL:
            if value is not None and key == "spann":
                raise InvalidArgumentError("configuration.spann: segmentdb only has HNSW indexes; use 'hnsw'")
        else:
            raise InvalidArgumentError(
                f"configuration: unknown key {key!r}; expected 'hnsw' or 'embedding_function'")
    return out


def _hnsw_to_proto(hnsw: Any, out: collection_pb2.HnswConfiguration) -> None:
    if not isinstance(hnsw, Mapping):
        raise InvalidArgumentError(f"configuration.hnsw: expected a dict, got {type(hnsw).__name__}")
    out.SetInParent()
    for raw_key, value in hnsw.items():
        key = _HNSW_ALIASES.get(raw_key, raw_key)
        field = f"configuration.hnsw.{raw_key}"
        if value is None:
            continue
        if key == "space":
            if value not in _SPACES:
                raise InvalidArgumentError(f"{field}: unknown space {value!r}; expected one of l2, ip, cosine")
            out.space = _SPACES[value]
        elif key in _HNSW_INT_KEYS:
            if _scalar_kind(value) != "int" or not 0 < int(value) < 2**32:
                raise InvalidArgumentError(f"{field}: expected a positive integer, got {value!r}")
            setattr(out, key, int(value))
        elif key == "resize_factor":
            if _scalar_kind(value) not in ("int", "float") or not math.isfinite(value) or value <= 0:
                raise InvalidArgumentError(f"{field}: expected a positive number, got {value!r}")
            out.resize_factor = float(value)
        else:
            raise InvalidArgumentError(
                f"configuration.hnsw: unknown key {raw_key!r}; expected one of {', '.join(_HNSW_KEYS)}"
            )


def configuration_from_proto(configuration: collection_pb2.CollectionConfiguration) -> dict[str, Any]:
    hnsw: dict[str, Any] = {}
    proto = configuration.hnsw
    for key in _HNSW_KEYS:
        if proto.HasField(key):
            value = getattr(proto, key)
            hnsw[key] = _SPACE_NAMES.get(value) if key == "space" else value
    out: dict[str, Any] = {"hnsw": hnsw}
    if configuration.HasField("embedding_function"):
        # Absent for collections created before functions were recorded (they have none).
        out["embedding_function"] = embedding_functions.dict_from_message(
            configuration.embedding_function)
    return out


# ---------------------------------------------------------------- records

def documents_to_proto(documents: Sequence[str | None]) -> list[common_pb2.OptionalString]:
    out = []
    for i, document in enumerate(documents):
        if document is not None and not isinstance(document, str):
            raise InvalidArgumentError(
                f"documents[{i}]: expected a string or None, got {type(document).__name__}"
            )
        out.append(common_pb2.OptionalString() if document is None else common_pb2.OptionalString(value=document))
    return out


def documents_from_proto(documents: Iterable[common_pb2.OptionalString]) -> list[str | None]:
    return [d.value if d.HasField("value") else None for d in documents]


def records_from_proto(batch: common_pb2.RecordBatch, include: Sequence[str]) -> dict[str, Any]:
    """The columns of a RecordBatch as chromadb returns them; fields not included are None."""
    columns: dict[str, Any] = {"ids": list(batch.ids)}
    columns["embeddings"] = (
        _embeddings_from_proto(batch.embeddings, len(batch.ids)) if "embeddings" in include else None
    )
    columns["documents"] = documents_from_proto(batch.documents) if "documents" in include else None
    columns["metadatas"] = (
        [metadata_from_proto(m) for m in batch.metadatas] if "metadatas" in include else None
    )
    columns["distances"] = [float(d) for d in batch.distances] if "distances" in include else None
    return columns


def _embeddings_from_proto(batch: common_pb2.VectorBatch, count: int) -> np.ndarray:
    if count == 0:
        # chromadb returns np.array([]) (shape (0,)) for "no records", not a (0, d) array.
        return np.array([], dtype=vectors.WIRE_DTYPE)
    array = vectors.decode(batch, "embeddings")
    if array.shape[0] == 0 and count:
        raise InternalError(f"embeddings: the server sent no vectors for {count} records")
    # frombuffer views are read-only; callers expect an array they own.
    return array.copy()
