"""AdminService: cache statistics, pinning and rebuilding, delegated to the workers.

- GetStats asks every vector worker for its cache statistics (in parallel, each with a short
  timeout) and the metadata worker for its storage statistics. A worker that does not answer
  is listed with reachable=false and the reason: the call itself does not fail.
- Pin/Release and Reindex resolve the collection's vector segment with PrepareQuery (no
  filter), then call the worker that routing picks for it (with failover, like a query).
  Release goes to every worker: after a failover the pin may live on another one.
- Backup relays the metadata worker's StreamSnapshot message by message (nothing is held in
  the gateway), with the caller's deadline; a caller that cancels cancels it downstream.
- Vacuum compacts every vector segment on its worker, then SQLite (gateway/vacuum.py).
- Reset (Chroma's, only with --allow-reset) deletes everything in one metadata worker
  transaction, then drops the deleted collections' segments on every vector worker.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc

from gateway import vacuum, validation
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import backup_manifest, errors, maintenance
from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from segmentdb.v1 import (
    admin_pb2,
    admin_service_pb2,
    admin_service_pb2_grpc,
    collection_service_pb2,
)

log = logging.getLogger(__name__)

# Statistics are small and served from memory: a worker slower than this is reported as
# unreachable rather than holding up the whole answer.
STATS_TIMEOUT_SECONDS = 5.0
RELEASE_TIMEOUT_SECONDS = 10.0


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, workers: WorkerClients, allow_reset: bool = False):
        self._workers = workers
        self._metadata = workers.metadata
        self._allow_reset = allow_reset

    # ------------------------------------------------------------ statistics

    def GetStats(self, request, context):
        addresses = self._workers.vector_worker_addresses
        with futures.ThreadPoolExecutor(max_workers=max(1, len(addresses))) as pool:
            worker_stats = list(pool.map(self._worker_stats, addresses))
        storage = self._metadata.GetStorageStats(
            metadata_service_pb2.GetStorageStatsRequest(), timeout=timeout_from(context))
        return admin_service_pb2.GetStatsResponse(workers=worker_stats, storage=storage.stats)

    def _worker_stats(self, address: str) -> admin_pb2.WorkerStats:
        try:
            response = self._workers.vector(address).GetWorkerStats(
                vector_service_pb2.GetWorkerStatsRequest(), timeout=STATS_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            return admin_pb2.WorkerStats(address=address, reachable=False,
                                         error=f"{err.code().name}: {err.details()}")
        stats = admin_pb2.WorkerStats()
        stats.CopyFrom(response.stats)
        stats.address = address
        stats.reachable = True
        stats.error = ""
        return stats

    # ------------------------------------------------------------ pin / release

    def PinCollection(self, request, context):
        validation.collection_id(request.collection_id)
        prepared = self._prepare(request.collection_id, context)
        if prepared.segment.dimension == 0:
            raise errors.FailedPreconditionError(
                f"collection_id: collection {request.collection_id} holds no vectors yet, so "
                "there is no index to keep loaded; add records first, then pin it"
            )
        address, _ = self._workers.call_vector(
            prepared.segment.segment_id,
            lambda stub: stub.PinSegment(
                vector_service_pb2.PinSegmentRequest(segment=prepared.segment,
                                                     min_sequence=prepared.log_sequence),
                timeout=timeout_from(context)),
        )
        log.info("collection %s pinned on vector worker %s", request.collection_id, address)
        return admin_service_pb2.PinCollectionResponse(worker_address=address)

    def ReleaseCollection(self, request, context):
        validation.collection_id(request.collection_id)
        prepared = self._prepare(request.collection_id, context)
        release = vector_service_pb2.ReleaseSegmentRequest(
            segment_id=prepared.segment.segment_id)
        for address in self._workers.vector_worker_addresses:
            try:
                self._workers.vector(address).ReleaseSegment(
                    release, timeout=RELEASE_TIMEOUT_SECONDS)
            except grpc.RpcError as err:
                # A worker that is gone holds no pin; one that is hung will be asked again.
                log.warning("ReleaseSegment %s on vector worker %s failed (%s: %s)",
                            release.segment_id, address, err.code().name, err.details())
        return admin_service_pb2.ReleaseCollectionResponse()

    # ------------------------------------------------------------ reindex

    def ReindexCollections(self, request, context):
        tenant = validation.tenant_name(request.tenant)
        database = validation.database_name(request.database)
        if request.HasField("collection_name"):
            validation.collection_name(request.collection_name, "collection_name")
            found = self._metadata.GetCollection(
                collection_service_pb2.GetCollectionRequest(
                    tenant=tenant, database=database, name=request.collection_name),
                timeout=timeout_from(context))
            collections = [found.collection]
        else:
            listed = self._metadata.ListCollections(
                collection_service_pb2.ListCollectionsRequest(tenant=tenant, database=database),
                timeout=timeout_from(context))
            collections = list(listed.collections)
        response = admin_service_pb2.ReindexCollectionsResponse()
        for collection in collections:
            response.collections.append(self._reindex(collection, context))
        return response

    def _reindex(self, collection, context) -> admin_service_pb2.ReindexedCollection:
        prepared = self._prepare(collection.id, context)
        done = admin_service_pb2.ReindexedCollection(collection_id=collection.id,
                                                     name=collection.name)
        if prepared.segment.dimension == 0:
            return done  # never held a vector: there is no index to build
        address, rebuilt = self._workers.call_vector(
            prepared.segment.segment_id,
            lambda stub: stub.RebuildSegment(
                vector_service_pb2.RebuildSegmentRequest(segment=prepared.segment),
                timeout=timeout_from(context)),
        )
        done.records = rebuilt.live_count
        done.seconds = rebuilt.seconds
        done.worker_address = address
        log.info("collection %s (%s) reindexed on %s: %d records in %.2fs", collection.name,
                 collection.id, address, rebuilt.live_count, rebuilt.seconds)
        return done

    # ------------------------------------------------------------ vacuum

    def Vacuum(self, request, context):
        fraction = maintenance.check_min_deleted_fraction(
            request.min_deleted_fraction if request.HasField("min_deleted_fraction")
            else maintenance.DEFAULT_MIN_DELETED_FRACTION)
        return vacuum.run(self._workers, fraction, context)

    def _prepare(self, collection_id: str, context) -> metadata_service_pb2.PrepareQueryResponse:
        """The collection's vector segment and log position (NOT_FOUND if it is gone)."""
        return self._metadata.PrepareQuery(
            metadata_service_pb2.PrepareQueryRequest(collection_id=collection_id),
            timeout=timeout_from(context))

    # ------------------------------------------------------------ reset

    def Reset(self, request, context):
        if not self._allow_reset:
            raise errors.FailedPreconditionError(
                "Reset: disabled on this gateway; start it (or segmentdb serve) with "
                "--allow-reset (env SEGMENTDB_ALLOW_RESET=true) to allow deleting all data")
        removed = self._metadata.ResetAll(metadata_service_pb2.ResetAllRequest(),
                                          timeout=timeout_from(context))
        self._workers.drop_segments_everywhere(list(removed.vector_segment_ids))
        log.info("reset: deleted every tenant, database and collection (%d collections)",
                 len(removed.vector_segment_ids))
        return admin_service_pb2.ResetResponse(
            deleted_collections=len(removed.vector_segment_ids))

    # ------------------------------------------------------------ backup

    def Backup(self, request, context):
        chunk_bytes = backup_manifest.chunk_bytes(request.chunk_bytes)
        upstream = self._metadata.StreamSnapshot(
            metadata_service_pb2.StreamSnapshotRequest(chunk_bytes=chunk_bytes),
            timeout=timeout_from(context))
        context.add_callback(upstream.cancel)  # the caller went away: stop the snapshot too
        for message in upstream:
            part = message.WhichOneof("part")
            if part == "progress":
                yield admin_service_pb2.BackupResponse(progress=message.progress)
            elif part == "manifest":
                yield admin_service_pb2.BackupResponse(manifest=message.manifest)
            elif part == "chunk":
                yield admin_service_pb2.BackupResponse(chunk=message.chunk)
