"""Channels and stubs to the workers behind the gateway.

One channel to the metadata worker and one per vector worker, all with the configured
message-size limits. Calls carry the caller's remaining deadline (`timeout_from`).

Vector calls fail over (`call_vector`): workers are tried in rendezvous order, skipping those
marked down (gateway.worker_health). A worker is marked down and the call moves on to the
next one when
- the call fails at the transport (UNAVAILABLE that the worker did not itself answer:
  killed, restarting, unreachable), or
- the worker stops answering health checks while the call is pending (hung, SIGSTOPped;
  gateway.hang_watch ends such calls by replacing the worker's channel).
The pending call is never cut short by a fixed per-attempt timeout: a cold load or rebuild
of a large segment may take many seconds, and the worker keeps answering health checks from
another thread meanwhile. Calls are blocking, not futures (hang_watch says why). The next worker loads (or rebuilds) the segment from the shared
folder / SQLite, so a dead worker costs latency, not data; when the worker answers SERVING
again the background prober marks it up and its segments go back to it.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, TypeVar

import grpc
from grpc_status import rpc_status

from gateway.routing import rank_workers
from gateway.segment_specs import SegmentSpecs
from gateway.write_hints import WriteHints
from gateway.hang_watch import HangWatch, WorkerChannel
from gateway.worker_health import WorkerHealth
from segmentdb import errors, serving
from segmentdb.internal.v1 import metadata_service_pb2_grpc, vector_service_pb2
from segmentdb.tls import InternalClientTls, internal_channel

log = logging.getLogger(__name__)

T = TypeVar("T")

# DropSegment after a delete is housekeeping; never let it hang a delete that already succeeded.
DROP_SEGMENT_TIMEOUT_SECONDS = 10.0
# A pending vector call gets its first liveness check after this long, then one per period.
LIVENESS_PERIOD_SECONDS = 1.0
# Consecutive unanswered health checks after which a worker with a pending call is hung:
# with PROBE_TIMEOUT_SECONDS = 1 a hung worker is left after about 3-4 s.
FAILED_CHECKS_BEFORE_HUNG = 2


def timeout_from(context: grpc.ServicerContext | None) -> float | None:
    """The caller's remaining deadline in seconds (None if it set none) for downstream calls."""
    return serving.downstream_timeout(context, "the gateway could call a worker")


class WorkerClients:
    """Stubs for the metadata worker and the vector workers, owned by one gateway."""

    def __init__(self, metadata_address: str, vector_worker_addresses: tuple[str, ...],
                 max_message_bytes: int, internal_token: str | None = None,
                 tls: InternalClientTls | None = None,
                 vector_worker_names: Mapping[str, str] | None = None):
        self.vector_worker_addresses = tuple(vector_worker_addresses)
        self._names = dict(vector_worker_names or {})  # routing identity (gateway.routing)
        # Every internal call carries the shared internal token (health checks need none).
        # With `tls` every channel, health checks included, is TLS (segmentdb.tls).
        self._metadata_channel = serving.channel(metadata_address, max_message_bytes,
                                                 internal_token=internal_token, tls=tls)
        self.metadata = metadata_service_pb2_grpc.MetadataServiceStub(self._metadata_channel)
        # Reconnect quickly to a restarted worker (serving.RECONNECT_OPTIONS).
        options = serving.message_options(max_message_bytes) + serving.RECONNECT_OPTIONS
        self._vector_channels = {address: WorkerChannel(address, options, internal_token, tls)
                                 for address in self.vector_worker_addresses}
        # Health checks get channels of their own: a hung worker's call channel is replaced
        # (hang_watch), these stay. gRPC shares the connection underneath.
        self._health_channels = {address: internal_channel(address, options, tls)
                                 for address in self.vector_worker_addresses}
        self.health = WorkerHealth(self._health_channels)
        self._hang_watch = HangWatch(self._vector_channels, self.health.alive,
                                     self.health.mark_down, period=LIVENESS_PERIOD_SECONDS,
                                     failed_allowed=FAILED_CHECKS_BEFORE_HUNG)
        # What this gateway last learned of each collection's segment (two-hop queries).
        self.specs = SegmentSpecs()
        self.write_hints = WriteHints(self)

    def vector(self, address: str):
        """The worker's VectorServiceStub, for calls that need no failover."""
        return self._vector_channels[address].stub

    def route(self, segment_id: str) -> list[str]:
        """Workers in the order they should serve `segment_id`: rendezvous, up ones first."""
        return self.health.order(rank_workers(segment_id, self.vector_worker_addresses,
                                              self._names))

    def call_vector(self, segment_id: str, call: Callable[..., T]) -> tuple[str, T]:
        """Run `call(stub)` (a blocking call) on the segment's worker.

        Returns (worker address, response). Fails over as the module docstring says; any
        other error propagates unchanged (the interceptor keeps its class and code).
        """
        tried: list[str] = []
        last_error = "no workers configured"
        for address in self.route(segment_id):
            with self._vector_channels[address].call() as pending:
                try:
                    return address, call(pending.stub)
                except grpc.RpcError as err:
                    if pending.hung():  # the hang watch has marked the worker down
                        reason = "hung: it stopped answering health checks during the call"
                    elif err.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    else:
                        reason = f"UNAVAILABLE: {err.details()}"
                        if not _answered_by_worker(err):
                            self.health.mark_down(address, reason)
            log.warning("vector worker %s failed for segment %s (%s); trying the next worker",
                        address, segment_id, reason)
            tried.append(address)
            last_error = reason
        raise errors.UnavailableError(
            f"no vector worker could serve segment {segment_id} (tried {', '.join(tried)}; "
            f"last error: {last_error}); check that the vector workers are running"
        )

    def search(self, request: vector_service_pb2.SearchRequest,
               context: grpc.ServicerContext | None) -> vector_service_pb2.SearchResponse:
        _address, response = self.call_vector(
            request.segment.segment_id,
            lambda stub: stub.Search(request, timeout=timeout_from(context)),
        )
        return response

    def drop_segments_everywhere(self, segment_ids: list[str]) -> None:
        """Ask every vector worker to drop these segments; failures are logged, not raised.

        Every worker, not only the preferred one: after a failover another worker may hold
        a copy. A folder left behind is only a stale cache (the segment is gone from SQLite).
        """
        for segment_id in segment_ids:
            request = vector_service_pb2.DropSegmentRequest(segment_id=segment_id)
            for address, worker in self._vector_channels.items():
                try:
                    worker.stub.DropSegment(request, timeout=DROP_SEGMENT_TIMEOUT_SECONDS)
                except grpc.RpcError as err:
                    log.warning("DropSegment %s on vector worker %s failed (%s: %s); its "
                                "folder stays until removed by hand or reindex",
                                segment_id, address, err.code(), err.details())

    # The gateway's embedding pool (gateway.embedding_pool), set by gateway.server: the other
    # processes the gateway talks to, closed (its model processes stopped) with the channels.
    embedding_pool = None

    def close(self) -> None:
        if self.embedding_pool is not None:
            self.embedding_pool.close()
        self._hang_watch.close()
        self.health.close()
        for channel in [*self._vector_channels.values(), *self._health_channels.values()]:
            channel.close()
        self._metadata_channel.close()


def _answered_by_worker(err: grpc.RpcError) -> bool:
    """True when the worker itself raised UNAVAILABLE (its status carries our ErrorInfo).

    Such a worker is up (e.g. it cannot reach the metadata worker): the call still moves on,
    but the worker is not marked down. A transport failure carries no details.
    """
    try:
        return rpc_status.from_call(err) is not None
    except Exception:  # noqa: BLE001 - a malformed trailer is not an answer
        return False
