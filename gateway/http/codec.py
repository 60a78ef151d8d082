"""Chroma's JSON request bodies -> the public segmentdb.v1 request messages.

Only the JSON-shaped checks live here (is `ids` a list of strings, is an embedding a list of
numbers or a base64 string); every rule about the values themselves (unique ids, dimension,
finiteness, metadata types, batch size, names) is the servicers' (gateway.validation), so
both transports refuse the same input with the same message. Metadata, filters, include
lists and configurations go through segmentdb.wire, the SDK's one translation of chromadb's
Python values, which JSON values are a subset of.

Embeddings arrive as JSON arrays of numbers or, as chromadb's client sends them when
pre-flight-checks says `supports_base64_encoding`, one base64 string per vector holding
little-endian float32 values.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Optional

import numpy as np

from segmentdb import vectors, wire
from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import (
    collection_pb2,
    collection_service_pb2 as coll_pb,
    common_pb2,
    record_service_pb2 as rec_pb,
)

DEFAULT_GET_INCLUDE = ("documents", "metadatas")
DEFAULT_QUERY_INCLUDE = ("documents", "metadatas", "distances")


def body_object(body: Any, what: str) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgumentError(f"request body: {what} expects a JSON object, got "
                                   f"{_json_type(body)}")
    return body


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _ids(body: dict, required: bool) -> Optional[list[str]]:
    ids = body.get("ids")
    if ids is None:
        if required:
            raise InvalidArgumentError("ids: required; give a list of record ids")
        return None
    if not isinstance(ids, list):
        raise InvalidArgumentError(f"ids: expected an array of strings, got {_json_type(ids)}")
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise InvalidArgumentError(f"ids[{i}]: expected a string, got {_json_type(item)}")
    return ids


def _column(body: dict, field: str, count: int) -> Optional[list]:
    values = body.get(field)
    if values is None:
        return None
    if not isinstance(values, list):
        raise InvalidArgumentError(f"{field}: expected an array (one per id) or null, got "
                                   f"{_json_type(values)}")
    if len(values) != count:
        raise InvalidArgumentError(
            f"{field}: got {len(values)} for {count} ids; give exactly one per id")
    return values


def embeddings(value: Any, field: str) -> common_pb2.VectorBatch:
    """A JSON array of vectors (arrays of numbers, or base64 float32 strings) as a VectorBatch."""
    if not isinstance(value, list):
        raise InvalidArgumentError(
            f"{field}: expected an array of vectors, got {_json_type(value)}")
    if not value:
        return common_pb2.VectorBatch()
    rows: list[np.ndarray] = []
    for i, row in enumerate(value):
        rows.append(_vector(row, f"{field}[{i}]"))
    lengths = {len(row) for row in rows}
    if len(lengths) != 1:
        raise InvalidArgumentError(
            f"{field}: vectors have different lengths {sorted(lengths)}; every vector in one "
            "request must have the same dimension")
    return vectors.encode(np.stack(rows), field)


def _vector(row: Any, field: str) -> np.ndarray:
    if isinstance(row, str):
        try:
            raw = base64.b64decode(row, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError(
                f"{field}: not valid base64; a string embedding is the base64 of its "
                "little-endian float32 values") from None
        if not raw or len(raw) % 4:
            raise InvalidArgumentError(
                f"{field}: {len(raw)} decoded bytes is not a whole number of float32 values")
        return np.frombuffer(raw, dtype="<f4")
    if not isinstance(row, list) or not row:
        raise InvalidArgumentError(
            f"{field}: expected a non-empty array of numbers or a base64 string, got "
            f"{_json_type(row)}")
    for j, item in enumerate(row):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InvalidArgumentError(f"{field}[{j}]: expected a number, got {_json_type(item)}")
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidArgumentError(
                f"{field}[{j}]: NaN or infinity; every value must be a finite number")
    return np.asarray(row, dtype=np.float64).astype("<f4")


def _documents(body: dict, count: int) -> Optional[list]:
    documents = _column(body, "documents", count)
    return None if documents is None else wire.documents_to_proto(documents)


def _metadatas(body: dict, count: int, allow_null: bool) -> Optional[list]:
    metadatas = _column(body, "metadatas", count)
    if metadatas is None:
        return None
    return [wire.metadata_to_proto(m, f"metadatas[{i}]", allow_null)
            for i, m in enumerate(metadatas)]


def _no_uris(body: dict) -> None:
    """Chroma's client sends `uris: null` (or one null per record); records here have none."""
    uris = body.get("uris")
    if uris is None or (isinstance(uris, list) and all(u is None for u in uris)):
        return
    raise InvalidArgumentError("uris: not supported (segmentdb records have no URIs); "
                               "send embeddings and documents")


def write_request(kind: str, collection_id: str, body: dict):
    """add / upsert / update: Chroma's {ids, embeddings, metadatas, documents, uris}."""
    cls = {"add": rec_pb.AddRecordsRequest, "upsert": rec_pb.UpsertRecordsRequest,
           "update": rec_pb.UpdateRecordsRequest}[kind]
    request = cls(collection_id=collection_id)
    ids = _ids(body, required=True)
    _no_uris(body)
    request.ids.extend(ids)
    # Whether a write may come without embeddings is the servicer's rule (gateway.validation).
    if body.get("embeddings") is not None:
        request.embeddings.CopyFrom(embeddings(body["embeddings"], "embeddings"))
    documents = _documents(body, len(ids))
    if documents is not None:
        request.documents.extend(documents)
    metadatas = _metadatas(body, len(ids), allow_null=kind != "add")
    if metadatas is not None:
        request.metadatas.extend(metadatas)
    return request


def _filters(request, body: dict) -> None:
    where = body.get("where")
    if where:  # Chroma treats {} like null: no filter
        request.where.CopyFrom(wire.where_to_proto(where))
    where_document = body.get("where_document")
    if where_document:
        request.where_document.CopyFrom(wire.where_document_to_proto(where_document))


def _count(body: dict, field: str, minimum: int) -> Optional[int]:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{field}: expected an integer >= {minimum}, got {value!r}")
    return value


def include(body: dict, default: tuple[str, ...]) -> list[str]:
    """The include list as given (segmentdb.wire checks the names), or Chroma's default."""
    value = body.get("include")
    if value is None:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError("include: expected an array of strings, e.g. "
                                   '["documents", "metadatas"]')
    return value


def delete_request(collection_id: str, body: dict) -> rec_pb.DeleteRecordsRequest:
    request = rec_pb.DeleteRecordsRequest(collection_id=collection_id)
    ids = _ids(body, required=False)
    if ids is not None:
        request.ids.extend(ids)
    _filters(request, body)
    if body.get("limit") is not None:
        raise InvalidArgumentError("limit: delete with a limit is not supported; narrow the "
                                   "where filter instead")
    return request


def get_request(collection_id: str, body: dict, fields: list[str]) -> rec_pb.GetRecordsRequest:
    request = rec_pb.GetRecordsRequest(collection_id=collection_id)
    ids = _ids(body, required=False)
    if ids is not None:
        request.ids.extend(ids)
    _filters(request, body)
    limit = _count(body, "limit", 0)
    if limit is not None:
        request.limit = limit
    offset = _count(body, "offset", 0)
    if offset is not None:
        request.offset = offset
    request.include.CopyFrom(wire.include_to_proto(fields, "get"))
    return request


def query_request(collection_id: str, body: dict, fields: list[str]) -> rec_pb.QueryRecordsRequest:
    # Chroma's clients embed query texts themselves and send query_embeddings; query_texts
    # (an extension: the server embeds them with the collection's function) pass through.
    # "Exactly one of the two" is the servicer's rule.
    request = rec_pb.QueryRecordsRequest(collection_id=collection_id)
    if body.get("query_embeddings") is not None:
        request.query_embeddings.CopyFrom(
            embeddings(body["query_embeddings"], "query_embeddings"))
    texts = body.get("query_texts")
    if texts is not None:
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InvalidArgumentError("query_texts: expected an array of strings")
        request.query_texts.extend(texts)
    n_results = _count(body, "n_results", 1)
    request.n_results = 10 if n_results is None else n_results
    ids = _ids(body, required=False)
    if ids is not None:
        request.ids.extend(ids)
    _filters(request, body)
    request.include.CopyFrom(wire.include_to_proto(fields, "query"))
    return request


def _configuration(value: Any, field: str) -> collection_pb2.CollectionConfiguration:
    if value is None:
        return collection_pb2.CollectionConfiguration()
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{field}: expected an object like "
                                   '{"hnsw": {"space": "cosine"}}, got ' + _json_type(value))
    try:
        return wire.configuration_to_proto(value)
    except InvalidArgumentError as exc:  # name the HTTP field, not the SDK argument
        raise InvalidArgumentError(exc.message.replace("configuration", field, 1)) from None


def create_collection_request(tenant: str, database: str,
                              body: dict) -> coll_pb.CreateCollectionRequest:
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name: expected the collection's name as a string, got "
                                   f"{_json_type(name)}")
    get_or_create = body.get("get_or_create", False)
    if not isinstance(get_or_create, bool):
        raise InvalidArgumentError("get_or_create: expected true or false")
    metadata = body.get("metadata")
    if metadata is not None and not metadata:
        raise InvalidArgumentError(
            "metadata: Metadata cannot be empty; send null for a collection without metadata")
    return coll_pb.CreateCollectionRequest(
        tenant=tenant, database=database, name=name,
        metadata=wire.metadata_to_proto(metadata, "metadata"),
        configuration=_configuration(body.get("configuration"), "configuration"),
        get_or_create=get_or_create)


def modify_collection_request(collection_id: str, body: dict) -> coll_pb.ModifyCollectionRequest:
    request = coll_pb.ModifyCollectionRequest(collection_id=collection_id)
    new_name = body.get("new_name")
    if new_name is not None:
        if not isinstance(new_name, str):
            raise InvalidArgumentError(f"new_name: expected a string, got {_json_type(new_name)}")
        request.new_name = new_name
    new_metadata = body.get("new_metadata")
    if new_metadata is not None:
        if isinstance(new_metadata, dict):
            # Chroma replaces the metadata and leaves null-valued keys out of it.
            new_metadata = {k: v for k, v in new_metadata.items() if v is not None}
        request.new_metadata.CopyFrom(wire.metadata_to_proto(new_metadata, "new_metadata"))
    request.new_configuration.CopyFrom(
        _configuration(body.get("new_configuration"), "new_configuration"))
    return request


def name_field(body: dict, what: str) -> str:
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidArgumentError(f"name: expected the {what}'s name as a string, got "
                                   f"{_json_type(name)}")
    return name


def paging(query_params) -> tuple[int, int]:
    """?limit=&offset= of the list routes (0 = no limit)."""
    out = []
    for field in ("limit", "offset"):
        raw = query_params.get(field)
        if raw is None or raw == "":
            out.append(0)
            continue
        try:
            value = int(raw)
        except ValueError:
            raise InvalidArgumentError(
                f"{field}: expected a non-negative integer, got {raw!r}") from None
        if value < 0:
            raise InvalidArgumentError(f"{field}: expected a non-negative integer, got {value}")
        out.append(value)
    return out[0], out[1]
