"""CollectionService: check names and configuration, forward to the metadata worker.

DeleteCollection also drops the collection's vector segment on every vector worker once
the metadata worker has deleted it (the folder is a cache of data that no longer exists).
"""

from __future__ import annotations

from gateway import validation
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import errors
from segmentdb.v1 import collection_service_pb2, collection_service_pb2_grpc


def _scope(request) -> None:
    """Fill in default_tenant / default_database and check both names."""
    request.tenant = validation.tenant_name(request.tenant)
    request.database = validation.database_name(request.database)


class CollectionServicer(collection_service_pb2_grpc.CollectionServiceServicer):
    def __init__(self, workers: WorkerClients):
        self._workers = workers
        self._metadata = workers.metadata

    def CreateCollection(self, request, context):
        _scope(request)
        validation.collection_name(request.name)
        validation.metadata(request.metadata, "metadata", allow_null=False)
        validation.configuration(request.configuration, "configuration")
        return self._metadata.CreateCollection(request, timeout=timeout_from(context))

    def GetCollection(self, request, context):
        _scope(request)
        selector = request.WhichOneof("selector")
        if selector is None:
            raise errors.InvalidArgumentError(
                "name/id: give the collection's name or its id"
            )
        if selector == "id":
            validation.collection_id(request.id, "id")
        else:
            validation.lookup_name(request.name, "name")
        return self._metadata.GetCollection(request, timeout=timeout_from(context))

    def ListCollections(self, request, context):
        _scope(request)
        return self._metadata.ListCollections(request, timeout=timeout_from(context))

    def CountCollections(self, request, context):
        _scope(request)
        return self._metadata.CountCollections(request, timeout=timeout_from(context))

    def ModifyCollection(self, request, context):
        validation.collection_id(request.collection_id)
        if request.HasField("new_name"):
            validation.collection_name(request.new_name, "new_name")
        validation.metadata(request.new_metadata, "new_metadata", allow_null=False)
        validation.configuration(request.new_configuration, "new_configuration")
        return self._metadata.ModifyCollection(request, timeout=timeout_from(context))

    def DeleteCollection(self, request, context):
        _scope(request)
        validation.lookup_name(request.name, "name")
        removed = self._metadata.DeleteCollection(request, timeout=timeout_from(context))
        self._workers.drop_segments_everywhere(list(removed.vector_segment_ids))
        return collection_service_pb2.DeleteCollectionResponse()
