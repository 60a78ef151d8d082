"""segmentdb.internal.v1.MetadataService: translate protos, delegate to the store.

No SQL here: each RPC converts its request (convert / filters / collection_config),
runs one store function in one transaction (Store.write / Store.read) and converts the
result back. After a record write commits, log retention may purge the collection's log in
a second, separate transaction (log_retention.py; never part of the acknowledged write).
Errors are raised as segmentdb.errors classes; the server's interceptor turns them into
statuses.
"""

from __future__ import annotations

from datetime import datetime, timezone

from segmentdb import errors, labels, serving, vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc
from segmentdb.v1 import tenancy_pb2
from segmentdb.v1 import tenancy_service_pb2 as tsvc

from metadata_worker import (
    collection_config, convert, filters, store_checkpoints, store_collections as collections,
    store_log, store_records as records, store_stats,
)
from metadata_worker import snapshot_stream
from metadata_worker.domain import RecordSelection
from metadata_worker.log_retention import LogRetention
from metadata_worker.store import Store
from metadata_worker.transfer_rpcs import TransferRpcs
from metadata_worker.vacuum import IndexFigures, StorageVacuum

# Collections per ListVectorSegments page when the caller does not say.
LIST_SEGMENTS_PAGE = 1000


def selection_of(request) -> RecordSelection:
    """ids AND where AND where_document of a request (each only when given)."""
    selection = RecordSelection(ids=list(request.ids) if len(request.ids) else None)
    if request.HasField("where"):
        selection.conditions.append(filters.compile_where(request.where))
    if request.HasField("where_document"):
        selection.conditions.append(filters.compile_where_document(request.where_document))
    return selection


def _check_deadline(context, before: str) -> None:
    """DeadlineExceededError if the caller's deadline has passed (no-op without one)."""
    remaining = serving.remaining_timeout(context)
    if remaining is not None and remaining <= 0:
        raise errors.DeadlineExceededError(
            f"the request's deadline expired before {before}; retry with a longer timeout")


class MetadataServicer(TransferRpcs, metadata_service_pb2_grpc.MetadataServiceServicer):
    def __init__(self, store: Store, log_retention: int = 0):
        self.store = store
        # Runs after a record write's transaction committed, in its own (log_retention.py).
        self.retention = LogRetention(store, log_retention)
        self.vacuum = StorageVacuum(store)

    # -- tenants and databases ---------------------------------------------------------------

    def CreateTenant(self, request, context):
        name = self.store.write(collections.create_tenant, request.name)
        return tsvc.CreateTenantResponse(tenant=tenancy_pb2.Tenant(name=name))

    def GetTenant(self, request, context):
        name = self.store.read(collections.get_tenant, request.name)
        return tsvc.GetTenantResponse(tenant=tenancy_pb2.Tenant(name=name))

    def CreateDatabase(self, request, context):
        db = self.store.write(collections.create_database, request.tenant, request.name)
        return tsvc.CreateDatabaseResponse(database=convert.database_to_proto(db))

    def GetDatabase(self, request, context):
        db = self.store.read(collections.get_database, request.tenant, request.name)
        return tsvc.GetDatabaseResponse(database=convert.database_to_proto(db))

    def ListDatabases(self, request, context):
        dbs = self.store.read(collections.list_databases, request.tenant, request.limit,
                              request.offset)
        return tsvc.ListDatabasesResponse(databases=[convert.database_to_proto(d) for d in dbs])

    def DeleteDatabase(self, request, context):
        removed = self.store.write(collections.delete_database, request.tenant, request.name)
        return msvc.DeleteDatabaseResponse(vector_segment_ids=removed)

    def ResetAll(self, request, context):
        removed = self.store.write(collections.reset_all)
        return msvc.ResetAllResponse(vector_segment_ids=removed)

    # -- collections -------------------------------------------------------------------------

    def CreateCollection(self, request, context):
        metadata = convert.metadata_from_proto(request.metadata, "metadata", allow_lists=False)
        hnsw = collection_config.resolve_create(
            convert.hnsw_from_proto(request.configuration.hnsw), metadata)
        function = convert.embedding_function_from_proto(request.configuration,
                                                         "configuration.embedding_function")
        collection, created = self.store.write(
            collections.create_collection, request.tenant, request.database, request.name,
            metadata, hnsw, request.get_or_create, embedding_function=function)
        return csvc.CreateCollectionResponse(
            collection=convert.collection_to_proto(collection), created=created)

    def GetCollection(self, request, context):
        selector = request.WhichOneof("selector")
        if selector is None:
            raise errors.InvalidArgumentError("GetCollection needs a name or an id")
        if selector == "id":
            collection = self.store.read(collections.get_collection_by_id, request.id)
        else:
            collection = self.store.read(collections.get_collection_by_name, request.tenant,
                                         request.database, request.name)
        return csvc.GetCollectionResponse(collection=convert.collection_to_proto(collection))

    def ListCollections(self, request, context):
        found = self.store.read(collections.list_collections, request.tenant, request.database,
                                request.limit, request.offset)
        return csvc.ListCollectionsResponse(
            collections=[convert.collection_to_proto(c) for c in found])

    def CountCollections(self, request, context):
        count = self.store.read(collections.count_collections, request.tenant, request.database)
        return csvc.CountCollectionsResponse(count=count)

    def ModifyCollection(self, request, context):
        replace = request.HasField("new_metadata")
        metadata = (convert.metadata_from_proto(request.new_metadata, "new_metadata",
                                                allow_lists=False) if replace else None)
        collection = self.store.write(
            collections.modify_collection, request.collection_id,
            request.new_name if request.HasField("new_name") else None,
            metadata, replace, convert.hnsw_from_proto(request.new_configuration.hnsw),
            convert.embedding_function_from_proto(
                request.new_configuration, "new_configuration.embedding_function"))
        return csvc.ModifyCollectionResponse(collection=convert.collection_to_proto(collection))

    def DeleteCollection(self, request, context):
        removed = self.store.write(collections.delete_collection, request.tenant,
                                   request.database, request.name)
        return msvc.DeleteCollectionResponse(vector_segment_ids=removed)

    # -- records -----------------------------------------------------------------------------

    def _write(self, operation, collection_id: str, payload, context=None):
        """One acknowledged write transaction, then (outside it) the log retention check.
        Returns the operation's result: (log sequence, counts...).

        The caller's deadline is checked before the transaction starts and again after the
        operation, just before COMMIT: a write whose deadline passed is rolled back and
        answered DEADLINE_EXCEEDED. A deadline passing after that check (COMMIT, retention,
        the reply) leaves it stored completely: all or nothing either way
        (docs/internals.md, "Deadlines").
        """
        _check_deadline(context, "the write started; nothing was written")

        def guarded(conn, *args):
            result = operation(conn, *args)
            _check_deadline(context, "the write could commit; it was rolled back, "
                                     "nothing was written")
            return result

        result = self.store.write(guarded, collection_id, payload)
        self.retention.after_write(collection_id, result[0])
        return result

    def AddRecords(self, request, context):
        batch = convert.record_write(request, vectors_required=True, allow_delete=False)
        sequence, inserted = self._write(records.add, request.collection_id, batch, context)
        return rsvc.AddRecordsResponse(log_sequence=sequence, inserted=inserted)

    def UpsertRecords(self, request, context):
        batch = convert.record_write(request, vectors_required=True, allow_delete=True)
        sequence, inserted, updated = self._write(records.upsert, request.collection_id, batch,
                                                  context)
        return rsvc.UpsertRecordsResponse(log_sequence=sequence, inserted=inserted,
                                          updated=updated)

    def UpdateRecords(self, request, context):
        batch = convert.record_write(request, vectors_required=False, allow_delete=True)
        sequence, updated = self._write(records.update, request.collection_id, batch, context)
        return rsvc.UpdateRecordsResponse(log_sequence=sequence, updated=updated)

    def DeleteRecords(self, request, context):
        sequence, deleted = self._write(records.delete, request.collection_id,
                                        selection_of(request), context)
        return rsvc.DeleteRecordsResponse(log_sequence=sequence, deleted=deleted)

    def GetRecords(self, request, context):
        include = convert.include_from_proto(request)
        limit = request.limit if request.HasField("limit") else None
        found = self.store.read(records.get, request.collection_id, selection_of(request),
                                limit, request.offset, include)
        return rsvc.GetRecordsResponse(records=convert.records_to_proto(found))

    def CountRecords(self, request, context):
        return rsvc.CountRecordsResponse(
            count=self.store.read(records.count, request.collection_id))

    # -- for gateways and vector workers ------------------------------------------------------

    def PrepareQuery(self, request, context):
        target, allowed = self.store.read(records.prepare_query, request.collection_id,
                                          selection_of(request))
        response = msvc.PrepareQueryResponse(
            segment=convert.segment_spec(target.collection),
            log_sequence=target.log_sequence,
            filtered=allowed is not None,
            record_count=target.record_count,
        )
        if allowed is not None:
            response.allowed.CopyFrom(labels.encode(allowed))
        return response

    def FetchRecords(self, request, context):
        include = convert.include_from_proto(request, allow_distances=True)
        collection, sequence, found = self.store.read(
            records.fetch_by_labels, request.collection_id, list(request.labels), include)
        return msvc.FetchRecordsResponse(labels=found.labels,
                                         records=convert.records_to_proto(found),
                                         segment=convert.segment_spec(collection),
                                         log_sequence=sequence)

    def ReadLog(self, request, context):
        page = self.store.read(store_log.read, request.collection_id, request.after_sequence,
                               request.limit)
        return msvc.ReadLogResponse(
            sequences=page.sequences, operations=page.operations, labels=page.labels,
            vectors=vectors.encode(page.vectors), read_through=page.read_through,
            more=page.more, purged_through=page.purged_through)

    def ScanVectors(self, request, context):
        for labels, array, snapshot in self.store.stream(store_log.scan, request.collection_id,
                                                         request.page_size):
            yield msvc.ScanVectorsResponse(labels=labels, vectors=vectors.encode(array),
                                               snapshot_sequence=snapshot)

    def ReportPersisted(self, request, context):
        purged = self.store.write(store_checkpoints.report_persisted, request.segment_id,
                                  request.collection_id, request.applied_sequence)
        return msvc.ReportPersistedResponse(purged_through=purged)

    def GetStorageStats(self, request, context):
        return msvc.GetStorageStatsResponse(
            stats=convert.storage_stats_to_proto(store_stats.storage_stats(self.store)))

    def StreamSnapshot(self, request, context):
        yield from snapshot_stream.stream(self.store, request.chunk_bytes, context.is_active)

    # -- maintenance ---------------------------------------------------------------------------

    def ListVectorSegments(self, request, context):
        after = convert.page_token_rowid(request.page_token, "page_token")
        size = request.page_size or LIST_SEGMENTS_PAGE
        page = self.store.read(collections.list_every_collection, after, size)
        response = msvc.ListVectorSegmentsResponse(
            segments=[convert.segment_spec(collection) for _rowid, collection in page])
        if len(page) == size:
            response.next_page_token = str(page[-1][0])
        return response

    def VacuumStorage(self, request, context):
        done = self.vacuum.run(
            request.started_at.ToDatetime(tzinfo=timezone.utc)
            if request.HasField("started_at") else datetime.now(timezone.utc),
            IndexFigures(bytes_before=request.index_bytes_before,
                         bytes_after=request.index_bytes_after,
                         segments_examined=request.segments_examined,
                         segments_rebuilt=request.segments_rebuilt,
                         segments_failed=request.segments_failed),
            mode="online")
        return msvc.VacuumStorageResponse(
            sqlite_bytes_before=done.sqlite_bytes_before,
            sqlite_bytes_after=done.sqlite_bytes_after,
            log_entries_before=done.log_entries_before,
            log_entries_after=done.log_entries_after,
            maintenance_run_id=done.maintenance_run_id)
