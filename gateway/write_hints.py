"""After acknowledged writes, hint the collection's vector worker to start indexing.

The metadata worker acknowledges a write at SQLite commit; the vector segment catches up
later. A segment nobody has queried yet is not loaded, so without a hint the first query
after a bulk ingest pays for indexing everything (24 s after 50,000 x 384 records). A hint
(VectorService.WarmSegment, see vector_worker.segment_warmer) lets indexing overlap the
ingest, on the worker that will serve the queries.

Off the request path: the write's answer is not held for it. The hint needs the segment
spec, which write answers don't carry, so it is a chain of two non-blocking calls
(PrepareQuery, then WarmSegment) run from gRPC's callback thread. At most one hint per
collection per HINT_INTERVAL: a stream of small writes costs a hint a second, not one each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import grpc

from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2

log = logging.getLogger(__name__)

HINT_INTERVAL_SECONDS = 1.0
HINT_TIMEOUT_SECONDS = 10.0
# Remembered collections (least recently hinted dropped first).
MAX_TRACKED = 10_000


class WriteHints:
    def __init__(self, workers):
        self._workers = workers
        self._last_hint: "OrderedDict[str, float]" = OrderedDict()
        self._lock = threading.Lock()

    def wrote(self, collection_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last_hint.get(collection_id)
            if last is not None and now - last < HINT_INTERVAL_SECONDS:
                return
            self._last_hint[collection_id] = now
            self._last_hint.move_to_end(collection_id)
            while len(self._last_hint) > MAX_TRACKED:
                self._last_hint.popitem(last=False)
        future = self._workers.metadata.PrepareQuery.future(
            metadata_service_pb2.PrepareQueryRequest(collection_id=collection_id),
            timeout=HINT_TIMEOUT_SECONDS)
        future.add_done_callback(lambda done: self._send(collection_id, done))

    def _send(self, collection_id: str, done: grpc.Future) -> None:
        try:
            prepared = done.result()
        except grpc.RpcError as err:
            log.debug("write hint for %s: PrepareQuery failed (%s)", collection_id, err.code())
            return
        segment = prepared.segment
        if segment.dimension == 0:
            return  # nothing to index yet
        self._workers.specs.learn(collection_id, segment, prepared.log_sequence)
        route = self._workers.route(segment.segment_id)
        if not route:
            return
        call = self._workers.vector(route[0]).WarmSegment.future(
            vector_service_pb2.WarmSegmentRequest(segment=segment,
                                                  min_sequence=prepared.log_sequence),
            timeout=HINT_TIMEOUT_SECONDS)
        call.add_done_callback(lambda finished: _log_failure(segment.segment_id, finished))


def _log_failure(segment_id: str, finished: grpc.Future) -> None:
    error = finished.exception()
    if error is not None:
        log.debug("write hint for segment %s failed: %s", segment_id, error)
