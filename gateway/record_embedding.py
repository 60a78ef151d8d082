"""Fill in the vectors of writes and queries that arrive with texts only.

The collection's embedding function is read from the metadata worker at each such request
(one GetCollection by id, ~1 ms beside a model batch's tens of milliseconds): no cache to
go stale when ModifyCollection changes the function through another gateway replica.
The texts then go to the embedding pool (gateway.embedding_pool); the request leaves
here with its `embeddings` (or `query_embeddings`) set, and follows the ordinary path.
"""

from __future__ import annotations

from gateway.embedding_pool import EmbeddingPool
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import embedding_functions, errors, vectors
from segmentdb.v1 import collection_service_pb2


class RecordEmbedder:
    def __init__(self, workers: WorkerClients, pool: EmbeddingPool):
        self._metadata = workers.metadata
        self._pool = pool

    def _function(self, collection_id: str, context, what: str) -> str:
        response = self._metadata.GetCollection(
            collection_service_pb2.GetCollectionRequest(id=collection_id),
            timeout=timeout_from(context))
        collection = response.collection
        configuration = collection.configuration
        spec = (embedding_functions.dict_from_message(configuration.embedding_function)
                if configuration.HasField("embedding_function") else None)
        function = embedding_functions.function_of(spec)
        if function is None:
            if spec is None:
                recorded = ("records no embedding function (it was created before they were "
                            "recorded)")
            elif spec.get("type") == embedding_functions.KNOWN:
                recorded = (f"embeds with {spec.get('name')!r}, a function its clients run "
                            f"(this server runs {embedding_functions.known_names()})")
            else:
                recorded = ("has no server-side embedding function "
                            "(configuration.embedding_function is {'type': 'legacy'})")
            raise errors.FailedPreconditionError(
                f"{what}: collection {collection.name!r} {recorded}, so the server cannot "
                "embed texts for it; send embeddings, or set a function with "
                "ModifyCollection (configuration.embedding_function = {'type': 'known', "
                "'name': 'default'}) if its vectors come from that model")
        if collection.HasField("dimension") and collection.dimension != function.dimension:
            # Checked before the model runs: its vectors could never be stored here.
            raise errors.InvalidDimensionException(
                f"{what}: collection {collection.name!r} holds {collection.dimension}-"
                f"dimensional vectors, but its embedding function {function.name!r} makes "
                f"{function.dimension}-dimensional ones; send {collection.dimension}-dimensional "
                "embeddings with the texts (or, for a collection whose vectors always come from "
                "the client, record {'type': 'legacy'} with ModifyCollection)")
        return function.name

    def embed_documents(self, request, context) -> None:
        """Set `request.embeddings` from its documents (every one has a value: checked)."""
        function = self._function(request.collection_id, context, "documents")
        self._embed_into(request, function, context)

    def embed_updated_documents(self, request, context) -> None:
        """An update of documents without embeddings: a collection with a function gets
        them re-embedded (so vector and document agree, as in Chroma, where the client
        re-embeds); a legacy one keeps its vectors and changes only the documents."""
        try:
            function = self._function(request.collection_id, context, "documents")
        except errors.FailedPreconditionError:
            return
        missing = [i for i, document in enumerate(request.documents)
                   if not document.HasField("value")]
        if missing:
            raise errors.InvalidArgumentError(
                f"documents[{missing[0]}]: no document in an update that re-embeds documents "
                "(the collection has an embedding function); give every id a document, "
                "send embeddings, or update the others in a separate call")
        self._embed_into(request, function, context)

    def _embed_into(self, request, function: str, context) -> None:
        texts = [document.value for document in request.documents]
        array = self._pool.embed(function, texts, timeout_from(context))
        request.embeddings.CopyFrom(vectors.encode(array, "embeddings"))

    def embed_queries(self, request, context) -> None:
        """Set `request.query_embeddings` from its query_texts, which it then clears."""
        function = self._function(request.collection_id, context, "query_texts")
        array = self._pool.embed(function, list(request.query_texts), timeout_from(context))
        request.query_embeddings.CopyFrom(vectors.encode(array, "query_embeddings"))
        del request.query_texts[:]
