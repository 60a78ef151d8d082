"""The shapes the SDK returns, matching chromadb 1.x key for key.

They are plain dicts at run time (TypedDicts), so code written against chromadb's
`results["ids"][0]` works unchanged.
"""

from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Sequence, TypedDict, Union

import numpy as np

ID = str
IDs = List[ID]
Document = str
Metadata = Mapping[str, Any]
Where = dict
WhereDocument = dict
Include = List[str]
Embedding = Union[Sequence[float], np.ndarray]
Embeddings = Union[Sequence[Embedding], np.ndarray]
# chromadb's EmbeddingFunction protocol: a callable from a list of documents to vectors.
EmbeddingFunction = Callable[[List[str]], Embeddings]

DEFAULT_TENANT = "default_tenant"
DEFAULT_DATABASE = "default_database"


class GetResult(TypedDict):
    ids: List[ID]
    embeddings: Optional[np.ndarray]  # (n, d) float32 when included
    documents: Optional[List[Optional[Document]]]
    uris: Optional[List[None]]  # one None per record when "uris" is included: no URIs here
    data: None
    metadatas: Optional[List[Optional[dict]]]
    included: Include


class QueryResult(TypedDict):
    ids: List[IDs]
    embeddings: Optional[List[np.ndarray]]  # one (k, d) array per query when included
    documents: Optional[List[List[Optional[Document]]]]
    uris: Optional[List[List[None]]]
    data: None
    metadatas: Optional[List[List[Optional[dict]]]]
    distances: Optional[List[List[float]]]
    included: Include


class DeleteResult(TypedDict):
    deleted: int


class Database(TypedDict):
    id: Any  # uuid.UUID
    name: str
    tenant: str


class Tenant(TypedDict):
    name: str
