"""Write hints (VectorService.WarmSegment) handled off the request path, one at a time.

A gateway sends a hint when a collection is being written, so the segment is loaded and
indexed while the ingest goes on, instead of the first query paying for the whole build (a
50,000 x 384 collection took 24 s to answer its first query before this). The RPC returns at
once; one background thread works through the hints, and a hint for a segment already
queued is merged into it (the highest min_sequence wins), so a burst of writes costs one
catch-up, not one per write. Failures are logged: a hint is never worth an error.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from vector_worker.convert import SegmentParams
from vector_worker.segment_cache import SegmentCache

log = logging.getLogger(__name__)

# A hint's catch-up may read a large log; bound it so shutdown is never held long by one.
WARM_TIMEOUT_SECONDS = 600.0


class SegmentWarmer:
    def __init__(self, cache: SegmentCache):
        self._cache = cache
        self._queued: "OrderedDict[str, tuple[SegmentParams, int, bool]]" = OrderedDict()
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="segment-warmer", daemon=True)
        self._thread.start()

    def submit(self, params: SegmentParams, min_sequence: int, requested: bool = True) -> None:
        """Queue a load; `requested` False for the working set's reload (SegmentCache.warm)."""
        with self._wake:
            if self._closed:
                return
            queued = self._queued.get(params.segment_id)
            if queued is not None:
                min_sequence = max(min_sequence, queued[1])
                requested = requested or queued[2]
            self._queued[params.segment_id] = (params, min_sequence, requested)
            self._wake.notify()

    def pending(self) -> int:
        with self._wake:
            return len(self._queued)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queued and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                _, (params, min_sequence, requested) = self._queued.popitem(last=False)
            try:
                loaded = self._cache.warm(params, min_sequence, timeout=WARM_TIMEOUT_SECONDS,
                                          requested=requested)
                log.debug("segment %s: write hint %s", params.segment_id,
                          "applied" if loaded else "skipped (would not fit the memory budget)")
            except Exception as exc:  # noqa: BLE001 - a hint never fails a caller
                log.info("segment %s: write hint failed (%s: %s); the next query loads it",
                         params.segment_id, type(exc).__name__, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking hints; wait briefly for the one in progress."""
        with self._wake:
            self._closed = True
            self._queued.clear()
            self._wake.notify()
        self._thread.join(timeout)
