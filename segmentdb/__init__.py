"""segmentdb: a Chroma-style vector database served over gRPC.

    import segmentdb
    client = segmentdb.Client("localhost:50051")          # a running `segmentdb serve`
    client = segmentdb.PersistentClient("./segmentdb_data")  # or start one for this process
    docs = client.get_or_create_collection("docs")
    docs.add(ids=["a"], embeddings=[[0.1, 0.2]], documents=["hello"])
    docs.query(query_embeddings=[[0.1, 0.2]], n_results=1)
"""

from segmentdb import errors
from segmentdb.client import AdminClient, Client, HttpClient
from segmentdb.collection import Collection
from segmentdb.embedded import PersistentClient
from segmentdb.errors import (
    AuthenticationError,
    AuthorizationError,
    BatchSizeExceededError,
    DuplicateIDError,
    InvalidArgumentError,
    InvalidCollectionNameError,
    InvalidDimensionException,
    NotFoundError,
    SegmentDBError,
    UniqueConstraintError,
)
from segmentdb.types import DeleteResult, GetResult, QueryResult
from segmentdb.version import __version__

__all__ = [
    "Client",
    "HttpClient",
    "AdminClient",
    "PersistentClient",
    "Collection",
    "errors",
    "__version__",
    "GetResult",
    "QueryResult",
    "DeleteResult",
    "SegmentDBError",
    "InvalidArgumentError",
    "InvalidDimensionException",
    "DuplicateIDError",
    "InvalidCollectionNameError",
    "NotFoundError",
    "UniqueConstraintError",
    "BatchSizeExceededError",
    "AuthenticationError",
    "AuthorizationError",
]
