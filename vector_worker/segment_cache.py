"""The loaded segments of one vector worker, by segment id, in least-recently-used order.

`get(params)` returns a loaded segment, loading it from its folder or rebuilding it from the
metadata worker on a miss. Each segment id has its own lock, held while it is loaded,
persisted or dropped, so two requests never both rebuild it and a dropped segment's folder is
never written again by a late persist.

Ready for the memory budget / idle TTL / pin (a later issue): each segment's bytes come from
memory.py, `_segments` is kept in LRU order and `last_used` is recorded; nothing is evicted yet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from vector_worker import log_replay, segment_files
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment import Segment

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    hits: int = 0
    loads: int = 0  # loaded from a folder
    rebuilds: int = 0  # built from the metadata worker
    persists: int = 0
    last_used: dict[str, float] = field(default_factory=dict)


class SegmentCache:
    def __init__(self, root: str | Path, client: MetadataClient):
        self.root = Path(root)
        self._client = client
        self._segments: "OrderedDict[str, Segment]" = OrderedDict()
        self._lock = threading.Lock()  # guards _segments, _id_locks, stats
        self._id_locks: dict[str, threading.Lock] = {}
        self.stats = CacheStats()

    def _id_lock(self, segment_id: str) -> threading.Lock:
        with self._lock:
            return self._id_locks.setdefault(segment_id, threading.Lock())

    def _cached(self, params: SegmentParams) -> Segment | None:
        """The loaded segment for params (marked most recently used), or None."""
        with self._lock:
            segment = self._segments.get(params.segment_id)
            if segment is None:
                return None
            if not segment.params.same_structure(params):
                # Immutable parameters differ from what we loaded: never serve a wrong index.
                log.warning("segment %s: loaded with different parameters; reloading",
                            params.segment_id)
                del self._segments[params.segment_id]
                return None
            self._segments.move_to_end(params.segment_id)
            self.stats.hits += 1
            self.stats.last_used[params.segment_id] = time.monotonic()
        segment.update_params(params)
        return segment

    def get(self, params: SegmentParams, timeout: float | None = None) -> Segment:
        """The segment for params: cached, else loaded from its folder, else rebuilt."""
        segment = self._cached(params)
        if segment is not None:
            return segment
        with self._id_lock(params.segment_id):
            segment = self._cached(params)  # loaded by another request while we waited
            if segment is not None:
                return segment
            segment = segment_files.load(self.root, params)
            if segment is not None:
                kind = "loads"
            else:
                segment = log_replay.rebuild(params, self._client, timeout=timeout)
                kind = "rebuilds"
                # A rebuild is the expensive path: save it so a restart doesn't repeat it.
                self._save(segment)
            with self._lock:
                self._segments[params.segment_id] = segment
                setattr(self.stats, kind, getattr(self.stats, kind) + 1)
                self.stats.last_used[params.segment_id] = time.monotonic()
            return segment

    def drop(self, segment_id: str) -> bool:
        """Unload a segment and delete its folder. False when it was neither loaded nor saved."""
        with self._id_lock(segment_id):
            with self._lock:
                was_loaded = self._segments.pop(segment_id, None) is not None
                self.stats.last_used.pop(segment_id, None)
            removed = segment_files.delete(self.root, segment_id)
        return was_loaded or removed

    def persist(self, segment: Segment) -> bool:
        """Save a loaded, dirty segment. False when clean or no longer loaded (dropped)."""
        with self._id_lock(segment.segment_id):
            with self._lock:
                if self._segments.get(segment.segment_id) is not segment:
                    return False
            if segment.dirty == 0:
                return False
            self._save(segment)
            return True

    def _save(self, segment: Segment) -> None:
        segment_files.save(self.root, segment)
        with self._lock:
            self.stats.persists += 1

    def persist_all(self) -> int:
        """Save every dirty loaded segment (shutdown). Returns how many were saved."""
        with self._lock:
            segments = list(self._segments.values())
        saved = 0
        for segment in segments:
            try:
                saved += self.persist(segment)
            except OSError:
                # One failing disk write must not stop the others from being saved; the
                # segment replays the log from its last saved sequence next time.
                log.exception("segment %s: persist failed", segment.segment_id)
        return saved

    def loaded(self) -> list[str]:
        """Loaded segment ids, least recently used first."""
        with self._lock:
            return list(self._segments)

    def loaded_bytes(self) -> int:
        with self._lock:
            segments = list(self._segments.values())
        return sum(segment.memory_bytes() for segment in segments)
