"""TenancyService: check names, fill in the defaults, forward to the metadata worker.

DeleteDatabase also drops the vector segments of the deleted collections on every
vector worker (their folders are caches of data that no longer exists).
"""

from __future__ import annotations

from gateway import validation
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb.v1 import tenancy_service_pb2, tenancy_service_pb2_grpc


class TenancyServicer(tenancy_service_pb2_grpc.TenancyServiceServicer):
    def __init__(self, workers: WorkerClients):
        self._workers = workers
        self._metadata = workers.metadata

    def CreateTenant(self, request, context):
        validation.tenant_name(request.name, "name", default=False)
        return self._metadata.CreateTenant(request, timeout=timeout_from(context))

    def GetTenant(self, request, context):
        validation.tenant_name(request.name, "name", default=False)
        return self._metadata.GetTenant(request, timeout=timeout_from(context))

    def CreateDatabase(self, request, context):
        request.tenant = validation.tenant_name(request.tenant)
        validation.database_name(request.name, "name", default=False)
        return self._metadata.CreateDatabase(request, timeout=timeout_from(context))

    def GetDatabase(self, request, context):
        request.tenant = validation.tenant_name(request.tenant)
        validation.database_name(request.name, "name", default=False)
        return self._metadata.GetDatabase(request, timeout=timeout_from(context))

    def ListDatabases(self, request, context):
        request.tenant = validation.tenant_name(request.tenant)
        return self._metadata.ListDatabases(request, timeout=timeout_from(context))

    def DeleteDatabase(self, request, context):
        request.tenant = validation.tenant_name(request.tenant)
        validation.database_name(request.name, "name", default=False)
        removed = self._metadata.DeleteDatabase(request, timeout=timeout_from(context))
        self._workers.drop_segments_everywhere(list(removed.vector_segment_ids))
        return tenancy_service_pb2.DeleteDatabaseResponse()
