"""Protos <-> the plain values of metadata_worker.domain.

Also checks what the wire types cannot express: one value per id in each column, list
values non-empty, null only where a key may be removed.
"""

from __future__ import annotations

import math

from segmentdb import embedding_functions, vectors
from segmentdb.errors import InvalidArgumentError
from segmentdb.internal.v1 import segment_pb2
from segmentdb.v1 import admin_pb2, collection_pb2, common_pb2, tenancy_pb2

from metadata_worker import domain
from metadata_worker.domain import DELETE

_SPACE_NAMES = {
    collection_pb2.SPACE_L2: "l2",
    collection_pb2.SPACE_IP: "ip",
    collection_pb2.SPACE_COSINE: "cosine",
}
_SPACE_ENUMS = {name: number for number, name in _SPACE_NAMES.items()}
_LIST_KINDS = {"string_list": str, "int_list": int, "float_list": float, "bool_list": bool}
_INCLUDE = common_pb2.IncludeField


# -- metadata ------------------------------------------------------------------------------

def metadata_from_proto(metadata: common_pb2.Metadata, path: str, *,
                        allow_delete: bool = False, allow_lists: bool = True) -> dict | None:
    """A dict (None when empty). null_value becomes DELETE where `allow_delete`."""
    out: dict = {}
    for key, value in metadata.fields.items():
        where = f"{path}.{key}" if key else path
        if not key:
            raise InvalidArgumentError(f"{path}: metadata keys must be non-empty strings")
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidArgumentError(f"{where}: value is missing; give a str, int, float or bool")
        if kind == "null_value":
            if not allow_delete:
                raise InvalidArgumentError(
                    f"{where}: null is only allowed in update/upsert (to remove a key); "
                    "leave the key out instead"
                )
            out[key] = DELETE
        elif kind in _LIST_KINDS:
            if not allow_lists:
                raise InvalidArgumentError(
                    f"{where}: collection metadata values must be str, int, float or bool, "
                    "not lists"
                )
            items = list(getattr(value, kind).values)
            if not items:
                raise InvalidArgumentError(f"{where}: lists must not be empty")
            if kind == "float_list" and not all(math.isfinite(x) for x in items):
                raise InvalidArgumentError(f"{where}: NaN and infinity are not allowed")
            out[key] = items
        else:
            scalar = getattr(value, kind)
            if kind == "float_value" and not math.isfinite(scalar):
                raise InvalidArgumentError(f"{where}: NaN and infinity are not allowed")
            out[key] = scalar
    return out or None


def value_to_proto(value) -> common_pb2.MetadataValue:
    if isinstance(value, bool):
        return common_pb2.MetadataValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.MetadataValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.MetadataValue(float_value=value)
    if isinstance(value, str):
        return common_pb2.MetadataValue(string_value=value)
    first = value[0]
    if isinstance(first, bool):
        return common_pb2.MetadataValue(bool_list=common_pb2.BoolList(values=value))
    if isinstance(first, int):
        return common_pb2.MetadataValue(int_list=common_pb2.IntList(values=value))
    if isinstance(first, float):
        return common_pb2.MetadataValue(float_list=common_pb2.FloatList(values=value))
    return common_pb2.MetadataValue(string_list=common_pb2.StringList(values=value))


def metadata_to_proto(metadata: dict | None) -> common_pb2.Metadata:
    out = common_pb2.Metadata()
    for key, value in (metadata or {}).items():
        out.fields[key].CopyFrom(value_to_proto(value))
    return out


# -- tenancy and collections -------------------------------------------------------------------

def database_to_proto(db: domain.Database) -> tenancy_pb2.Database:
    return tenancy_pb2.Database(id=db.id, name=db.name, tenant=db.tenant)


def hnsw_from_proto(config: collection_pb2.HnswConfiguration) -> dict:
    """Only the parameters the request set; an unknown space stays visible for the check."""
    out: dict = {}
    for field in ("max_neighbors", "ef_construction", "ef_search", "num_threads",
                  "resize_factor", "sync_threshold", "batch_size"):
        if config.HasField(field):
            out[field] = getattr(config, field)
    if config.HasField("space"):
        out["space"] = _SPACE_NAMES.get(
            config.space,
            collection_pb2.Space.Name(config.space)
            if config.space in collection_pb2.Space.values() else f"enum value {config.space}",
        )
    return out


def embedding_function_from_proto(configuration: collection_pb2.CollectionConfiguration,
                                  field: str) -> dict | None:
    """The checked spec a request's configuration sets; None when it sets none."""
    if not configuration.HasField("embedding_function"):
        return None
    return embedding_functions.from_proto(configuration.embedding_function, field)


def hnsw_to_proto(resolved: dict) -> collection_pb2.HnswConfiguration:
    return collection_pb2.HnswConfiguration(
        space=_SPACE_ENUMS[resolved["space"]],
        max_neighbors=resolved["max_neighbors"],
        ef_construction=resolved["ef_construction"],
        ef_search=resolved["ef_search"],
        num_threads=resolved["num_threads"],
        resize_factor=resolved["resize_factor"],
        sync_threshold=resolved["sync_threshold"],
        batch_size=resolved["batch_size"],
    )


def collection_to_proto(c: domain.Collection) -> collection_pb2.Collection:
    out = collection_pb2.Collection(
        id=c.id, name=c.name, tenant=c.tenant, database=c.database,
        metadata=metadata_to_proto(c.metadata),
        configuration=collection_pb2.CollectionConfiguration(hnsw=hnsw_to_proto(c.hnsw)),
    )
    if c.embedding_function is not None:
        out.configuration.embedding_function.CopyFrom(
            embedding_functions.to_proto(c.embedding_function))
    if c.dimension is not None:
        out.dimension = c.dimension
    return out


# -- records ------------------------------------------------------------------------------------

def record_write(request, *, vectors_required: bool, allow_delete: bool) -> domain.RecordWrite:
    """The columns of an Add/Upsert/UpdateRecordsRequest, each checked for length."""
    ids = list(request.ids)
    count = len(ids)
    batch = domain.RecordWrite(ids=ids)
    if request.embeddings.data or vectors_required:
        batch.vectors = vectors.decode_checked(request.embeddings, count, "embeddings")
    if len(request.documents):
        _check_column_length("documents", len(request.documents), count)
        batch.documents = [d.value if d.HasField("value") else None for d in request.documents]
    if len(request.metadatas):
        _check_column_length("metadatas", len(request.metadatas), count)
        batch.metadatas = [
            metadata_from_proto(m, f"metadatas[{i}]", allow_delete=allow_delete)
            for i, m in enumerate(request.metadatas)
        ]
    return batch


def _check_column_length(field: str, got: int, count: int) -> None:
    if got != count:
        raise InvalidArgumentError(
            f"{field}: got {got} values for {count} ids; give one per id or none at all"
        )


def include_from_proto(request, *, field: str = "include",
                       allow_distances: bool = False) -> domain.Include:
    """chromadb's default (documents + metadatas) when the Include is absent."""
    if not request.HasField(field):
        return domain.Include()
    wanted = set()
    for i, value in enumerate(getattr(request, field).fields):
        if value == _INCLUDE.INCLUDE_FIELD_DISTANCES and not allow_distances:
            raise InvalidArgumentError(
                f"{field}.fields[{i}]: distances exist only for queries; remove it from a get"
            )
        if value not in (_INCLUDE.INCLUDE_FIELD_DOCUMENTS, _INCLUDE.INCLUDE_FIELD_METADATAS,
                         _INCLUDE.INCLUDE_FIELD_EMBEDDINGS, _INCLUDE.INCLUDE_FIELD_DISTANCES):
            raise InvalidArgumentError(
                f"{field}.fields[{i}]: {value} is not a field to include; use documents, "
                "metadatas or embeddings"
            )
        wanted.add(value)
    return domain.Include(
        documents=_INCLUDE.INCLUDE_FIELD_DOCUMENTS in wanted,
        metadatas=_INCLUDE.INCLUDE_FIELD_METADATAS in wanted,
        embeddings=_INCLUDE.INCLUDE_FIELD_EMBEDDINGS in wanted,
    )


def records_to_proto(records: domain.Records) -> common_pb2.RecordBatch:
    out = common_pb2.RecordBatch(ids=records.ids)
    if records.documents is not None:
        out.documents.extend(
            common_pb2.OptionalString(value=d) if d is not None else common_pb2.OptionalString()
            for d in records.documents
        )
    if records.metadatas is not None:
        out.metadatas.extend(metadata_to_proto(m) for m in records.metadatas)
    if records.vectors is not None and len(records.vectors):
        out.embeddings.CopyFrom(vectors.encode(records.vectors))
    return out


# -- storage -------------------------------------------------------------------------------

def storage_stats_to_proto(stats: domain.StorageStats) -> admin_pb2.StorageStats:
    return admin_pb2.StorageStats(log_entries=stats.log_entries,
                                  sqlite_bytes=stats.sqlite_bytes,
                                  collections=stats.collections, records=stats.records)


def segment_spec(collection: domain.Collection) -> segment_pb2.SegmentSpec:
    """What a vector worker needs to load or build the collection's vector segment."""
    return segment_pb2.SegmentSpec(
        segment_id=collection.vector_segment_id, collection_id=collection.id,
        dimension=collection.dimension or 0, hnsw=hnsw_to_proto(collection.hnsw))


def page_token_rowid(token: str, field: str) -> int:
    """A page token we handed out (a collection's rowid); 0 for the first page."""
    if not token:
        return 0
    if not token.isdigit():
        raise InvalidArgumentError(
            f"{field}: {token!r} is not a page token this server returned; pass the previous "
            "page's next_page_token, or nothing for the first page")
    return int(token)
