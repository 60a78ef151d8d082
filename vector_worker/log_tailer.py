"""A background thread that keeps the loaded segments caught up with the write-ahead log.

Without it a loaded segment applies the log only when a query (or pin) arrives: a collection
that is written but not queried is never saved, its log is never purged, and the next query
pays the whole catch-up. Every `interval` seconds the tailer catches each loaded segment up
(SegmentCache.tail: one ReadLog round trip when nothing is new) and saves those with
sync_threshold unsaved records; the save reports the checkpoint, so the metadata worker purges.

It never loads or rebuilds a segment that is not loaded, skips segments a search caught up
within the last half interval, and never holds the cache lock while calling the metadata worker
(SegmentCache.tail takes only the segment's catch-up lock, as a search does). Failures
(metadata worker down, a segment dropped meanwhile) are logged at WARNING at most once per
segment per WARN_EVERY seconds and retried on the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from vector_worker.segment_cache import SegmentCache

log = logging.getLogger(__name__)

# Seconds between two WARNINGs about one segment (the failures in between are counted).
WARN_EVERY = 60.0
# Deadline of each metadata call of a tick: a hung metadata worker delays the next tick (and
# shutdown) by at most this much per segment, rather than forever.
CALL_TIMEOUT = 10.0


class LogTailer:
    """`start()` once; `stop()` on shutdown, before the final persist (waits for the thread).
    No-op when the interval is 0."""

    def __init__(self, cache: SegmentCache, interval: float,
                 after_tick: Callable[[], object] | None = None):
        self._cache = cache
        self.interval = interval
        # Run after each tick (the working set records itself there).
        self._after_tick = after_tick
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # segment id -> (monotonic time of its last WARNING, failures since it).
        self._warned: dict[str, tuple[float, int]] = {}

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="log-tailer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a bug in one tick must not end tailing for good
                log.exception("log tailing failed; retrying in %gs", self.interval)

    def tick(self, now: float | None = None) -> int:
        """Catch every loaded segment up with the log (saving those due); returns the log
        entries applied."""
        applied = 0
        segments = self._cache.loaded_segments()
        for segment in segments:
            if self._stopping.is_set():
                break
            started = time.monotonic() if now is None else now
            if started - segment.caught_up_at < self.interval / 2:
                continue  # a search just read the log for it
            try:
                applied += self._cache.tail(segment, timeout=CALL_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - any failure is retried next tick
                self._warn(segment.segment_id, exc, started)
            else:
                self._recovered(segment.segment_id)
        loaded = {segment.segment_id for segment in segments}
        for segment_id in set(self._warned) - loaded:
            del self._warned[segment_id]  # unloaded: a later load starts afresh
        if self._after_tick is not None:
            self._after_tick()
        return applied

    def _warn(self, segment_id: str, exc: Exception, now: float) -> None:
        last, failures = self._warned.get(segment_id, (None, 0))
        if last is not None and now - last < WARN_EVERY:
            self._warned[segment_id] = (last, failures + 1)
            return
        more = f" ({failures} more failure(s) since the last warning)" if failures else ""
        log.warning("segment %s: background catch-up with the log failed: %s: %s%s; retrying "
                    "every %gs (warned at most once a minute); queries still catch up on "
                    "their own", segment_id, type(exc).__name__, exc, more, self.interval)
        self._warned[segment_id] = (now, 0)

    def _recovered(self, segment_id: str) -> None:
        if self._warned.pop(segment_id, None) is not None:
            log.info("segment %s: background catch-up with the log works again", segment_id)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
