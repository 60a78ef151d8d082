"""Embedding functions a collection can record: Chroma 1.x's JSON <-> our proto, and checks.

A collection's configuration records how its records are embedded when they arrive
without vectors, in Chroma 1.x's JSON shape so that an HTTP client's configuration passes
through verbatim:

    {"type": "known", "name": "default", "config": {}}    the server embeds (all-MiniLM-L6-v2)
    {"type": "known", "name": "openai", "config": {...}}  recorded as given: a function of
                                                           chromadb's client registry, which
                                                           the client runs (the server can't)
    {"type": "legacy"}                                     no function recorded: the client embeds

This module is light (no torch, no numpy): the metadata worker checks names with it, the
SDK translates with it, and the gateway asks it for a function's facts. The model itself
runs in the gateway's embedding pool (gateway/embedding_model.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import collection_pb2

KNOWN = "known"
LEGACY = "legacy"
DEFAULT_NAME = "default"
EXTRA_HINT = "pip install 'segmentdb[embeddings]'"
MAX_NAME_LENGTH = 256
MAX_CONFIG_BYTES = 64 * 1024


@dataclass(frozen=True)
class KnownFunction:
    """What the server knows about one function it can run."""
    name: str
    model: str
    dimension: int
    max_tokens: int  # longer texts are truncated (Chroma's default: 256 word pieces)


# Chroma's "default" is all-MiniLM-L6-v2: mean pooling, L2-normalised, 256-token
# truncation, 384 dimensions. Ours runs the same weights with sentence-transformers.
KNOWN_FUNCTIONS = {
    DEFAULT_NAME: KnownFunction(DEFAULT_NAME, "all-MiniLM-L6-v2", 384, 256),
}

_TYPES = {
    KNOWN: collection_pb2.EMBEDDING_FUNCTION_TYPE_KNOWN,
    LEGACY: collection_pb2.EMBEDDING_FUNCTION_TYPE_LEGACY,
}
_TYPE_NAMES = {number: name for name, number in _TYPES.items()}


def default_spec() -> dict[str, Any]:
    """What a collection created without a function records (Chroma records "default")."""
    return {"type": KNOWN, "name": DEFAULT_NAME, "config": {}}


def legacy_spec() -> dict[str, Any]:
    return {"type": LEGACY}


def known_names() -> str:
    return ", ".join(repr(name) for name in KNOWN_FUNCTIONS)


# ---------------------------------------------------------------- checks (server side)

def check(spec: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A recorded spec in its canonical form; INVALID_ARGUMENT naming the field otherwise.

    Any name is recorded, as Chroma's server does: chromadb clients record the function
    they embed with ({"type": "known", "name": "openai", "config": {...}}) and read it back
    to rebuild it. The server runs only KNOWN_FUNCTIONS; a documents-only write or a
    query_texts to a collection recording another function is FAILED_PRECONDITION naming
    that function (gateway/record_embedding.py) — never embedded with a different model.
    """
    kind = spec.get("type")
    if kind == LEGACY:
        return legacy_spec()
    if kind != KNOWN:
        raise InvalidArgumentError(
            f"{field}.type: {kind!r} is not an embedding function type; use 'known' (the "
            "server embeds, e.g. {'type': 'known', 'name': 'default'}) or 'legacy' (the "
            "client embeds and sends embeddings)")
    name = spec.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH or "\0" in name:
        raise InvalidArgumentError(
            f"{field}.name: expected the function's name, 1-{MAX_NAME_LENGTH} characters "
            f"without NUL (the server runs {known_names()}), got {str(name)[:80]!r}")
    config = spec.get("config") or {}
    if not isinstance(config, Mapping):
        raise InvalidArgumentError(f"{field}.config: expected a JSON object, got {config!r}")
    encoded = _config_text(config, field)
    if len(encoded.encode()) > MAX_CONFIG_BYTES:
        raise InvalidArgumentError(
            f"{field}.config: {len(encoded.encode())} bytes of JSON; at most "
            f"{MAX_CONFIG_BYTES} are recorded")
    if name in KNOWN_FUNCTIONS and config:
        # The default function has no parameters (Chroma's get_config() is {}): a parameter
        # we would silently ignore could change what the caller believes is computed.
        raise InvalidArgumentError(
            f"{field}.config: the {name!r} function takes no parameters, got "
            f"{sorted(config)!r}; send {{}}")
    return {"type": KNOWN, "name": name, "config": dict(config)}


def function_of(spec: Mapping[str, Any] | None) -> KnownFunction | None:
    """The known function a recorded spec names; None for legacy or nothing recorded."""
    if not spec or spec.get("type") != KNOWN:
        return None
    return KNOWN_FUNCTIONS.get(spec.get("name"))


def from_chroma_config(config_json: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a collection imported from a Chroma folder records (segmentdb import-chroma).

    Chroma 1.x's configuration names its function and is kept as it is (the server embeds
    only for the ones it runs; for another, texts without vectors are refused naming it);
    anything unreadable, legacy, or a 0.5 folder that recorded nothing becomes legacy.
    """
    spec = (config_json or {}).get("embedding_function")
    if isinstance(spec, Mapping) and spec.get("type") == KNOWN:
        try:
            return check(spec, "configuration.embedding_function")
        except InvalidArgumentError:
            return legacy_spec()
    return legacy_spec()


# ---------------------------------------------------------------- proto <-> dict

def from_proto(message: collection_pb2.EmbeddingFunctionConfiguration,
               field: str) -> dict[str, Any]:
    """The dict a request's EmbeddingFunctionConfiguration stands for (checked)."""
    kind = _TYPE_NAMES.get(message.type)
    if kind is None:
        raise InvalidArgumentError(
            f"{field}.type: value {message.type} (UNSPECIFIED or unknown) is not a type; set "
            "EMBEDDING_FUNCTION_TYPE_KNOWN (with a name) or EMBEDDING_FUNCTION_TYPE_LEGACY, or "
            "leave embedding_function unset")
    spec: dict[str, Any] = {"type": kind}
    if kind == KNOWN:
        spec["name"] = message.name
        spec["config"] = _config_object(message.config_json, f"{field}.config_json")
    return check(spec, field)


def to_proto(spec: Mapping[str, Any]) -> collection_pb2.EmbeddingFunctionConfiguration:
    out = collection_pb2.EmbeddingFunctionConfiguration(type=_TYPES[spec["type"]])
    if spec["type"] == KNOWN:
        out.name = spec["name"]
        out.config_json = _config_text(spec.get("config") or {}, "embedding_function")
    return out


def _config_text(config: Mapping[str, Any], field: str) -> str:
    """A function's config as the canonical JSON text it is recorded and sent as."""
    try:
        return json.dumps(dict(config), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{field}.config: not JSON-serializable ({exc}); send plain JSON values") from None


def _config_object(text: str, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{field}: not JSON ({exc}); send a JSON object such as {{}}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(f"{field}: expected a JSON object, got {text[:80]!r}")
    return value


def message_from_dict(spec: Any, field: str) -> collection_pb2.EmbeddingFunctionConfiguration:
    """Chroma's JSON dict (as the SDK or an HTTP body gives it) as the proto message.

    Only the shape is checked here; names are the server's call (it knows its functions).
    """
    if not isinstance(spec, Mapping):
        raise InvalidArgumentError(
            f"{field}: expected a dict like {{'type': 'known', 'name': 'default'}} or "
            f"{{'type': 'legacy'}}, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _TYPES:
        raise InvalidArgumentError(
            f"{field}.type: {kind!r} is not an embedding function type; use 'known' or 'legacy'")
    out = collection_pb2.EmbeddingFunctionConfiguration(type=_TYPES[kind])
    if kind == KNOWN:
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{field}.name: a known function needs a name, e.g. 'default'")
        config = spec.get("config") or {}
        if not isinstance(config, Mapping):
            raise InvalidArgumentError(f"{field}.config: expected a dict, got {type(config).__name__}")
        out.name = name
        out.config_json = _config_text(config, field)
    return out


def dict_from_message(message: collection_pb2.EmbeddingFunctionConfiguration) -> dict[str, Any]:
    """A response's message as Chroma's JSON dict (no checks: the server recorded it)."""
    kind = _TYPE_NAMES.get(message.type, "legacy")
    if kind == LEGACY:
        return legacy_spec()
    config = json.loads(message.config_json) if message.config_json else {}
    return {"type": KNOWN, "name": message.name, "config": config}
