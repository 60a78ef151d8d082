"""The routes of Chroma's HTTP API v2, each one servicer call (or a few) of the gateway.

Paths, bodies and statuses are chromadb 1.5.9's (see docs/internals.md "Chroma HTTP API").
A collection is addressed by NAME in GET/DELETE .../collections/{collection} (as Chroma's
client does) and by ID everywhere else (PUT, the record routes, .../by-id/{id}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from starlette.routing import Route

from gateway.admin_servicer import AdminServicer
from gateway.auth_interceptor import AuthInterceptor
from gateway.collection_servicer import CollectionServicer
from gateway.http import codec, responses
from gateway.http.endpoint import Call, JsonResponse, endpoint
from gateway.record_servicer import RecordServicer
from gateway.system_servicer import SystemServicer
from gateway.tenancy_servicer import TenancyServicer
from gateway.validation import DEFAULT_DATABASE, DEFAULT_TENANT
from segmentdb.v1 import (
    admin_service_pb2 as admin_pb,
    collection_service_pb2 as coll_pb,
    common_pb2,
    record_service_pb2 as rec_pb,
    system_service_pb2 as sys_pb,
    tenancy_service_pb2 as ten_pb,
)

V2 = "/api/v2"
_DB = V2 + "/tenants/{tenant}/databases/{database}"
_COLLECTION = _DB + "/collections/{collection}"


@dataclass
class Servicers:
    system: SystemServicer
    tenancy: TenancyServicer
    collections: CollectionServicer
    records: RecordServicer
    admin: AdminServicer


class ChromaRoutes:
    def __init__(self, servicers: Servicers, allow_reset: bool):
        self._s = servicers
        self._allow_reset = allow_reset

    def routes(self, max_body_bytes: int, auth: Optional[AuthInterceptor]) -> list[Route]:
        table = [
            ("GET", V2 + "/heartbeat", self.heartbeat, 200),
            ("GET", V2 + "/version", self.version, 200),
            ("GET", V2 + "/pre-flight-checks", self.pre_flight_checks, 200),
            ("POST", V2 + "/reset", self.reset, 200),
            ("GET", V2 + "/auth/identity", self.identity, 200),
            ("POST", V2 + "/tenants", self.create_tenant, 200),
            ("GET", V2 + "/tenants/{tenant}", self.get_tenant, 200),
            ("GET", V2 + "/tenants/{tenant}/databases", self.list_databases, 200),
            ("POST", V2 + "/tenants/{tenant}/databases", self.create_database, 200),
            ("GET", _DB, self.get_database, 200),
            ("DELETE", _DB, self.delete_database, 200),
            ("GET", _DB + "/collections", self.list_collections, 200),
            ("POST", _DB + "/collections", self.create_collection, 200),
            ("GET", _DB + "/collections_count", self.count_collections, 200),
            ("GET", _DB + "/collections/by-id/{collection}", self.get_collection_by_id, 200),
            ("GET", _COLLECTION, self.get_collection, 200),
            ("PUT", _COLLECTION, self.modify_collection, 200),
            ("DELETE", _COLLECTION, self.delete_collection, 200),
            ("POST", _COLLECTION + "/add", self.add, 201),
            ("POST", _COLLECTION + "/upsert", self.upsert, 200),
            ("POST", _COLLECTION + "/update", self.update, 200),
            ("POST", _COLLECTION + "/delete", self.delete, 200),
            ("POST", _COLLECTION + "/get", self.get, 200),
            ("POST", _COLLECTION + "/query", self.query, 200),
            ("GET", _COLLECTION + "/count", self.count, 200),
        ]
        return [Route(path, endpoint(path, handler, max_body_bytes=max_body_bytes, auth=auth,
                                     status=status, reads_body=method in ("POST", "PUT")),
                      methods=[method])
                for method, path, handler, status in table]

    # ------------------------------------------------------------ system

    async def heartbeat(self, call: Call):
        response = await call.invoke("SystemService/Heartbeat", self._s.system.Heartbeat,
                                     sys_pb.HeartbeatRequest())
        return {"nanosecond heartbeat": response.nanoseconds}

    async def version(self, call: Call):
        response = await call.invoke("SystemService/GetVersion", self._s.system.GetVersion,
                                     sys_pb.GetVersionRequest())
        return response.version

    async def pre_flight_checks(self, call: Call):
        limits = await call.invoke("SystemService/GetLimits", self._s.system.GetLimits,
                                   sys_pb.GetLimitsRequest())
        return {"max_batch_size": limits.max_batch_size, "supports_base64_encoding": True}

    async def reset(self, call: Call):
        if not self._allow_reset:
            # Chroma's answer when its server runs without ALLOW_RESET.
            return _chroma_error(403, "ChromaError", "Reset is disabled by config; start the "
                                 "gateway (or segmentdb serve) with --allow-reset to enable it")
        await call.invoke("AdminService/Reset", self._s.admin.Reset, admin_pb.ResetRequest())
        return True

    async def identity(self, call: Call):
        grant = await call.authenticate("SystemService/Heartbeat")
        if grant is None:
            return {"user_id": "", "tenant": DEFAULT_TENANT, "databases": [DEFAULT_DATABASE]}
        tenants = sorted(grant.tenants) if grant.tenants is not None else []
        tenant = tenants[0] if len(tenants) == 1 else DEFAULT_TENANT
        return {"user_id": grant.name, "tenant": tenant, "databases": ["*"]}

    # ------------------------------------------------------------ tenants and databases

    async def create_tenant(self, call: Call):
        body = codec.body_object(call.body, "creating a tenant")
        request = ten_pb.CreateTenantRequest(name=codec.name_field(body, "tenant"))
        await call.invoke("TenancyService/CreateTenant", self._s.tenancy.CreateTenant, request)
        return {}

    async def get_tenant(self, call: Call):
        request = ten_pb.GetTenantRequest(name=call.path("tenant"))
        response = await call.invoke("TenancyService/GetTenant", self._s.tenancy.GetTenant,
                                     request)
        return {"name": response.tenant.name, "resource_name": None}

    async def list_databases(self, call: Call):
        limit, offset = codec.paging(call.request.query_params)
        request = ten_pb.ListDatabasesRequest(tenant=call.path("tenant"), limit=limit,
                                              offset=offset)
        response = await call.invoke("TenancyService/ListDatabases",
                                     self._s.tenancy.ListDatabases, request)
        return [responses.database(d) for d in response.databases]

    async def create_database(self, call: Call):
        body = codec.body_object(call.body, "creating a database")
        request = ten_pb.CreateDatabaseRequest(tenant=call.path("tenant"),
                                               name=codec.name_field(body, "database"))
        await call.invoke("TenancyService/CreateDatabase", self._s.tenancy.CreateDatabase,
                          request)
        return {}

    async def get_database(self, call: Call):
        request = ten_pb.GetDatabaseRequest(tenant=call.path("tenant"),
                                            name=call.path("database"))
        response = await call.invoke("TenancyService/GetDatabase", self._s.tenancy.GetDatabase,
                                     request)
        return responses.database(response.database)

    async def delete_database(self, call: Call):
        request = ten_pb.DeleteDatabaseRequest(tenant=call.path("tenant"),
                                               name=call.path("database"))
        await call.invoke("TenancyService/DeleteDatabase", self._s.tenancy.DeleteDatabase,
                          request)
        return {}

    # ------------------------------------------------------------ collections

    async def list_collections(self, call: Call):
        limit, offset = codec.paging(call.request.query_params)
        request = coll_pb.ListCollectionsRequest(tenant=call.path("tenant"),
                                                 database=call.path("database"),
                                                 limit=limit, offset=offset)
        response = await call.invoke("CollectionService/ListCollections",
                                     self._s.collections.ListCollections, request)
        return [responses.collection(c) for c in response.collections]

    async def count_collections(self, call: Call):
        request = coll_pb.CountCollectionsRequest(tenant=call.path("tenant"),
                                                  database=call.path("database"))
        response = await call.invoke("CollectionService/CountCollections",
                                     self._s.collections.CountCollections, request)
        return response.count

    async def create_collection(self, call: Call):
        body = codec.body_object(call.body, "creating a collection")
        request = codec.create_collection_request(call.path("tenant"), call.path("database"),
                                                  body)
        response = await call.invoke("CollectionService/CreateCollection",
                                     self._s.collections.CreateCollection, request)
        return responses.collection(response.collection)

    async def get_collection(self, call: Call):
        request = coll_pb.GetCollectionRequest(tenant=call.path("tenant"),
                                               database=call.path("database"),
                                               name=call.path("collection"))
        response = await call.invoke("CollectionService/GetCollection",
                                     self._s.collections.GetCollection, request)
        return responses.collection(response.collection)

    async def get_collection_by_id(self, call: Call):
        request = coll_pb.GetCollectionRequest(tenant=call.path("tenant"),
                                               database=call.path("database"),
                                               id=call.path("collection"))
        response = await call.invoke("CollectionService/GetCollection",
                                     self._s.collections.GetCollection, request)
        return responses.collection(response.collection)

    async def modify_collection(self, call: Call):
        body = codec.body_object(call.body, "modifying a collection")
        request = codec.modify_collection_request(call.path("collection"), body)
        await call.invoke("CollectionService/ModifyCollection",
                          self._s.collections.ModifyCollection, request)
        return {}

    async def delete_collection(self, call: Call):
        request = coll_pb.DeleteCollectionRequest(tenant=call.path("tenant"),
                                                  database=call.path("database"),
                                                  name=call.path("collection"))
        await call.invoke("CollectionService/DeleteCollection",
                          self._s.collections.DeleteCollection, request)
        return {}

    # ------------------------------------------------------------ records

    async def _write(self, call: Call, kind: str, method: str, behavior):
        body = codec.body_object(call.body, kind)
        request = codec.write_request(kind, call.path("collection"), body)
        await call.invoke(method, behavior, request)
        return {}

    async def add(self, call: Call):
        return await self._write(call, "add", "RecordService/AddRecords",
                                 self._s.records.AddRecords)

    async def upsert(self, call: Call):
        return await self._write(call, "upsert", "RecordService/UpsertRecords",
                                 self._s.records.UpsertRecords)

    async def update(self, call: Call):
        return await self._write(call, "update", "RecordService/UpdateRecords",
                                 self._s.records.UpdateRecords)

    async def delete(self, call: Call):
        body = codec.body_object(call.body, "delete")
        request = codec.delete_request(call.path("collection"), body)
        if body.get("ids") is not None and not request.ids:
            return {"deleted": 0}  # no ids match nothing (empty ids on the wire mean "any")
        if not request.ids and not request.HasField("where") and \
                not request.HasField("where_document"):
            return {"deleted": 0}  # Chroma: a delete that names nothing deletes nothing
        response = await call.invoke("RecordService/DeleteRecords",
                                     self._s.records.DeleteRecords, request)
        return {"deleted": response.deleted}

    async def get(self, call: Call):
        body = codec.body_object(call.body, "get")
        fields = codec.include(body, codec.DEFAULT_GET_INCLUDE)
        request = codec.get_request(call.path("collection"), body, fields)
        if body.get("ids") is not None and not request.ids:
            await self._count(call)  # still NOT_FOUND for a missing collection
            return responses.empty_get(fields)
        response = await call.invoke("RecordService/GetRecords", self._s.records.GetRecords,
                                     request)
        return responses.get_result(response.records, fields)

    async def query(self, call: Call):
        body = codec.body_object(call.body, "query")
        fields = codec.include(body, codec.DEFAULT_QUERY_INCLUDE)
        request = codec.query_request(call.path("collection"), body, fields)
        if body.get("ids") is not None and not request.ids:
            await self._count(call)
            queries = len(request.query_texts) or len(request.query_embeddings.data) // (
                4 * max(request.query_embeddings.dimension, 1))
            return responses.query_result([common_pb2.RecordBatch() for _ in range(queries)],
                                          fields)
        response = await call.invoke("RecordService/QueryRecords",
                                     self._s.records.QueryRecords, request)
        return responses.query_result(list(response.results), fields)

    async def count(self, call: Call):
        return await self._count(call)

    async def _count(self, call: Call) -> int:
        request = rec_pb.CountRecordsRequest(collection_id=call.path("collection"))
        response = await call.invoke("RecordService/CountRecords", self._s.records.CountRecords,
                                     request)
        return response.count


def _chroma_error(status: int, name: str, message: str):
    return JsonResponse({"error": name, "message": message}, status)

