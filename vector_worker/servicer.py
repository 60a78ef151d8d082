"""VectorService: validates, then delegates to the segment cache, log replay and segments."""

from __future__ import annotations

import logging

from segmentdb import errors, serving, vectors
from segmentdb.internal.v1 import vector_service_pb2, vector_service_pb2_grpc
from vector_worker import convert, log_replay
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment_cache import SegmentCache

log = logging.getLogger(__name__)


class VectorServicer(vector_service_pb2_grpc.VectorServiceServicer):
    def __init__(self, cache: SegmentCache, client: MetadataClient):
        self.cache = cache
        self.client = client

    def Search(self, request: vector_service_pb2.SearchRequest, context) -> vector_service_pb2.SearchResponse:
        if request.k < 1:
            raise errors.InvalidArgumentError(
                f"k: must be >= 1, got {request.k}; ask for at least one neighbour")
        params = convert.params_from_spec(request.segment)
        queries = vectors.decode_checked(request.queries, None, "queries")
        count = queries.shape[0]
        if params.dimension == 0:
            # The collection has never held a vector: nothing to find.
            return vector_service_pb2.SearchResponse(
                results=[vector_service_pb2.Neighbors() for _ in range(count)])
        if count and queries.shape[1] != params.dimension:
            raise errors.InvalidDimensionException(
                f"queries: dimension {queries.shape[1]} does not match the collection's "
                f"dimension {params.dimension}; send {params.dimension}-dimensional query vectors")
        # Without a client deadline grpc reports ~9e18 s remaining, which as a timeout= fails
        # at once: remaining_timeout turns that into None.
        timeout = serving.remaining_timeout(context)
        if timeout is not None and timeout <= 0:
            raise errors.DeadlineExceededError(
                "the request's deadline expired before the search started; retry with a longer timeout")
        segment = self.cache.get(params, timeout=timeout)
        log_replay.catch_up(segment, self.client, request.min_sequence, timeout=timeout)
        allowed = request.allowed_labels if request.filtered else None
        results = segment.search(queries, request.k, allowed)
        if segment.dirty >= segment.params.sync_threshold:
            self.cache.persist(segment)
        return vector_service_pb2.SearchResponse(
            results=[convert.neighbors(labels, distances) for labels, distances in results])

    def DropSegment(self, request: vector_service_pb2.DropSegmentRequest, context) -> vector_service_pb2.DropSegmentResponse:
        convert.check_segment_id(request.segment_id, "segment_id")
        if self.cache.drop(request.segment_id):
            log.info("segment %s dropped", request.segment_id)
        return vector_service_pb2.DropSegmentResponse()
