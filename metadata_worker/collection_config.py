"""A collection's HNSW configuration: defaults, legacy `hnsw:*` metadata keys, checks.

Works on plain dicts: `requested` holds only the parameters a request set explicitly
(space as the name "l2"/"ip"/"cosine", or the raw enum number when it is not a known
space, so this module can report it). The resolved form has every parameter and is
what collections.config_json stores and responses return.
"""

from __future__ import annotations

import os
from typing import Any

from segmentdb.errors import InvalidArgumentError

SPACES = ("l2", "ip", "cosine")
IMMUTABLE = ("space", "max_neighbors", "ef_construction")
MUTABLE = ("ef_search", "num_threads", "resize_factor", "sync_threshold", "batch_size")
PARAMETERS = IMMUTABLE + MUTABLE

# Legacy chromadb metadata keys -> configuration parameter.
LEGACY_KEYS = {
    "hnsw:space": "space",
    "hnsw:M": "max_neighbors",
    "hnsw:construction_ef": "ef_construction",
    "hnsw:search_ef": "ef_search",
    "hnsw:num_threads": "num_threads",
    "hnsw:resize_factor": "resize_factor",
    "hnsw:sync_threshold": "sync_threshold",
    "hnsw:batch_size": "batch_size",
}
# Smallest accepted value of each numeric parameter.
_MINIMUM = {
    "max_neighbors": 2,
    "ef_construction": 1,
    "ef_search": 1,
    "num_threads": 1,
    "resize_factor": 1.0,
    "sync_threshold": 2,
    "batch_size": 2,
}


def defaults() -> dict[str, Any]:
    return {
        "space": "l2",
        "max_neighbors": 16,
        "ef_construction": 100,
        "ef_search": 100,
        "num_threads": os.cpu_count() or 1,
        "resize_factor": 1.2,
        "sync_threshold": 1000,
        "batch_size": 100,
    }


def legacy_parameters(metadata: dict | None, path: str = "metadata") -> dict[str, Any]:
    """The configuration parameters the `hnsw:*` keys of a collection's metadata set."""
    found: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        name = LEGACY_KEYS.get(key)
        if name is None:
            continue
        where = f"{path}.{key}"
        if name == "space":
            if not isinstance(value, str):
                raise InvalidArgumentError(f"{where}: must be one of {', '.join(SPACES)}")
            found[name] = value
        elif name == "resize_factor":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgumentError(f"{where}: must be a number >= 1.0")
            found[name] = float(value)
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"{where}: must be an integer")
            found[name] = value
    return found


def _merge(config: dict, legacy: dict, path: str) -> dict:
    """Configuration wins, but a legacy key that disagrees with it is an error."""
    merged = dict(legacy)
    for name, value in config.items():
        if name in legacy and legacy[name] != value:
            legacy_key = next(k for k, v in LEGACY_KEYS.items() if v == name)
            raise InvalidArgumentError(
                f"{path}.hnsw.{name}: {value!r} conflicts with metadata key {legacy_key}="
                f"{legacy[name]!r}; set the parameter in one place only"
            )
        merged[name] = value
    return merged


def _check(params: dict, path: str) -> None:
    for name, value in params.items():
        where = f"{path}.hnsw.{name}"
        if name == "space":
            if value not in SPACES:
                raise InvalidArgumentError(
                    f"{where}: {value!r} is not a known space; use one of {', '.join(SPACES)}"
                )
        elif name in _MINIMUM and value < _MINIMUM[name]:
            raise InvalidArgumentError(f"{where}: must be >= {_MINIMUM[name]}, got {value}")


def resolve_create(requested: dict, metadata: dict | None,
                   path: str = "configuration") -> dict[str, Any]:
    """The full configuration of a new collection."""
    params = _merge(requested, legacy_parameters(metadata), path)
    _check(params, path)
    resolved = defaults()
    resolved.update(params)
    resolved["resize_factor"] = float(resolved["resize_factor"])
    return resolved


def resolve_modify(current: dict, requested: dict, new_metadata: dict | None,
                   path: str = "new_configuration") -> dict[str, Any]:
    """`current` with the mutable parameters of `requested` (and legacy keys) applied."""
    params = _merge(requested, legacy_parameters(new_metadata, "new_metadata"), path)
    for name in IMMUTABLE:
        if name in params and params[name] != current[name]:
            raise InvalidArgumentError(
                f"{path}.hnsw.{name}: cannot be changed after the collection is created "
                f"(it is {current[name]!r}); only {', '.join(MUTABLE)} may be modified. "
                "Create a new collection to use another value"
            )
    _check(params, path)
    resolved = dict(current)
    resolved.update({k: v for k, v in params.items() if k in MUTABLE})
    resolved["resize_factor"] = float(resolved["resize_factor"])
    return resolved
