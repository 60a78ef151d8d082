"""RecordService: validate the whole request, embed texts sent without vectors, then
forward it to the metadata worker.

Writes are validated completely here (ids, columns, vectors, metadata, batch size) so
nothing reaches SQLite that could fail half-way for a reason the gateway could see.
QueryRecords is the one read that needs more than forwarding: see gateway.query.
"""

from __future__ import annotations

from gateway import query, validation
from gateway.config import GatewayConfig
from gateway.query_batcher import QueryBatcher
from gateway.record_embedding import RecordEmbedder
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb.v1 import record_service_pb2_grpc


class RecordServicer(record_service_pb2_grpc.RecordServiceServicer):
    def __init__(self, config: GatewayConfig, workers: WorkerClients, embedder: RecordEmbedder):
        self._max_batch_size = config.max_batch_size
        # Texts without vectors are embedded here, before the ordinary path (off the
        # request thread's CPU: in the embedding pool's processes).
        self._embedder = embedder
        self._workers = workers
        self._metadata = workers.metadata
        # Concurrent unfiltered queries on one collection share internal calls.
        self._batcher = QueryBatcher(lambda batch: query.run_batch(workers, batch))

    def AddRecords(self, request, context):
        if validation.check_add(request, self._max_batch_size):
            self._embedder.embed_documents(request, context)
        return self._write(self._metadata.AddRecords, request, context)

    def UpsertRecords(self, request, context):
        if validation.check_upsert(request, self._max_batch_size):
            self._embedder.embed_documents(request, context)
        return self._write(self._metadata.UpsertRecords, request, context)

    def UpdateRecords(self, request, context):
        validation.check_update(request, self._max_batch_size)
        if not request.embeddings.data and request.documents:
            self._embedder.embed_updated_documents(request, context)
        return self._write(self._metadata.UpdateRecords, request, context)

    def DeleteRecords(self, request, context):
        validation.check_delete(request, self._max_batch_size)
        return self._write(self._metadata.DeleteRecords, request, context)

    def GetRecords(self, request, context):
        validation.check_get(request)
        return self._metadata.GetRecords(request, timeout=timeout_from(context))

    def CountRecords(self, request, context):
        validation.collection_id(request.collection_id)
        return self._metadata.CountRecords(request, timeout=timeout_from(context))

    def _write(self, call, request, context):
        response = call(request, timeout=timeout_from(context))
        # The next query here asks the vector worker to have applied this write, instead of
        # finding out from FetchRecords and searching twice; and the worker starts indexing.
        self._workers.specs.wrote(request.collection_id, response.log_sequence)
        self._workers.write_hints.wrote(request.collection_id)
        return response

    def QueryRecords(self, request, context):
        if validation.query_texts(request, self._max_batch_size):
            self._embedder.embed_queries(request, context)
        return query.query_records(request, context, self._workers, self._batcher)
