"""segmentdb: a Chroma-style vector database served over gRPC.

    import segmentdb
    client = segmentdb.Client("localhost:50051")          # a running `segmentdb serve`
    client = segmentdb.PersistentClient("./segmentdb_data")  # or start one for this process
    docs = client.get_or_create_collection("docs")
    docs.add(ids=["a"], embeddings=[[0.1, 0.2]], documents=["hello"])
    docs.query(query_embeddings=[[0.1, 0.2]], n_results=1)

The names below are imported on first use (PEP 562), not with the package: the worker
processes and `segmentdb serve` import `segmentdb.<module>` without the SDK, and a process
start that skips grpc, numpy and the stubs until it needs them is a faster cold start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from segmentdb.version import __version__

# Public name -> the module that defines it.
_EXPORTS = {
    "Client": "segmentdb.client",
    "HttpClient": "segmentdb.client",
    "AdminClient": "segmentdb.client",
    "PersistentClient": "segmentdb.embedded",
    "restore_backup": "segmentdb.restore",
    "Collection": "segmentdb.collection",
    "GetResult": "segmentdb.types",
    "QueryResult": "segmentdb.types",
    "DeleteResult": "segmentdb.types",
    "SegmentDBError": "segmentdb.errors",
    "InvalidArgumentError": "segmentdb.errors",
    "InvalidDimensionException": "segmentdb.errors",
    "DuplicateIDError": "segmentdb.errors",
    "InvalidCollectionNameError": "segmentdb.errors",
    "NotFoundError": "segmentdb.errors",
    "UniqueConstraintError": "segmentdb.errors",
    "BatchSizeExceededError": "segmentdb.errors",
    "AuthenticationError": "segmentdb.errors",
    "AuthorizationError": "segmentdb.errors",
}

__all__ = ["errors", "__version__", *_EXPORTS]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports these
    from segmentdb import errors
    from segmentdb.client import AdminClient, Client, HttpClient
    from segmentdb.collection import Collection
    from segmentdb.embedded import PersistentClient
    from segmentdb.restore import restore_backup
    from segmentdb.errors import (AuthenticationError, AuthorizationError,
                                  BatchSizeExceededError, DuplicateIDError,
                                  InvalidArgumentError, InvalidCollectionNameError,
                                  InvalidDimensionException, NotFoundError, SegmentDBError,
                                  UniqueConstraintError)
    from segmentdb.types import DeleteResult, GetResult, QueryResult


def __getattr__(name: str):
    if name == "errors":
        return importlib.import_module("segmentdb.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'segmentdb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
