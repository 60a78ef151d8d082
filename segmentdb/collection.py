"""`Collection`: chromadb's collection API (add/get/query/...) over RecordService.

Arguments are normalized and checked here (chromadb's OneOrMany: a single id or a list,
one vector or many, numpy or lists) so that a malformed call raises InvalidArgumentError
before anything is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from segmentdb import vectors, wire
from segmentdb.errors import DuplicateIDError, InvalidArgumentError
from segmentdb.types import DeleteResult, EmbeddingFunction, GetResult, QueryResult
from segmentdb.v1 import collection_service_pb2 as coll_pb, common_pb2, record_service_pb2 as rec_pb

if TYPE_CHECKING:
    from segmentdb.client import Client

DEFAULT_GET_INCLUDE = ["metadatas", "documents"]
DEFAULT_QUERY_INCLUDE = ["metadatas", "documents", "distances"]


class Collection:
    """One collection of a database. Obtain it from a Client, not by constructing it."""

    def __init__(self, client: "Client", proto, embedding_function: Optional[EmbeddingFunction] = None):
        self._client = client
        self._model = proto
        self._embedding_function = embedding_function

    # ------------------------------------------------------------ properties

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self._model.id)

    @property
    def name(self) -> str:
        return self._model.name

    @property
    def tenant(self) -> str:
        return self._model.tenant

    @property
    def database(self) -> str:
        return self._model.database

    @property
    def metadata(self) -> Optional[dict]:
        return wire.metadata_from_proto(self._model.metadata)

    @property
    def configuration(self) -> dict:
        """`{"hnsw": {"space": "l2", "ef_search": 100, ...}, "embedding_function": {"type":
        "known", "name": "default", "config": {}}}` (no "embedding_function" key for a
        collection created before functions were recorded: it has none)."""
        return wire.configuration_from_proto(self._model.configuration)

    @property
    def configuration_json(self) -> dict:
        return self.configuration

    @property
    def dimension(self) -> Optional[int]:
        """Fixed by the first write that carries vectors; None until then."""
        return self._model.dimension if self._model.HasField("dimension") else None

    @property
    def embedding_function(self) -> Optional[EmbeddingFunction]:
        """The client-side function given to this handle (None: the server embeds texts)."""
        return self._embedding_function

    def __repr__(self) -> str:
        return f"Collection(name={self.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collection) and other._model.id == self._model.id

    def __hash__(self) -> int:
        return hash(self._model.id)

    # ------------------------------------------------------------ memory (segmentdb.admin)

    def pin(self) -> str:
        """Load this collection's index and keep it loaded (never evicted) until release().

        Returns the vector worker's address. FailedPreconditionError while the collection
        holds no vectors yet.
        """
        return self._client._admin.pin(self._model.id)

    def release(self) -> None:
        """Let a pinned collection be evicted again (a no-op if it is not pinned)."""
        self._client._admin.release(self._model.id)

    # ------------------------------------------------------------ writes

    def add(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Insert records; ids that already exist are left unchanged."""
        request = rec_pb.AddRecordsRequest(collection_id=self._model.id)
        self._fill_write(request, "add", ids, embeddings, metadatas, documents, images, uris)
        self._client._call(self._client._records.AddRecords, request)

    def upsert(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Insert new ids; update existing ones (metadata merged key by key, None removes a key)."""
        request = rec_pb.UpsertRecordsRequest(collection_id=self._model.id)
        self._fill_write(request, "upsert", ids, embeddings, metadatas, documents, images, uris)
        self._client._call(self._client._records.UpsertRecords, request)

    def update(self, ids, embeddings=None, metadatas=None, documents=None, images=None, uris=None) -> None:
        """Update existing ids; unknown ids are ignored. Every column is optional."""
        request = rec_pb.UpdateRecordsRequest(collection_id=self._model.id)
        self._fill_write(request, "update", ids, embeddings, metadatas, documents, images, uris)
        self._client._call(self._client._records.UpdateRecords, request)

    def _fill_write(self, request, operation, ids, embeddings, metadatas, documents, images, uris) -> None:
        if images is not None or uris is not None:
            raise InvalidArgumentError(
                f"{operation}: images and uris are not supported; send embeddings (and documents)"
            )
        id_list = _ids(ids, required=True)
        count = len(id_list)
        document_list = _one_or_many(documents, "documents", str, count)
        if document_list is not None and embeddings is None:
            _require_every_document(document_list)
        metadata_list = _one_or_many(metadatas, "metadatas", Mapping, count)
        array = _embeddings(embeddings, "embeddings", count)
        if array is None and document_list is not None and self._embedding_function is not None:
            # A client-side function wins: the vectors are made here and sent.
            array = self._embed(document_list, "documents")
        if array is None and document_list is None and operation != "update":
            raise InvalidArgumentError(
                f"{operation}: give embeddings=..., or documents=... (embedded by the "
                "collection's embedding function: on the server, or the client's "
                "embedding_function=... when given)"
            )
        # Documents without embeddings go as they are: the gateway embeds them with the
        # collection's function (FailedPreconditionError when it has none).
        request.ids.extend(id_list)
        if array is not None:
            request.embeddings.CopyFrom(vectors.encode(array, "embeddings"))
        if document_list is not None:
            request.documents.extend(wire.documents_to_proto(document_list))
        if metadata_list is not None:
            allow_null = operation != "add"
            request.metadatas.extend(
                wire.metadata_to_proto(m, f"metadatas[{i}]", allow_null) for i, m in enumerate(metadata_list)
            )

    def _embed(self, texts: Sequence[Optional[str]], field: str, query: bool = False) -> np.ndarray:
        if any(text is None for text in texts):
            raise InvalidArgumentError(
                f"{field}: every record needs a document (or pass embeddings) to be embedded"
            )
        function = self._embedding_function
        embed = getattr(function, "embed_query", None) if query else None
        result = embed(list(texts)) if callable(embed) else function(list(texts))  # type: ignore[misc]
        array = vectors.to_array(result, f"embedding_function({field})")
        if array.shape[0] != len(texts):
            raise InvalidArgumentError(
                f"embedding_function returned {array.shape[0]} vectors for {len(texts)} {field}"
            )
        return array

    def delete(self, ids=None, where=None, where_document=None, limit=None) -> DeleteResult:
        """Delete by ids and/or filters; returns `{"deleted": n}` like chromadb 1.x."""
        if limit is not None:
            raise InvalidArgumentError("delete: limit is not supported; narrow the where filter instead")
        if ids is None and where is None and where_document is None:
            raise InvalidArgumentError("delete: give at least one of ids, where or where_document")
        request = rec_pb.DeleteRecordsRequest(collection_id=self._model.id)
        if ids is not None:
            request.ids.extend(_ids(ids, required=False))
        _set_filters(request, where, where_document)
        if ids is not None and not request.ids:
            return DeleteResult(deleted=0)  # no ids match nothing (empty on the wire means "any")
        response = self._client._call(self._client._records.DeleteRecords, request)
        return DeleteResult(deleted=response.deleted)

    # ------------------------------------------------------------ reads

    def count(self) -> int:
        request = rec_pb.CountRecordsRequest(collection_id=self._model.id)
        return self._client._call(self._client._records.CountRecords, request, idempotent=True).count

    def get(self, ids=None, where=None, limit=None, offset=None, where_document=None,
            include: Sequence[str] = DEFAULT_GET_INCLUDE) -> GetResult:
        """Records by ids and/or filters, in insertion order; limit/offset apply after filtering."""
        request = rec_pb.GetRecordsRequest(collection_id=self._model.id)
        if ids is not None:
            request.ids.extend(_ids(ids, required=False))
        _set_filters(request, where, where_document)
        if limit is not None:
            request.limit = _count_argument(limit, "limit", minimum=0)
        if offset is not None:
            request.offset = _count_argument(offset, "offset", minimum=0)
        request.include.CopyFrom(wire.include_to_proto(include, "get"))
        if ids is not None and not request.ids:
            records = common_pb2.RecordBatch()  # no ids match nothing
        else:
            records = self._client._call(self._client._records.GetRecords, request, idempotent=True).records
        columns = wire.records_from_proto(records, include)
        return GetResult(
            ids=columns["ids"], embeddings=columns["embeddings"], documents=columns["documents"],
            uris=_no_uris(columns["ids"], include), data=None, metadatas=columns["metadatas"],
            included=list(include),
        )

    def peek(self, limit: int = 10) -> GetResult:
        """The first `limit` records, with embeddings."""
        return self.get(limit=limit, include=["metadatas", "documents", "embeddings"])

    def query(self, query_embeddings=None, query_texts=None, query_images=None, query_uris=None,
              ids=None, n_results: int = 10, where=None, where_document=None,
              include: Sequence[str] = DEFAULT_QUERY_INCLUDE) -> QueryResult:
        """The `n_results` nearest records of each query vector (or embedded query text)."""
        if query_images is not None or query_uris is not None:
            raise InvalidArgumentError("query: query_images and query_uris are not supported")
        if (query_embeddings is None) == (query_texts is None):
            raise InvalidArgumentError("query: give exactly one of query_embeddings or query_texts")
        if query_embeddings is not None:
            array = _embeddings(query_embeddings, "query_embeddings", None)
        else:
            texts = _one_or_many(query_texts, "query_texts", str, None)
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise InvalidArgumentError(
                        f"query_texts[{i}]: expected a string, got {type(text).__name__}")
            if not texts:
                raise InvalidArgumentError("query_texts: give at least one query text")
            # A client-side function embeds here; otherwise the server embeds the texts.
            array = (self._embed(texts, "query_texts", query=True)
                     if self._embedding_function is not None else None)
        if array is not None and array.shape[0] == 0:
            raise InvalidArgumentError("query_embeddings: give at least one query vector")
        request = rec_pb.QueryRecordsRequest(
            collection_id=self._model.id,
            n_results=_count_argument(n_results, "n_results", minimum=1),
        )
        if array is not None:
            request.query_embeddings.CopyFrom(vectors.encode(array, "query_embeddings"))
        else:
            request.query_texts.extend(texts)
        queries = array.shape[0] if array is not None else len(texts)
        if ids is not None:
            request.ids.extend(_ids(ids, required=False))
        _set_filters(request, where, where_document)
        request.include.CopyFrom(wire.include_to_proto(include, "query"))
        include = list(include)
        if "data" in include and "uris" not in include:
            include.append("uris")  # chromadb loads data from URIs, so it returns them too
        if ids is not None and not request.ids:  # no ids match nothing
            results = [common_pb2.RecordBatch() for _ in range(queries)]
        else:
            results = self._client._call(self._client._records.QueryRecords, request, idempotent=True).results
        per_query = [wire.records_from_proto(batch, include) for batch in results]

        for q in per_query:
            q["uris"] = _no_uris(q["ids"], include)

        def column(key: str) -> Optional[list]:
            return [q[key] for q in per_query] if key in include else None

        return QueryResult(
            ids=[q["ids"] for q in per_query], embeddings=column("embeddings"),
            documents=column("documents"), uris=column("uris"), data=None,
            metadatas=column("metadatas"), distances=column("distances"), included=include,
        )

    # ------------------------------------------------------------ export (segmentdb.transfer)

    def export_records(self, page_size: int = 1000, page_token: Optional[str] = None):
        """Every record (ids, documents, metadatas, float32 embeddings) in pages, in
        insertion order, from one snapshot; `segmentdb.transfer.Export`.

        The export's `collection` (name, metadata, configuration, dimension),
        `record_count` and `remaining_count` are there before the first page. Each page has
        a `next_page_token`: pass it as `page_token` to resume after that page (every
        record comes exactly once). A stream broken by UNAVAILABLE resumes by itself.

        >>> export = books.export_records(page_size=1000)
        >>> export.collection["configuration"]["hnsw"]["space"]
        'cosine'
        >>> for page in export:
        ...     print(len(page.ids), page.embeddings.dtype, page.next_page_token)
        1000 float32 djE6...
        >>> rest = books.export_records(page_token=saved_token)   # continue later
        """
        from segmentdb import transfer

        return transfer.export_records(self, page_size, page_token)

    # ------------------------------------------------------------ the collection itself

    def modify(self, name: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None,
               configuration: Optional[Mapping[str, Any]] = None) -> None:
        """Rename, replace the metadata, or change mutable HNSW parameters."""
        request = coll_pb.ModifyCollectionRequest(collection_id=self._model.id)
        if name is not None:
            request.new_name = name
        if metadata is not None:
            if isinstance(metadata, Mapping):
                # chromadb replaces the metadata and leaves None-valued keys out of it.
                metadata = {key: value for key, value in metadata.items() if value is not None}
            request.new_metadata.CopyFrom(wire.metadata_to_proto(metadata, "metadata"))
        if configuration is not None:
            request.new_configuration.CopyFrom(wire.configuration_to_proto(configuration))
        response = self._client._call(self._client._collections.ModifyCollection, request)
        self._model = response.collection


# ---------------------------------------------------------------- argument handling

def _ids(ids: Any, required: bool) -> list[str]:
    """chromadb's OneOrMany[ID]: a single string or a sequence of strings, unique."""
    if isinstance(ids, str):
        id_list = [ids]
    elif isinstance(ids, (list, tuple, np.ndarray)):
        id_list = list(ids)
    else:
        raise InvalidArgumentError(f"ids: expected a string or a list of strings, got {type(ids).__name__}")
    if required and not id_list:
        raise InvalidArgumentError("ids: expected a non-empty list of ids")
    seen: set[str] = set()
    duplicates: list[str] = []
    for i, item in enumerate(id_list):
        if not isinstance(item, str) or not item:
            raise InvalidArgumentError(f"ids[{i}]: expected a non-empty string, got {item!r}")
        if item in seen:
            duplicates.append(item)
        seen.add(item)
    if duplicates:
        raise DuplicateIDError(
            f"ids: {len(duplicates)} duplicated id(s) in one request, e.g. {duplicates[0]!r}; "
            "each id may appear once"
        )
    return [str(item) for item in id_list]


def _one_or_many(value: Any, field: str, scalar: type, count: Optional[int]) -> Optional[list]:
    """A single value or a list of values (each may be None), checked against the id count."""
    if value is None:
        return None
    values = [value] if isinstance(value, scalar) else value
    if not isinstance(values, (list, tuple)):
        raise InvalidArgumentError(
            f"{field}: expected a {scalar.__name__} or a list of them, got {type(value).__name__}"
        )
    values = list(values)
    if count is not None and len(values) != count:
        raise InvalidArgumentError(f"{field}: got {len(values)} for {count} ids; give exactly one per id")
    return values


def _require_every_document(documents: Sequence[Any]) -> None:
    """chromadb's rule: a document may be None only when the call also carries embeddings."""
    for i, document in enumerate(documents):
        if document is None:
            raise InvalidArgumentError(
                f"documents[{i}]: expected a string, got None; a record may go without a "
                "document only when embeddings are given in the same call"
            )


def _no_uris(ids: Sequence[str], include: Sequence[str]) -> Optional[list]:
    """Records here have no URIs: one None per record when "uris" is included (chromadb)."""
    return [None] * len(ids) if "uris" in include else None


def _embeddings(value: Any, field: str, count: Optional[int]) -> Optional[np.ndarray]:
    """One vector or many (lists, numpy 1-D/2-D, or a list of numpy rows) as an (n, d) array."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        array = vectors.to_array(value, field)
    else:
        if not isinstance(value, (list, tuple)):
            raise InvalidArgumentError(
                f"{field}: expected a list of vectors or a numpy array, got {type(value).__name__}"
            )
        rows = list(value)
        if rows and _is_number(rows[0]):
            rows = [rows]  # a single vector
        for i, row in enumerate(rows):
            if _is_number(row) or isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
                raise InvalidArgumentError(f"{field}[{i}]: expected a vector (a list of numbers), got {row!r}")
        array = vectors.to_array(rows, field)
    vectors.check_finite(array, field)
    if count is not None and array.shape[0] != count:
        raise InvalidArgumentError(f"{field}: got {array.shape[0]} vectors for {count} ids; give exactly one per id")
    return array


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _count_argument(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(f"{field}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _set_filters(request, where, where_document) -> None:
    if where is not None:
        request.where.CopyFrom(wire.where_to_proto(where))
    if where_document is not None:
        request.where_document.CopyFrom(wire.where_document_to_proto(where_document))
