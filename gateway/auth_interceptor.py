"""The gateway's one authentication and authorization interceptor (on when a tokens file is
configured).

For every call except health and reflection:
1. authenticate: the `authorization: Bearer <token>` metadata must name a configured token
   (gateway.auth_tokens), else UNAUTHENTICATED;
2. authorize: the token's role must be at least the RPC's (gateway.auth_policy), and every
   tenant the call touches must be granted to it, else PERMISSION_DENIED.

A call addressed by collection_id touches the collection's tenant. The gateway asks the
metadata worker (GetCollection by id) once per id and remembers the answer: a collection
never changes tenant and ids are never reused, so the memory cannot go stale. An unknown id
passes the check and the call itself answers NOT_FOUND.

Another tenant's collection id is PERMISSION_DENIED, not NOT_FOUND: name-addressed calls on
another tenant must be PERMISSION_DENIED (they name the tenant), and answering id-addressed
calls the same way keeps one rule. Existence of an id is not a secret worth hiding: ids are
random UUIDs (122 bits) that only a caller who was shown one can know, and the message never
says whose collection it is.

Tokens never appear in logs or messages; refusals are logged at INFO with the token's name.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Callable, Optional

import grpc

from gateway import auth_policy, validation
from gateway.auth_tokens import Grant, TokenSource
from segmentdb import call_guard, errors, serving
from segmentdb.v1 import collection_service_pb2

log = logging.getLogger(__name__)

_BEARER = "bearer "
MAX_REMEMBERED_COLLECTIONS = 100_000


class CollectionTenants:
    """collection id -> tenant, asked of the metadata worker once per id (bounded LRU)."""

    def __init__(self, lookup: Callable[[str, Optional[float]], Optional[str]],
                 max_entries: int = MAX_REMEMBERED_COLLECTIONS):
        self._lookup = lookup
        self._max = max_entries
        self._known: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def tenant_of(self, collection_id: str, timeout: Optional[float]) -> Optional[str]:
        with self._lock:
            tenant = self._known.get(collection_id)
            if tenant is not None:
                self._known.move_to_end(collection_id)
                return tenant
        tenant = self._lookup(collection_id, timeout)
        if tenant is not None:
            with self._lock:
                self._known[collection_id] = tenant
                while len(self._known) > self._max:
                    self._known.popitem(last=False)
        return tenant


def metadata_lookup(metadata_stub) -> Callable[[str, Optional[float]], Optional[str]]:
    """A CollectionTenants lookup over the metadata worker's GetCollection (None if absent)."""

    def lookup(collection_id: str, timeout: Optional[float]) -> Optional[str]:
        request = collection_service_pb2.GetCollectionRequest(id=collection_id)
        try:
            response = metadata_stub.GetCollection(request, timeout=timeout)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None  # the call itself will say so
            raise
        return response.collection.tenant

    return lookup


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, tokens: TokenSource, collections: CollectionTenants):
        self._tokens = tokens
        self._collections = collections

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or auth_policy.is_open(method):
            return handler

        def check(context: grpc.ServicerContext, request) -> None:
            self.check_call(context, method, request)

        return call_guard.guard(handler, check, peek_stream=True)

    def check_call(self, context, method: str, request) -> Grant:
        """Authenticate and authorize one call of `method` (its full gRPC name) carrying
        `request`; returns the caller's grant or raises AuthenticationError /
        AuthorizationError. The HTTP API (gateway.http) calls this too, with a context
        whose invocation_metadata() holds the HTTP request's bearer token."""
        grant = self._authenticate(context, method)
        try:
            self._authorize(grant, method, request, context)
        except errors.AuthorizationError as exc:
            log.info("refused %s for token %r: %s", auth_policy.rpc_name(method),
                     grant.name, exc.message)
            raise
        return grant

    def authenticate(self, context, method: str) -> Grant:
        """Only the authentication half of check_call (who is calling?)."""
        return self._authenticate(context, method)

    def _authenticate(self, context: grpc.ServicerContext, method: str) -> Grant:
        values = [v for k, v in (context.invocation_metadata() or ()) if k == "authorization"]
        if not values:
            raise errors.AuthenticationError(
                f"{auth_policy.rpc_name(method)}: this gateway requires a bearer token; send "
                "the metadata 'authorization: Bearer <token>' (SDK: Client(token=...); CLI: "
                "--token-file or SEGMENTDB_TOKEN)")
        value = values[-1] if isinstance(values[-1], str) else values[-1].decode("utf-8", "replace")
        if len(values) > 1 or not value[:len(_BEARER)].lower() == _BEARER:
            raise errors.AuthenticationError(
                "authorization: expected exactly one 'Bearer <token>' value")
        grant = self._tokens.table().authenticate(value[len(_BEARER):].strip())
        if grant is None:
            log.info("refused %s: unknown bearer token", auth_policy.rpc_name(method))
            raise errors.AuthenticationError(
                "authorization: the bearer token is not valid for this gateway (unknown, "
                "revoked or mistyped); check the token you were given")
        return grant

    def _authorize(self, grant: Grant, method: str, request,
                   context: grpc.ServicerContext) -> None:
        rule = auth_policy.require_rule(method)
        auth_policy.check_role(grant, rule, method)
        scope = rule.scope(request)
        if scope.everything:
            auth_policy.check_everything(grant, method)
        for tenant in scope.tenants:
            auth_policy.check_tenant(grant, tenant, method)
        if grant.tenants is None:
            return  # every tenant is granted: no need to resolve collection ids
        for collection_id in scope.collection_ids:
            if len(collection_id) > validation.MAX_COLLECTION_ID_LENGTH:
                continue  # cannot exist; the servicer answers INVALID_ARGUMENT
            timeout = serving.downstream_timeout(context, "the gateway could check access")
            tenant = self._collections.tenant_of(collection_id, timeout)
            if tenant is not None:
                auth_policy.check_collection_tenant(grant, collection_id, tenant, method)
