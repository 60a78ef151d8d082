"""VectorService: validates, then delegates to the segment cache and segments."""

from __future__ import annotations

import logging

from segmentdb import errors, labels, maintenance, serving, vectors
from segmentdb.internal.v1 import vector_service_pb2, vector_service_pb2_grpc
from vector_worker import cache_stats, convert, segment_compaction
from vector_worker.segment_cache import SegmentCache
from vector_worker.segment_warmer import SegmentWarmer

log = logging.getLogger(__name__)


class VectorServicer(vector_service_pb2_grpc.VectorServiceServicer):
    def __init__(self, cache: SegmentCache, warmer: SegmentWarmer):
        self.cache = cache
        self.warmer = warmer

    def Search(self, request: vector_service_pb2.SearchRequest, context) -> vector_service_pb2.SearchResponse:
        if request.k < 1:
            raise errors.InvalidArgumentError(
                f"k: must be >= 1, got {request.k}; ask for at least one neighbour")
        params = convert.params_from_spec(request.segment)
        queries = vectors.decode_checked(request.queries, None, "queries")
        count = queries.shape[0]
        if params.dimension == 0:
            # The collection had never held a vector when its spec was read: nothing to find
            # as of min_sequence (a caller that needs a later position searches again).
            return vector_service_pb2.SearchResponse(
                results=[vector_service_pb2.Neighbors() for _ in range(count)],
                applied_sequence=request.min_sequence)
        if count and queries.shape[1] != params.dimension:
            raise errors.InvalidDimensionException(
                f"queries: dimension {queries.shape[1]} does not match the collection's "
                f"dimension {params.dimension}; send {params.dimension}-dimensional query vectors")
        allowed = labels.decode(request.allowed, "allowed") if request.filtered else None
        timeout = _timeout(context, "search")
        segment = self.cache.get(params, request.min_sequence, timeout=timeout)
        with segment.lock:  # the position this search saw, not one a later write moved to
            results = segment.search(queries, request.k, allowed)
            applied_sequence = segment.applied_sequence
        self.cache.checkpoint_if_due(segment)
        return vector_service_pb2.SearchResponse(
            results=[convert.neighbors(found, distances) for found, distances in results],
            applied_sequence=applied_sequence)

    def DropSegment(self, request: vector_service_pb2.DropSegmentRequest, context) -> vector_service_pb2.DropSegmentResponse:
        convert.check_segment_id(request.segment_id, "segment_id")
        if self.cache.drop(request.segment_id):
            log.info("segment %s dropped", request.segment_id)
        return vector_service_pb2.DropSegmentResponse()

    def GetWorkerStats(self, request: vector_service_pb2.GetWorkerStatsRequest, context) -> vector_service_pb2.GetWorkerStatsResponse:
        return vector_service_pb2.GetWorkerStatsResponse(stats=cache_stats.worker_stats(self.cache))

    def PinSegment(self, request: vector_service_pb2.PinSegmentRequest, context) -> vector_service_pb2.PinSegmentResponse:
        params = convert.params_from_spec(request.segment)
        self.cache.pin(params, request.min_sequence, timeout=_timeout(context, "pin"))
        log.info("segment %s pinned", params.segment_id)
        return vector_service_pb2.PinSegmentResponse()

    def ReleaseSegment(self, request: vector_service_pb2.ReleaseSegmentRequest, context) -> vector_service_pb2.ReleaseSegmentResponse:
        convert.check_segment_id(request.segment_id, "segment_id")
        if self.cache.release(request.segment_id):
            log.info("segment %s released", request.segment_id)
        return vector_service_pb2.ReleaseSegmentResponse()

    def WarmSegment(self, request: vector_service_pb2.WarmSegmentRequest, context) -> vector_service_pb2.WarmSegmentResponse:
        params = convert.params_from_spec(request.segment)
        if params.dimension > 0:  # nothing to index before the first vector
            self.warmer.submit(params, request.min_sequence)
        return vector_service_pb2.WarmSegmentResponse()

    def RebuildSegment(self, request: vector_service_pb2.RebuildSegmentRequest, context) -> vector_service_pb2.RebuildSegmentResponse:
        params = convert.params_from_spec(request.segment)
        if params.dimension == 0:
            # No vector was ever written: there is no index to build, only a stale folder.
            self.cache.drop(params.segment_id)
            return vector_service_pb2.RebuildSegmentResponse(live_count=0, seconds=0.0)
        segment, seconds = self.cache.rebuild(params, timeout=_timeout(context, "rebuild"))
        log.info("segment %s rebuilt on request: %d vectors in %.2fs",
                 params.segment_id, segment.live_count, seconds)
        return vector_service_pb2.RebuildSegmentResponse(live_count=segment.live_count,
                                                         seconds=seconds)

    def CompactSegment(self, request: vector_service_pb2.CompactSegmentRequest, context) -> vector_service_pb2.CompactSegmentResponse:
        params = convert.params_from_spec(request.segment)
        fraction = maintenance.check_min_deleted_fraction(request.min_deleted_fraction)
        if params.dimension == 0:
            return vector_service_pb2.CompactSegmentResponse()  # no vector yet, no index
        done = segment_compaction.compact(self.cache, params, fraction,
                                          timeout=_timeout(context, "compaction"))
        return vector_service_pb2.CompactSegmentResponse(
            live_count=done.live_count, deleted_count=done.deleted_count, rebuilt=done.rebuilt,
            bytes_before=done.bytes_before, bytes_after=done.bytes_after, seconds=done.seconds)


def _timeout(context, what: str) -> float | None:
    """The caller's remaining deadline for downstream calls (None without one)."""
    return serving.downstream_timeout(context, f"the {what} started")
