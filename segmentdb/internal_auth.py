"""The shared internal token: workers refuse calls that do not carry it.

Internal ports are not the public API. Where they are reachable from more than the gateway
(a flat network, a NetworkPolicy that is not enforced), a worker started with
`--internal-token-file FILE` answers UNAUTHENTICATED to any call without the token in the
`x-segmentdb-internal-token` metadata. The gateway and the vector workers read the same file
and send the token on every internal call. Health checks stay open (Kubernetes probes and the
gateway's worker probes send no credentials). `segmentdb serve` writes a random token into
its private temp folder and passes the file to every child.

The token is compared with hmac.compare_digest (constant time) and never logged.
"""

from __future__ import annotations

import hmac
from typing import Optional

import grpc

from segmentdb import call_guard, errors
# Re-exported: the file helpers live where `segmentdb serve` can import them without grpc.
from segmentdb.internal_token_file import (HEADER, MIN_TOKEN_LENGTH,  # noqa: F401
                                           read_token_file, write_token_file)

# Reachable without the token: probes cannot send it.
OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/",)


class RequireToken(grpc.ServerInterceptor):
    """A worker's server interceptor: UNAUTHENTICATED unless the call carries the token."""

    def __init__(self, token: str):
        self._token = token.encode("utf-8")

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        return call_guard.guard(handler, self._check)

    def _check(self, context: grpc.ServicerContext, _request) -> None:
        presented = b""
        for key, value in context.invocation_metadata() or ():
            if key == HEADER:
                presented = value.encode("utf-8") if isinstance(value, str) else value
        if not presented:
            raise errors.AuthenticationError(
                f"this worker requires the internal token: send it in the {HEADER!r} metadata "
                "(start the caller with the same --internal-token-file); workers are not the "
                "public API, call the gateway instead")
        if not hmac.compare_digest(presented, self._token):
            raise errors.AuthenticationError(
                f"the {HEADER!r} metadata does not match this worker's internal token; start "
                "the caller with the same --internal-token-file")


class _AddToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds the token to every call's metadata."""

    def __init__(self, token: str):
        self._token = token

    def _details(self, details):
        metadata = [*(details.metadata or ()), (HEADER, self._token)]
        return _CallDetails(details.method, details.timeout, metadata, details.credentials,
                            getattr(details, "wait_for_ready", None),
                            getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def with_token(channel: grpc.Channel, token: Optional[str]) -> grpc.Channel:
    """`channel` sending the internal token on every call (unchanged when token is None)."""
    if not token:
        return channel
    return grpc.intercept_channel(channel, _AddToken(token))
