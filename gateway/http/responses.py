"""segmentdb.v1 response messages -> Chroma's JSON bodies.

Collections are Chroma 1.x's CollectionModel JSON: id, name, configuration_json (hnsw with
the six keys Chroma shows, spann null, embedding_function), schema (Chroma's default index
schema with this collection's space and HNSW parameters: the stock client parses it),
metadata, dimension, tenant, database, log_position, version. Records are Chroma's column
objects: every column key is present, null when it was not included.
"""

from __future__ import annotations

from typing import Any, Optional

from segmentdb import vectors, wire
from segmentdb.v1 import collection_pb2, common_pb2

# configuration_json.hnsw shows these (Chroma's order); num_threads and batch_size only in
# the schema, as Chroma does.
_CONFIGURATION_KEYS = ("space", "ef_construction", "ef_search", "max_neighbors",
                       "resize_factor", "sync_threshold")


def _schema(hnsw: dict[str, Any]) -> dict[str, Any]:
    def index(enabled: bool) -> dict[str, Any]:
        return {"enabled": enabled, "config": {}}

    hnsw_config = {key: hnsw.get(key) for key in ("ef_construction", "max_neighbors",
                                                  "ef_search", "num_threads", "batch_size",
                                                  "sync_threshold", "resize_factor")}
    vector_config = {"space": hnsw.get("space", "l2"), "hnsw": hnsw_config}
    return {
        "defaults": {
            "string": {"fts_index": index(False), "string_inverted_index": index(True)},
            "float_list": {"vector_index": {"enabled": False, "config": vector_config}},
            "sparse_vector": {"sparse_vector_index": {
                "enabled": False, "config": {"embedding_function": {"type": "unknown"},
                                             "bm25": False}}},
            "int": {"int_inverted_index": index(True)},
            "float": {"float_inverted_index": index(True)},
            "bool": {"bool_inverted_index": index(True)},
        },
        "keys": {
            "#document": {"string": {"fts_index": index(True),
                                     "string_inverted_index": index(False)}},
            "#embedding": {"float_list": {"vector_index": {
                "enabled": True, "config": {**vector_config, "source_key": "#document"}}}},
        },
    }


def collection(proto: collection_pb2.Collection) -> dict[str, Any]:
    configuration = wire.configuration_from_proto(proto.configuration)
    hnsw = configuration["hnsw"]
    return {
        "id": proto.id,
        "name": proto.name,
        "configuration_json": {
            "hnsw": {key: hnsw.get(key) for key in _CONFIGURATION_KEYS},
            "spann": None,
            # Chroma 1.x's {"type": "known", "name": ..., "config": {...}} once the
            # configuration carries one (server-side embeddings, issue 7); null until then.
            "embedding_function": configuration.get("embedding_function"),
        },
        "schema": _schema(hnsw),
        "metadata": wire.metadata_from_proto(proto.metadata),
        "dimension": proto.dimension if proto.HasField("dimension") else None,
        "tenant": proto.tenant,
        "database": proto.database,
        "log_position": 0,
        "version": 0,
    }


def database(proto) -> dict[str, Any]:
    return {"id": proto.id, "name": proto.name, "tenant": proto.tenant}


def _embeddings(batch: common_pb2.VectorBatch, count: int) -> list[list[float]]:
    if count == 0:
        return []
    return vectors.decode(batch, "embeddings").tolist()


def _columns(batch: common_pb2.RecordBatch, fields: list[str]) -> dict[str, Optional[list]]:
    count = len(batch.ids)
    return {
        "embeddings": _embeddings(batch.embeddings, count) if "embeddings" in fields else None,
        "documents": wire.documents_from_proto(batch.documents) if "documents" in fields else None,
        "uris": [None] * count if "uris" in fields else None,
        "metadatas": ([wire.metadata_from_proto(m) for m in batch.metadatas]
                      if "metadatas" in fields else None),
        "distances": [float(d) for d in batch.distances] if "distances" in fields else None,
    }


def get_result(batch: common_pb2.RecordBatch, fields: list[str]) -> dict[str, Any]:
    columns = _columns(batch, fields)
    return {"ids": list(batch.ids), "embeddings": columns["embeddings"],
            "documents": columns["documents"], "uris": columns["uris"],
            "metadatas": columns["metadatas"], "include": fields}


def query_result(batches: list[common_pb2.RecordBatch], fields: list[str]) -> dict[str, Any]:
    per_query = [_columns(batch, fields) for batch in batches]
    out: dict[str, Any] = {"ids": [list(batch.ids) for batch in batches]}
    for key in ("embeddings", "documents", "uris", "metadatas", "distances"):
        out[key] = [q[key] for q in per_query] if key in fields else None
    out["include"] = fields
    return out


def empty_get(fields: list[str]) -> dict[str, Any]:
    return get_result(common_pb2.RecordBatch(), fields)
