"""A background thread that unloads segments idle longer than the cache's TTL."""

from __future__ import annotations

import logging
import threading

from vector_worker.segment_cache import SegmentCache

log = logging.getLogger(__name__)

# Check at least this often (a short TTL is checked more often: every TTL / 4).
MAX_INTERVAL = 30.0
MIN_INTERVAL = 0.05


class IdleReaper:
    """`start()` once; `stop()` on shutdown (waits for the thread). No-op when TTL is 0."""

    def __init__(self, cache: SegmentCache):
        self._cache = cache
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.interval = min(MAX_INTERVAL, max(MIN_INTERVAL, cache.idle_ttl / 4))

    def start(self) -> None:
        if self._cache.idle_ttl <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="idle-reaper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self._cache.evict_idle()
            except Exception:  # one failed eviction must not end idle eviction for good
                log.exception("idle eviction failed; retrying in %.1fs", self.interval)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
