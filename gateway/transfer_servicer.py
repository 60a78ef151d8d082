"""TransferService: export a collection as a stream of pages, import one as acknowledged chunks.

ExportRecords forwards the metadata worker's stream (one snapshot there) and cancels it
when the client goes away. ImportRecords is a bidirectional stream run as a loop: the
ImportStart makes (or finds and checks) the collection and asks where an earlier stream
with the same import id stopped (after that stream's last chunk settled: import_leases);
then each chunk is validated with add's rules
(validation.check_import_chunk), committed by the metadata worker in one transaction with
the import's progress, and acknowledged. Nothing here is held between chunks but the
collection's id, so a broken stream loses at most chunks that were never acknowledged —
and those the worker either committed (a resumed import skips them) or did not.
"""

from __future__ import annotations

import grpc

from gateway import validation
from gateway.config import GatewayConfig
from gateway.import_leases import ImportLeases
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import errors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.v1 import (
    collection_pb2,
    collection_service_pb2 as csvc,
    transfer_service_pb2 as tsvc,
    transfer_service_pb2_grpc,
)

MAX_IMPORT_ID_LENGTH = 256
_IMMUTABLE = ("space", "max_neighbors", "ef_construction")
# Mutable parameters and the legacy metadata key that also sets each (chromadb's hnsw:*).
# An exported collection may hold both with different values (metadata set at creation,
# the parameter modified later); creating it with both would be refused as a conflict.
_MUTABLE_LEGACY_KEYS = {
    "ef_search": "hnsw:search_ef",
    "num_threads": "hnsw:num_threads",
    "resize_factor": "hnsw:resize_factor",
    "sync_threshold": "hnsw:sync_threshold",
    "batch_size": "hnsw:batch_size",
}


class TransferServicer(transfer_service_pb2_grpc.TransferServiceServicer):
    def __init__(self, config: GatewayConfig, workers: WorkerClients):
        self._max_batch_size = config.max_batch_size
        self._workers = workers
        self._metadata = workers.metadata
        self._leases = ImportLeases()

    # -- export -------------------------------------------------------------------------------

    def ExportRecords(self, request, context):
        # page_size and page_token are the metadata worker's to check: it mints the tokens.
        validation.collection_id(request.collection_id)
        call = self._metadata.ExportRecords(request, timeout=timeout_from(context))
        try:
            yield from call
        finally:
            call.cancel()  # the client went away mid-stream: end the worker's read too

    # -- import -------------------------------------------------------------------------------

    def ImportRecords(self, request_iterator, context):
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("item") != "start":
            raise errors.InvalidArgumentError(
                "start: the first message of an import must be an ImportStart (collection, "
                "import_id, mode); send it before any chunk")
        start = first.start
        _check_start(start)
        collection, created = self._collection_for(start, context)
        lease = self._leases.acquire(collection.id, start.import_id, context.time_remaining())
        context.add_callback(lambda: self._leases.end(collection.id, start.import_id, lease))
        try:
            progress = self._metadata.GetImportProgress(
                msvc.GetImportProgressRequest(collection_id=collection.id,
                                              import_id=start.import_id),
                timeout=timeout_from(context))
            yield tsvc.ImportRecordsResponse(started=tsvc.ImportStarted(
                collection=collection, created=created,
                committed_records=progress.committed_records,
                committed_chunks=progress.committed_chunks))
            for message in request_iterator:
                if message.WhichOneof("item") != "chunk":
                    raise errors.InvalidArgumentError(
                        "start: an import has exactly one ImportStart, first; later messages "
                        "must be chunks")
                with self._leases.committing(collection.id, start.import_id, lease):
                    ack = self._chunk(collection.id, start, message.chunk, context)
                yield tsvc.ImportRecordsResponse(ack=ack)
        finally:
            self._leases.end(collection.id, start.import_id, lease)

    def _chunk(self, collection_id: str, start: tsvc.ImportStart, chunk: tsvc.ImportChunk,
               context) -> tsvc.ImportAck:
        where = f"chunk at offset {chunk.offset}"
        try:
            validation.check_import_chunk(chunk, self._max_batch_size)
            response = self._metadata.ImportChunk(
                msvc.ImportChunkRequest(collection_id=collection_id, import_id=start.import_id,
                                        mode=start.mode, chunk=chunk),
                timeout=timeout_from(context))
        except errors.SegmentDBError as exc:
            raise type(exc)(f"{where}: {exc.message}") from None
        except grpc.RpcError as err:
            error = errors.from_rpc_error(err)
            raise type(error)(f"{where}: {error.message}") from None
        ack = response.ack
        if not ack.already_committed:
            # As after any write: the next query asks for this position, the worker indexes.
            self._workers.specs.wrote(collection_id, ack.log_sequence)
            self._workers.write_hints.wrote(collection_id)
        return ack

    def _collection_for(self, start: tsvc.ImportStart,
                        context) -> tuple[collection_pb2.Collection, bool]:
        """The collection to import into: created with the start's metadata and configuration,
        or the existing one after checking that it can hold these records unchanged."""
        wanted = start.configuration.hnsw
        create = collection_pb2.CollectionConfiguration()
        create.hnsw.CopyFrom(wanted)
        # The function goes with the records. An import that names none (an export of a
        # collection that recorded none, or a client that sends only vectors) records
        # legacy: every imported vector came from the client, from a model nobody named.
        if start.configuration.HasField("embedding_function"):
            create.embedding_function.CopyFrom(start.configuration.embedding_function)
        else:
            create.embedding_function.type = collection_pb2.EMBEDDING_FUNCTION_TYPE_LEGACY
        metadata_keys = set(start.collection_metadata.fields)
        deferred = [name for name, key in _MUTABLE_LEGACY_KEYS.items()
                    if key in metadata_keys and wanted.HasField(name)]
        for name in deferred:
            create.hnsw.ClearField(name)  # the legacy key sets it at creation; fixed below
        response = self._metadata.CreateCollection(csvc.CreateCollectionRequest(
            tenant=start.tenant, database=start.database, name=start.collection_name,
            metadata=start.collection_metadata, configuration=create, get_or_create=True,
        ), timeout=timeout_from(context))
        collection = response.collection
        if not response.created:
            _check_compatible(collection, start)
            return collection, False
        differing = [name for name in deferred
                     if getattr(collection.configuration.hnsw, name) != getattr(wanted, name)]
        if differing:
            modify = csvc.ModifyCollectionRequest(collection_id=collection.id)
            for name in differing:
                setattr(modify.new_configuration.hnsw, name, getattr(wanted, name))
            collection = self._metadata.ModifyCollection(
                modify, timeout=timeout_from(context)).collection
        return collection, True


def _check_start(start: tsvc.ImportStart) -> None:
    start.tenant = validation.tenant_name(start.tenant, "start.tenant")
    start.database = validation.database_name(start.database, "start.database")
    validation.collection_name(start.collection_name, "start.collection_name")
    validation.metadata(start.collection_metadata, "start.collection_metadata", allow_null=False)
    validation.configuration(start.configuration, "start.configuration")
    import_id = start.import_id
    if not import_id or len(import_id) > MAX_IMPORT_ID_LENGTH or not import_id.isprintable():
        raise errors.InvalidArgumentError(
            f"start.import_id: {import_id!r} is not an import id; use 1-{MAX_IMPORT_ID_LENGTH} "
            "printable characters (e.g. a UUID, or a hash of the file), and the same id again "
            "to resume the import")
    if start.mode not in (tsvc.IMPORT_MODE_INSERT, tsvc.IMPORT_MODE_UPSERT):
        raise errors.InvalidArgumentError(
            f"start.mode: {start.mode} is not an import mode; use IMPORT_MODE_INSERT (refuse ids "
            "already in the collection) or IMPORT_MODE_UPSERT (replace them)")
    if start.HasField("dimension") and start.dimension < 1:
        raise errors.InvalidArgumentError(
            "start.dimension: must be at least 1; leave it unset when unknown")


def _check_compatible(collection: collection_pb2.Collection, start: tsvc.ImportStart) -> None:
    """An existing collection must have the parameters its index depends on as given."""
    have, wanted = collection.configuration.hnsw, start.configuration.hnsw
    fix = ("import into a new collection name, or delete the existing collection first")
    for name in _IMMUTABLE:
        if wanted.HasField(name) and getattr(have, name) != getattr(wanted, name):
            raise errors.FailedPreconditionError(
                f"start.configuration.hnsw.{name}: collection {collection.name!r} already exists "
                f"with {name} {_shown(name, getattr(have, name))}, but the import's configuration "
                f"has {_shown(name, getattr(wanted, name))}; {fix}")
    if (start.HasField("dimension") and collection.HasField("dimension")
            and collection.dimension != start.dimension):
        raise errors.FailedPreconditionError(
            f"start.dimension: collection {collection.name!r} already exists with dimension "
            f"{collection.dimension}, but the records are {start.dimension}-dimensional; {fix}")


def _shown(name: str, value: int) -> str:
    if name == "space":
        return collection_pb2.Space.Name(value)
    return str(value)
