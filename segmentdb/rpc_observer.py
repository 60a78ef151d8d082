"""One server interceptor that observes every RPC of a process: Prometheus metrics (started,
handled by status code, latency, in flight; only while segmentdb.metrics is enabled) and the
request log line.

It is the outermost interceptor, so it sees the status the client gets: the error mapping
(serving.ErrorInterceptor) and any authentication interceptor have already run when the
handler returns or raises. Streaming RPCs are timed until their last message (or error,
or cancellation).

Request log (logger `segmentdb.rpc`): one line per RPC at DEBUG with the fields rpc, code,
duration_ms and peer; RPCs that fail for a server-side reason (INTERNAL, UNKNOWN, DATA_LOSS,
UNAVAILABLE) are logged at WARNING with the status details. Request bodies and metadata
(bearer tokens) are never logged. Health checks are counted but not logged: probes and the
gateway's worker prober call them every second.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import grpc

from segmentdb import metrics

log = logging.getLogger("segmentdb.rpc")

_SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                            grpc.StatusCode.DATA_LOSS, grpc.StatusCode.UNAVAILABLE})
_UNLOGGED_SERVICES = frozenset({"grpc.health.v1.Health"})


class _Call:
    """One RPC being observed; `finish()` records it exactly once."""

    __slots__ = ("rpc", "kind", "service", "method", "context", "started", "done", "metrics")

    def __init__(self, rpc: str, kind: str, context):
        self.rpc = rpc
        self.kind = kind
        self.service, _, self.method = rpc.lstrip("/").partition("/")
        self.context = context
        self.started = time.perf_counter()
        self.done = False
        # The same recorder at the end as at the start (metrics may be enabled in between).
        self.metrics = metrics.rpc
        if self.metrics is not None:
            self.metrics.started(kind, self.service, self.method)

    def finish(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        seconds = time.perf_counter() - self.started
        code = _status_of(self.context, exc)
        if self.metrics is not None:
            self.metrics.finished(self.kind, self.service, self.method, code.name, seconds)
        if self.service in _UNLOGGED_SERVICES:
            return
        faulted = code in _SERVER_FAULTS
        level = logging.WARNING if faulted else logging.DEBUG
        if not log.isEnabledFor(level):
            return
        fields = {"rpc": self.rpc, "code": code.name, "duration_ms": round(seconds * 1000, 3),
                  "peer": _peer(self.context)}
        if faulted:
            fields["details"] = _details(self.context)
            log.warning("rpc %s failed: %s %s (%.1f ms, peer %s)", self.rpc, code.name,
                        fields["details"], fields["duration_ms"], fields["peer"], extra=fields)
        else:
            log.debug("rpc %s %s %.1f ms peer %s", self.rpc, code.name, fields["duration_ms"],
                      fields["peer"], extra=fields)


def _status_of(context, exc: BaseException | None) -> grpc.StatusCode:
    code = _context_code(context)
    if code is not None:
        return code
    if exc is not None:
        if isinstance(exc, GeneratorExit):  # the stream was closed before its end
            return _cancel_code(context)
        return grpc.StatusCode.UNKNOWN
    if not _active(context):  # returned after the client cancelled or the deadline passed
        return _cancel_code(context)
    return grpc.StatusCode.OK


def _cancel_code(context) -> grpc.StatusCode:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _context_code(context) -> grpc.StatusCode | None:
    try:
        code = context.code()
    except (AttributeError, NotImplementedError):
        return None
    if code is None:
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    for status in grpc.StatusCode:  # set_code() with a raw integer
        if status.value[0] == code:
            return status
    return grpc.StatusCode.UNKNOWN


def _details(context) -> str:
    try:
        details = context.details()
    except (AttributeError, NotImplementedError):
        return ""
    if isinstance(details, bytes):
        details = details.decode("utf-8", "replace")
    return details or ""


def _peer(context) -> str:
    try:
        return context.peer()
    except Exception:  # noqa: BLE001 - a peer we cannot name is logged as unknown
        return "unknown"


def _active(context) -> bool:
    try:
        return context.is_active()
    except Exception:  # noqa: BLE001
        return True


def _observe_unary(rpc: str, kind: str, behavior: Callable) -> Callable:
    def wrapper(request, context):
        call = _Call(rpc, kind, context)
        try:
            response = behavior(request, context)
        except BaseException as exc:
            call.finish(exc)
            raise
        call.finish(None)
        return response

    return wrapper


def _observe_stream(rpc: str, kind: str, behavior: Callable) -> Callable:
    def wrapper(request, context):
        call = _Call(rpc, kind, context)
        try:
            yield from behavior(request, context)
        except BaseException as exc:
            call.finish(exc)
            raise
        finally:
            call.finish(None)  # no-op after an exception

    return wrapper


class RpcObserver(grpc.ServerInterceptor):
    """Metrics and the request log for every RPC (put it first in the interceptor list)."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        rpc = handler_call_details.method
        options = {"request_deserializer": handler.request_deserializer,
                   "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _observe_unary(rpc, "unary", handler.unary_unary), **options)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _observe_unary(rpc, "client_stream", handler.stream_unary), **options)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _observe_stream(rpc, "server_stream", handler.unary_stream), **options)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _observe_stream(rpc, "bidi_stream", handler.stream_stream), **options)
        return handler
