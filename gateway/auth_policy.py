"""Which role each public RPC needs, and which tenant it touches.

Every method of the public services has a Rule; a method without one is refused (a new RPC
must be given a rule here: tests/unit/test_auth_policy.py checks that every method of every
service the gateway registers has one). Health and reflection need no credentials.

Tenants come from the request: `tenant` (empty = default_tenant), a tenancy call's `name`,
ImportRecords' first message (ImportStart.tenant), or a `collection_id`, which the gateway
resolves to the collection's tenant (gateway.auth_interceptor). GetCollection by id checks
both the tenant named in the request and the collection's own tenant (the metadata worker
looks ids up across tenants).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from gateway.auth_tokens import Grant, Role
from gateway.validation import DEFAULT_TENANT, shown
from segmentdb import errors

OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",                 # Kubernetes probes send no credentials
    "/grpc.reflection.v1alpha.ServerReflection/",  # the schema only, no data
    "/grpc.reflection.v1.ServerReflection/",
)


@dataclass(frozen=True)
class Scope:
    """What a call touches: tenant names, collection ids, or everything (service-wide)."""

    tenants: tuple[str, ...] = ()
    collection_ids: tuple[str, ...] = ()
    everything: bool = False


@dataclass(frozen=True)
class Rule:
    role: Role
    scope: Callable[[Optional[object]], Scope]


def _tenant(field: str = "tenant") -> Callable[[Optional[object]], Scope]:
    return lambda request: Scope(tenants=(getattr(request, field, "") or DEFAULT_TENANT,))


def _collection_id(request) -> Scope:
    return Scope(collection_ids=(request.collection_id,) if request.collection_id else ())


def _get_collection(request) -> Scope:
    tenant = request.tenant or DEFAULT_TENANT
    if request.WhichOneof("selector") == "id" and request.id:
        return Scope(tenants=(tenant,), collection_ids=(request.id,))
    return Scope(tenants=(tenant,))


def _import_start(first) -> Scope:
    # The first message must be an ImportStart (the servicer refuses anything else); an
    # empty or malformed stream is checked against the default tenant, failing closed.
    if first is not None and first.WhichOneof("item") == "start":
        return Scope(tenants=(first.start.tenant or DEFAULT_TENANT,))
    return Scope(tenants=(DEFAULT_TENANT,))


def _nothing(_request) -> Scope:
    return Scope()


def _everything(_request) -> Scope:
    return Scope(everything=True)


R, W, A = Role.READ, Role.WRITE, Role.ADMIN
_S = "/segmentdb.v1."
RULES: dict[str, Rule] = {
    f"{_S}SystemService/Heartbeat": Rule(R, _nothing),
    f"{_S}SystemService/GetVersion": Rule(R, _nothing),
    f"{_S}SystemService/GetLimits": Rule(R, _nothing),
    f"{_S}TenancyService/CreateTenant": Rule(A, _tenant("name")),
    f"{_S}TenancyService/GetTenant": Rule(R, _tenant("name")),
    f"{_S}TenancyService/CreateDatabase": Rule(A, _tenant()),
    f"{_S}TenancyService/GetDatabase": Rule(R, _tenant()),
    f"{_S}TenancyService/ListDatabases": Rule(R, _tenant()),
    f"{_S}TenancyService/DeleteDatabase": Rule(A, _tenant()),
    f"{_S}CollectionService/CreateCollection": Rule(W, _tenant()),
    f"{_S}CollectionService/GetCollection": Rule(R, _get_collection),
    f"{_S}CollectionService/ListCollections": Rule(R, _tenant()),
    f"{_S}CollectionService/CountCollections": Rule(R, _tenant()),
    f"{_S}CollectionService/ModifyCollection": Rule(W, _collection_id),
    f"{_S}CollectionService/DeleteCollection": Rule(W, _tenant()),
    f"{_S}RecordService/AddRecords": Rule(W, _collection_id),
    f"{_S}RecordService/UpsertRecords": Rule(W, _collection_id),
    f"{_S}RecordService/UpdateRecords": Rule(W, _collection_id),
    f"{_S}RecordService/DeleteRecords": Rule(W, _collection_id),
    f"{_S}RecordService/GetRecords": Rule(R, _collection_id),
    f"{_S}RecordService/QueryRecords": Rule(R, _collection_id),
    f"{_S}RecordService/CountRecords": Rule(R, _collection_id),
    f"{_S}AdminService/GetStats": Rule(A, _everything),
    f"{_S}AdminService/PinCollection": Rule(A, _collection_id),
    f"{_S}AdminService/ReleaseCollection": Rule(A, _collection_id),
    f"{_S}AdminService/ReindexCollections": Rule(A, _tenant()),
    f"{_S}AdminService/Backup": Rule(A, _everything),
    f"{_S}AdminService/Vacuum": Rule(A, _everything),
    f"{_S}AdminService/Reset": Rule(A, _everything),
    f"{_S}TransferService/ExportRecords": Rule(R, _collection_id),
    f"{_S}TransferService/ImportRecords": Rule(W, _import_start),
}


def is_open(method: str) -> bool:
    return method.startswith(OPEN_METHOD_PREFIXES)


def rpc_name(method: str) -> str:
    return method.rsplit("/", 1)[-1]


def require_rule(method: str) -> Rule:
    rule = RULES.get(method)
    if rule is None:
        raise errors.AuthorizationError(
            f"{rpc_name(method)}: no access rule is defined for this method, so it is refused "
            "while authentication is on (a gateway bug: report it)")
    return rule


def check_role(grant: Grant, rule: Rule, method: str) -> None:
    if grant.role >= rule.role:
        return
    needs = " or ".join(r.label for r in Role if r >= rule.role)
    raise errors.AuthorizationError(
        f"{rpc_name(method)} needs role {needs}; this token ({grant.name!r}) has role "
        f"{grant.role.label}{' (read-only)' if grant.role == Role.READ else ''}: use a token "
        f"with role {rule.role.label}")


def check_tenant(grant: Grant, tenant: str, method: str) -> None:
    if grant.allows_tenant(tenant):
        return
    raise errors.AuthorizationError(
        f"{rpc_name(method)}: tenant {shown(tenant)} is not granted to this token "
        f"({grant.name!r} is granted {grant.describe_tenants()}); use a token of tenant "
        f"{shown(tenant)}")


def check_collection_tenant(grant: Grant, collection_id: str, tenant: str, method: str) -> None:
    """PERMISSION_DENIED for another tenant's collection, without naming that tenant."""
    if grant.allows_tenant(tenant):
        return
    raise errors.AuthorizationError(
        f"{rpc_name(method)}: collection_id {shown(collection_id)} belongs to a tenant that is not "
        f"granted to this token ({grant.name!r} is granted {grant.describe_tenants()}); use a "
        "token of the collection's tenant")


def check_everything(grant: Grant, method: str) -> None:
    if grant.tenants is None:
        return
    raise errors.AuthorizationError(
        f"{rpc_name(method)} covers every tenant; it needs an admin token with "
        f"\"tenants\": \"*\" (this token, {grant.name!r}, is granted {grant.describe_tenants()})")
