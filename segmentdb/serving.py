"""What every segmentdb process needs to serve gRPC: one error-mapping interceptor (behind
the RPC observer: metrics and the request log), message-size limits and keepalive, health
(and reflection on the gateway), a bound port reported back, and a clean SIGTERM/SIGINT
shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import traceback
from concurrent import futures
from typing import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from segmentdb import errors, internal_auth, tls as tls_module
from segmentdb.rpc_observer import RpcObserver
# Re-exported: the processes' start-up helpers live where the supervisor can import them
# without grpc.
from segmentdb.startup import configure_logging, write_port_file  # noqa: F401

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024


# Keepalive, the same on every server and channel of ours (docs/internals.md, "Keepalive"):
# each side pings a connection idle for 30 s and drops it if the ping is not answered
# within 10 s, so a peer that vanished (node lost, NAT or load balancer dropping idle
# flows) is noticed in ~40 s instead of at the next call's TCP timeout. Servers accept
# pings down to every 10 s, so our own channels' 30 s pings never count as abuse
# (gRPC's default minimum is 5 minutes, past which a server sends GOAWAY).
KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


def message_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Options every server and channel of ours shares: size limits and keepalive."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        *KEEPALIVE_OPTIONS,
        # HTTP/2 flow control: a 10%-filter query sends 80 KB of labels twice, and at the
        # default 64 KB stream window each message waited for a WINDOW_UPDATE (extra wakeups
        # on both ends). A larger window and frames: 10% filter at 100k, 3 interleaved A/B
        # runs, CPU per query summed over the processes 9.36/8.34/9.26 -> 9.12/8.08/5.79 ms.
        ("grpc.http2.lookahead_bytes", 8 << 20),
        ("grpc.http2.max_frame_size", 4 << 20),
    ]


def _abort_for(exc: Exception, context, behavior: Callable) -> None:
    """Abort the call with the status `exc` stands for; returns only when `exc` must propagate
    unchanged (grpc's own abort, or an RpcError without a code)."""
    if isinstance(exc, errors.SegmentDBError):
        context.abort_with_status(errors.to_status(exc))
    if isinstance(exc, grpc.RpcError):
        # A downstream worker's error passes through with its class and code.
        if hasattr(exc, "code") and exc.code() is not None:
            context.abort_with_status(errors.to_status(errors.from_rpc_error(exc)))
        return
    if _is_abort(exc):
        return
    # Anything else is INTERNAL, logged with its traceback.
    log.error("internal error in %s:\n%s", behavior.__name__, traceback.format_exc())
    context.abort_with_status(
        errors.to_status(errors.InternalError(f"internal error: {type(exc).__name__}: {exc}"))
    )


class Undecodable:
    """What a request that protobuf could not parse is handed to the handler as.

    gRPC answers a deserializer's failure with a bare INTERNAL ("Exception deserializing
    request!"); a request nested deeper than protobuf's recursion limit (a `where` tree of
    ~50 levels) is the client's fault, so it becomes INVALID_ARGUMENT instead.
    """

    def __init__(self, reason: str):
        self.reason = reason


def _tolerant(deserializer: Callable | None) -> Callable | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes):
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 - reported to the client as INVALID_ARGUMENT
            return Undecodable(str(exc) or type(exc).__name__)

    return deserialize


def _refuse_undecodable(request) -> None:
    if isinstance(request, Undecodable):
        raise errors.InvalidArgumentError(
            f"request: the message could not be decoded ({request.reason}); messages must be "
            "valid protobuf and nested at most 100 levels deep (where filters: at most 8 "
            "levels of $and/$or)")


def _wrap_unary(behavior: Callable) -> Callable:
    def wrapper(request, context):
        try:
            _refuse_undecodable(request)
            return behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status by _abort_for
            _abort_for(exc, context, behavior)
            raise

    return wrapper


def _wrap_stream(behavior: Callable) -> Callable:
    def wrapper(request, context):
        try:
            _refuse_undecodable(request)
            yield from behavior(request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status by _abort_for
            _abort_for(exc, context, behavior)
            raise

    return wrapper


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises a bare Exception subclass internal to grpc; let it through.
    return type(exc).__module__.startswith("grpc")


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps SegmentDBError (and downstream RpcErrors) to statuses; nothing leaks as UNKNOWN."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            # Bidirectional streams (TransferService.ImportRecords): `request` is the iterator
            # of the client's messages; errors map the same way.
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class Served:
    """A started server, its bound port and its health servicer."""

    def __init__(self, server: grpc.Server, port: int, health_servicer: health.HealthServicer,
                 service_names: Iterable[str]):
        self.server = server
        self.port = port
        self.health = health_servicer
        self.service_names = list(service_names)

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ["", *self.service_names]:
            self.health.set(name, status)

    def shutting_down(self) -> None:
        """NOT_SERVING for good: a late set_serving(True) (a start-up thread) is ignored."""
        self.set_serving(False)
        self.health.enter_graceful_shutdown()


def build_server(
    register: Callable[[grpc.Server], Iterable[str]],
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    max_workers: int = 16,
    reflection: bool = False,
    interceptors: Iterable[grpc.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> Served:
    """Create, register and start a server; returns it NOT_SERVING until set_serving(True).

    `register(server)` adds the servicers and returns their full service names.
    `interceptors` run inside the ErrorInterceptor (so what they raise maps to a status);
    `credentials` (grpc.ssl_server_credentials) make the port TLS-only.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        # RpcObserver first: it sees the status the client gets (after the error mapping),
        # including the callers' own interceptors' refusals (auth).
        interceptors=[RpcObserver(), ErrorInterceptor(), *interceptors],
        options=message_options(max_message_bytes) + [("grpc.so_reuseport", 0)],
    )
    names = list(register(server))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection:
        from grpc_reflection.v1alpha import reflection as grpc_reflection

        grpc_reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, grpc_reflection.SERVICE_NAME], server
        )
    address = f"{host}:{port}" if not host.startswith("unix:") else host
    if credentials is not None:
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    if bound == 0 and not host.startswith("unix:"):
        raise OSError(f"could not bind {address}: port in use or host not available")
    server.start()
    served = Served(server, bound, health_servicer, names)
    served.set_serving(False)
    return served


def wait_for_signal(served: Served, on_stop: Callable[[], None], grace: float = 5.0,
                    on_signal: Callable[[], None] | None = None) -> None:
    """Block until SIGTERM/SIGINT, then: NOT_SERVING, `on_signal()` (e.g. the gateway's HTTP
    server starts draining, alongside gRPC), drain, stop, `on_stop()`."""
    stop = threading.Event()

    def handle(signum, _frame):
        log.info("signal %s: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    while not stop.wait(0.5):
        pass
    # NOT_SERVING first (probes and load balancers stop sending), then stop accepting new
    # RPCs and give in-flight ones `grace` seconds to finish, then persist (on_stop).
    served.shutting_down()
    if on_signal is not None:
        on_signal()
    served.server.stop(grace).wait()
    on_stop()


# Internal channels reconnect quickly. gRPC's default back-off starts at 1 s (growing to
# 120 s): `segmentdb serve` starts every process at once, and a vector worker or gateway
# whose first call reached the metadata worker a moment before it listened waited out
# that second — the first answer after a restart took 0.86-1.55 s depending on who won.
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


def channel(address: str, max_message_bytes: int, internal_token: str | None = None,
            tls: "tls_module.InternalClientTls | None" = None) -> grpc.Channel:
    """A channel to another segmentdb process with our size limits (TLS when `tls` is
    given, else plaintext), sending the internal token (segmentdb.internal_auth) on every
    call when one is given."""
    raw = tls_module.internal_channel(
        address, message_options(max_message_bytes) + RECONNECT_OPTIONS, tls)
    return internal_auth.with_token(raw, internal_token)


# grpc reports "no deadline" as a time_remaining() of ~292 years; passed on as a timeout it
# overflows and the downstream call fails at once with DEADLINE_EXCEEDED.
_NO_DEADLINE_SECONDS = 10 * 365 * 24 * 3600


def remaining_timeout(context: grpc.ServicerContext | None) -> float | None:
    """The caller's remaining deadline as a `timeout=` for downstream calls; None if unset."""
    if context is None:
        return None
    remaining = context.time_remaining()
    if remaining is None or remaining > _NO_DEADLINE_SECONDS:
        return None
    return max(remaining, 0.0)


def downstream_timeout(context: grpc.ServicerContext | None, before: str) -> float | None:
    """remaining_timeout, refusing to start downstream work once the deadline has passed.

    `before` completes "the request's deadline expired before ..." in the error message.
    """
    remaining = remaining_timeout(context)
    if remaining is not None and remaining <= 0:
        raise errors.DeadlineExceededError(
            f"the request's deadline expired before {before}; retry with a longer timeout")
    return remaining
