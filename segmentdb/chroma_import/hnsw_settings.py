"""The HNSW parameters a Chroma collection really used, as segmentdb configuration.

Where Chroma keeps them depends on its version:
- 1.5+ (Rust): collections.schema_str, keys."#embedding".float_list.vector_index.config =
  {"space", "hnsw": {"max_neighbors", "ef_construction", "ef_search", "num_threads",
  "batch_size", "sync_threshold", "resize_factor"}}; ef_search changed by
  `modify(configuration=...)` lands there. Legacy `hnsw:*` metadata given at creation is
  converted into it (the metadata keys stay, and may be stale after a modify).
- 1.0-1.4 (Rust): collections.config_json_str = {"hnsw": {"space", ...}}.
- 0.5.x (Python): the `hnsw:*` keys of the vector segment's metadata (copied from the
  collection's metadata at creation), which is what PersistentHnswParams reads; its
  config_json_str ({"hnsw_configuration": ...}) is not what the index used (a collection
  made with hnsw:space=cosine still says "l2" there), so it is ignored.
Defaults differ: 0.5.x searches with ef 10, 1.x with 100. segmentdb takes what Chroma used.
num_threads is a property of the machine, not of the data: taken only from an explicit
`hnsw:num_threads` key, else segmentdb's default.
"""

from __future__ import annotations

from typing import Any

from metadata_worker import collection_config
from segmentdb.chroma_import import ChromaFormatError
from segmentdb.chroma_import.chroma_sqlite import ChromaCollection
from segmentdb.errors import InvalidArgumentError

PYTHON_DEFAULTS = {"space": "l2", "max_neighbors": 16, "ef_construction": 100, "ef_search": 10,
                   "resize_factor": 1.2, "batch_size": 100, "sync_threshold": 1000}
RUST_DEFAULTS = {**PYTHON_DEFAULTS, "ef_search": 100}
# Chroma 1.x names its HNSW parameters as segmentdb does (space is one level up).
_RUST_KEYS = ("max_neighbors", "ef_construction", "ef_search", "batch_size", "sync_threshold",
              "resize_factor")


def _vector_index_config(schema: dict | None) -> dict | None:
    try:
        config = schema["keys"]["#embedding"]["float_list"]["vector_index"]["config"]
    except (KeyError, TypeError):
        return None
    return config if isinstance(config, dict) else None


def chroma_parameters(collection: ChromaCollection) -> tuple[dict[str, Any], str]:
    """(parameters in segmentdb's names, where they came from)."""
    vector_index = _vector_index_config(collection.schema)
    config_hnsw = (collection.config_json or {}).get("hnsw")
    if vector_index is not None and isinstance(vector_index.get("hnsw"), dict):
        found = {k: vector_index["hnsw"][k] for k in _RUST_KEYS if k in vector_index["hnsw"]}
        if "space" in vector_index:
            found["space"] = vector_index["space"]
        return {**RUST_DEFAULTS, **found}, "schema_str"
    if isinstance(config_hnsw, dict):
        found = {k: config_hnsw[k] for k in (*_RUST_KEYS, "space") if k in config_hnsw}
        return {**RUST_DEFAULTS, **found}, "config_json_str"
    source = collection.vector_segment_metadata or collection.metadata or {}
    where = "segment_metadata" if collection.vector_segment_metadata else "collection metadata"
    try:
        found = collection_config.legacy_parameters(source)
    except InvalidArgumentError as exc:
        raise ChromaFormatError(f"collection {collection.name!r}: {where}: {exc.message}") from None
    found.pop("num_threads", None)
    return {**PYTHON_DEFAULTS, **found}, f"hnsw:* keys of the {where}"


def segmentdb_configuration(collection: ChromaCollection) -> tuple[dict[str, Any], str]:
    """The resolved segmentdb configuration (checked by segmentdb's own rules)."""
    params, source = chroma_parameters(collection)
    threads = (collection.metadata or {}).get("hnsw:num_threads")
    if isinstance(threads, int) and not isinstance(threads, bool):
        params["num_threads"] = threads
    try:
        return collection_config.resolve_create(params, None,
                                                path=f"collection {collection.name!r}"), source
    except InvalidArgumentError as exc:
        raise ChromaFormatError(
            f"{exc.message} (read from Chroma's {source}); segmentdb cannot use that value"
        ) from None
