"""Channels and stubs to the workers behind the gateway.

One channel to the metadata worker and one per vector worker, all with the configured
message-size limits. Calls carry the caller's remaining deadline (`timeout_from`). A vector
call that fails with UNAVAILABLE is retried on the next worker in rendezvous order: that
worker loads (or rebuilds) the segment from SQLite, so a dead worker costs latency, not data.
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

import grpc

from gateway.routing import rank_workers
from segmentdb import errors, serving
from segmentdb.internal.v1 import (
    metadata_service_pb2_grpc,
    vector_service_pb2,
    vector_service_pb2_grpc,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# DropSegment after a delete is housekeeping; never let it hang a delete that already succeeded.
DROP_SEGMENT_TIMEOUT_SECONDS = 10.0


def timeout_from(context: grpc.ServicerContext | None) -> float | None:
    """The caller's remaining deadline in seconds (None if it set none) for downstream calls."""
    remaining = serving.remaining_timeout(context)
    if remaining is not None and remaining <= 0:
        raise errors.DeadlineExceededError(
            "the request's deadline expired before the gateway could call a worker; "
            "retry with a longer timeout"
        )
    return remaining


class WorkerClients:
    """Stubs for the metadata worker and the vector workers, owned by one gateway."""

    def __init__(self, metadata_address: str, vector_worker_addresses: tuple[str, ...],
                 max_message_bytes: int):
        self.vector_worker_addresses = tuple(vector_worker_addresses)
        self._metadata_channel = serving.channel(metadata_address, max_message_bytes)
        self.metadata = metadata_service_pb2_grpc.MetadataServiceStub(self._metadata_channel)
        self._vector_channels = {
            address: serving.channel(address, max_message_bytes)
            for address in self.vector_worker_addresses
        }
        self._vector_stubs = {
            address: vector_service_pb2_grpc.VectorServiceStub(channel)
            for address, channel in self._vector_channels.items()
        }

    def vector(self, address: str) -> vector_service_pb2_grpc.VectorServiceStub:
        return self._vector_stubs[address]

    def call_vector(
        self,
        segment_id: str,
        call: Callable[[vector_service_pb2_grpc.VectorServiceStub], T],
    ) -> T:
        """Run `call(stub)` on the segment's worker, falling over on UNAVAILABLE.

        Any other error propagates unchanged (the interceptor keeps its class and code).
        """
        tried: list[str] = []
        last_error: grpc.RpcError | None = None
        for address in rank_workers(segment_id, self.vector_worker_addresses):
            try:
                return call(self._vector_stubs[address])
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                log.warning("vector worker %s unavailable for segment %s: %s",
                            address, segment_id, err.details())
                tried.append(address)
                last_error = err
        detail = last_error.details() if last_error is not None else "no workers configured"
        raise errors.UnavailableError(
            f"no vector worker could serve segment {segment_id} (tried {', '.join(tried)}; "
            f"last error: {detail}); check that the vector workers are running"
        )

    def search(self, request: vector_service_pb2.SearchRequest,
               context: grpc.ServicerContext | None) -> vector_service_pb2.SearchResponse:
        return self.call_vector(
            request.segment.segment_id,
            lambda stub: stub.Search(request, timeout=timeout_from(context)),
        )

    def drop_segments_everywhere(self, segment_ids: list[str]) -> None:
        """Ask every vector worker to drop these segments; failures are logged, not raised.

        Every worker, not only the preferred one: after a failover another worker may hold
        a copy. A folder left behind is only a stale cache (the segment is gone from SQLite).
        """
        for segment_id in segment_ids:
            request = vector_service_pb2.DropSegmentRequest(segment_id=segment_id)
            for address, stub in self._vector_stubs.items():
                try:
                    stub.DropSegment(request, timeout=DROP_SEGMENT_TIMEOUT_SECONDS)
                except grpc.RpcError as err:
                    log.warning("DropSegment %s on vector worker %s failed (%s: %s); its "
                                "folder stays until removed by hand or reindex",
                                segment_id, address, err.code(), err.details())

    def close(self) -> None:
        for channel in self._vector_channels.values():
            channel.close()
        self._metadata_channel.close()
