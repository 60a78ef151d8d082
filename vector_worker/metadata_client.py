"""The vector worker's calls to the metadata worker: ReadLog (catch-up), CountRecords and
ScanVectors (rebuild) and ReportPersisted (after a save, so the log can be purged). Errors come
back as segmentdb.errors classes; an unreachable metadata worker is an UnavailableError naming
its address. A log read that starts before the collection's purged entries raises LogPurged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import grpc
import numpy as np

from segmentdb import errors, serving, vectors
from segmentdb.internal.v1 import metadata_service_pb2, metadata_service_pb2_grpc
from segmentdb.tls import InternalClientTls
from segmentdb.v1 import record_service_pb2

# Vector bytes per message we ask for. Small messages keep a rebuild's transient memory low:
# gRPC and protobuf buffers of a received message linger in the heap, and measured on a
# 20,000 x 384 rebuild, 15 MB pages (10,000 rows) raised the worker's peak RSS by ~110 MB
# over its loaded segments, 1.5 MB pages by ~15 MB, with no slower rebuild.
PAGE_BYTES = 2 * 1024 * 1024
# Bounds on rows per page (and the page when the dimension is not known yet).
MAX_PAGE_ROWS = 10_000
MIN_PAGE_ROWS = 64


def page_rows(dimension: int) -> int:
    """Rows per ReadLog/ScanVectors message for vectors of `dimension` float32s."""
    if dimension <= 0:
        return MAX_PAGE_ROWS
    return max(MIN_PAGE_ROWS, min(MAX_PAGE_ROWS, PAGE_BYTES // (4 * dimension)))


class LogPurged(Exception):
    """The log entries after `after_sequence` were purged through `purged_through`: a segment
    that applied only up to `after_sequence` has missed entries and must be rebuilt."""

    def __init__(self, collection_id: str, after_sequence: int, purged_through: int):
        super().__init__(
            f"collection {collection_id}: the log was read from sequence {after_sequence} but "
            f"is purged through {purged_through}")
        self.collection_id = collection_id
        self.after_sequence = after_sequence
        self.purged_through = purged_through


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

    def __init__(self, address: str, max_message_bytes: int = serving.DEFAULT_MAX_MESSAGE_BYTES,
                 internal_token: str | None = None, tls: InternalClientTls | None = None):
        self.address = address
        self._channel = serving.channel(address, max_message_bytes,
                                        internal_token=internal_token, tls=tls)
        self._stub = metadata_service_pb2_grpc.MetadataServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _error(self, err: grpc.RpcError, what: str) -> errors.SegmentDBError:
        if err.code() == grpc.StatusCode.UNAVAILABLE:
            return errors.UnavailableError(
                f"metadata worker at {self.address} is unreachable during {what} "
                f"({err.details()}); check that it is running and that --metadata points at it")
        return errors.from_rpc_error(err)

    def read_log(self, collection_id: str, after_sequence: int, dimension: int = 0,
                 timeout: float | None = None) -> Iterator[LogPage]:
        """Log pages after `after_sequence`, in order, until the log's end.

        Raises LogPurged when entries after the position asked from were purged."""
        after = after_sequence
        while True:
            request = metadata_service_pb2.ReadLogRequest(
                collection_id=collection_id, after_sequence=after, limit=page_rows(dimension))
            try:
                response = self._stub.ReadLog(request, timeout=timeout)
            except grpc.RpcError as err:
                raise self._error(err, f"ReadLog({collection_id}, after {after})") from None
            if response.purged_through > after:
                raise LogPurged(collection_id, after, response.purged_through)
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

    def scan_vectors(self, collection_id: str, dimension: int = 0,
                     timeout: float | None = None) -> Iterator[ScanPage]:
        """Every live vector of a collection at one snapshot, page by page."""
        request = metadata_service_pb2.ScanVectorsRequest(
            collection_id=collection_id, page_size=page_rows(dimension))
        try:
            for response in self._stub.ScanVectors(request, timeout=timeout):
                yield ScanPage(
                    labels=np.asarray(response.labels, dtype=np.int64),
                    vectors=vectors.decode(response.vectors, "ScanVectorsResponse.vectors"),
                    snapshot_sequence=response.snapshot_sequence,
                )
        except grpc.RpcError as err:
            raise self._error(err, f"ScanVectors({collection_id})") from None

    def count_records(self, collection_id: str, timeout: float | None = None) -> int:
        """The collection's record count now (sizes a rebuild's index before its scan)."""
        request = record_service_pb2.CountRecordsRequest(collection_id=collection_id)
        try:
            return self._stub.CountRecords(request, timeout=timeout).count
        except grpc.RpcError as err:
            raise self._error(err, f"CountRecords({collection_id})") from None

    def report_persisted(self, segment_id: str, collection_id: str, applied_sequence: int,
                         timeout: float | None = None) -> int | None:
        """Tell the metadata worker a segment is saved through applied_sequence; returns the
        collection's purged_through, or None when the metadata worker does not implement the
        call (an older one: it then keeps its whole log). Other failures raise."""
        request = metadata_service_pb2.ReportPersistedRequest(
            segment_id=segment_id, collection_id=collection_id,
            applied_sequence=applied_sequence)
        try:
            return self._stub.ReportPersisted(request, timeout=timeout).purged_through
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise self._error(err, f"ReportPersisted({segment_id})") from None
