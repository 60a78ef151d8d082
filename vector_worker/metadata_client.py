"""The vector worker's calls to the metadata worker: ReadLog (catch-up) and ScanVectors
(rebuild). Errors come back as segmentdb.errors classes; an unreachable metadata worker is
an UnavailableError naming its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import grpc
import numpy as np

from segmentdb import errors, serving, vectors
from segmentdb.internal.v1 import metadata_service_pb2, metadata_service_pb2_grpc

# Entries / vectors per message we ask for (0 would mean the metadata worker's default).
LOG_PAGE = 10_000
SCAN_PAGE = 10_000


@dataclass(frozen=True)
class LogPage:
    sequences: list[int]
    operations: list[int]
    labels: list[int]
    vectors: np.ndarray  # one row per UPSERT entry
    read_through: int


@dataclass(frozen=True)
class ScanPage:
    labels: np.ndarray  # int64
    vectors: np.ndarray  # (n, d) float32
    snapshot_sequence: int


class MetadataClient:
    """A channel to the metadata worker and the two calls the vector worker makes."""

    def __init__(self, address: str, max_message_bytes: int = serving.DEFAULT_MAX_MESSAGE_BYTES):
        self.address = address
        self._channel = serving.channel(address, max_message_bytes)
        self._stub = metadata_service_pb2_grpc.MetadataServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _error(self, err: grpc.RpcError, what: str) -> errors.SegmentDBError:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            return errors.UnavailableError(
                f"metadata worker at {self.address} is unreachable during {what} "
                f"({err.details()}); check that it is running and that --metadata points at it")
        return errors.from_rpc_error(err)

    def read_log(self, collection_id: str, after_sequence: int,
                 timeout: float | None = None) -> Iterator[LogPage]:
        """Log pages after `after_sequence`, in order, until the log's end."""
        after = after_sequence
        while True:
            request = metadata_service_pb2.ReadLogRequest(
                collection_id=collection_id, after_sequence=after, limit=LOG_PAGE)
            try:
                response = self._stub.ReadLog(request, timeout=timeout)
            except grpc.RpcError as err:
                raise self._error(err, f"ReadLog({collection_id}, after {after})") from None
            yield LogPage(
                sequences=list(response.sequences),
                operations=list(response.operations),
                labels=list(response.labels),
                vectors=vectors.decode(response.vectors, "ReadLogResponse.vectors"),
                read_through=max(response.read_through, after),
            )
            if not response.more:
                return
            if response.read_through <= after:
                raise errors.InternalError(
                    f"ReadLog({collection_id}) reported more entries but did not advance past "
                    f"sequence {after}")
            after = response.read_through

    def scan_vectors(self, collection_id: str, timeout: float | None = None) -> Iterator[ScanPage]:
        """Every live vector of a collection at one snapshot, page by page."""
        request = metadata_service_pb2.ScanVectorsRequest(
            collection_id=collection_id, page_size=SCAN_PAGE)
        try:
            for response in self._stub.ScanVectors(request, timeout=timeout):
                yield ScanPage(
                    labels=np.asarray(response.labels, dtype=np.int64),
                    vectors=vectors.decode(response.vectors, "ScanVectorsResponse.vectors"),
                    snapshot_sequence=response.snapshot_sequence,
                )
        except grpc.RpcError as err:
            raise self._error(err, f"ScanVectors({collection_id})") from None
