"""The loaded segments of one vector worker, under a memory budget, in least-recently-used order.

`get(params, min_sequence)` returns a loaded segment caught up with the log: from memory (a
hit), else loaded from its folder, else rebuilt from the metadata worker (a miss). Before a
load or rebuild, and after a segment grew, the least recently used unpinned segments are
evicted (saved if dirty, then unloaded) until the loaded bytes plus the newcomer fit the
budget. A segment larger than the whole budget is still served, alone, with a WARNING; pinned
segments are never evicted, even when they alone exceed the budget (logged too).

Bytes are memory.py's account of each segment (capacity, not live count: hnswlib allocates
for its capacity). Each segment id has its own lock, held while it is loaded, saved, evicted
or dropped, so two requests never both build it and a dropped segment's folder is never
written again by a late save. Evictions take victims' locks without waiting (a busy victim is
skipped), so two loads evicting each other's segments cannot deadlock.

Every save is reported to the metadata worker (ReportPersisted) so it can purge the log; a
catch-up that finds its entries purged rebuilds the segment instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from segmentdb import errors
from vector_worker import log_replay, memory, process_memory, segment_files
from vector_worker.cache_stats import CacheCounters
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import LogPurged, MetadataClient
from vector_worker.segment import INITIAL_CAPACITY, Segment

log = logging.getLogger(__name__)

# Rebuild attempts when the log is purged past the scan's snapshot while we read it.
REBUILD_ATTEMPTS = 3
# ReportPersisted is best effort: never hold a save (or shutdown) long for it.
REPORT_TIMEOUT = 5.0
# After a segment's folder lock was found held (another worker stopped mid-save?), periodic
# checkpoints of it wait this long before trying again, so requests don't each wait for the
# lock. Evictions and shutdown still try.
BUSY_RETRY_AFTER = 30.0
# Periodic checkpoints take at most about 1/(1 + SAVE_PACING) of a segment's time: after a
# save that took S seconds, the next sync_threshold checkpoint waits SAVE_PACING * S. A save
# writes the whole index, so during a bulk ingest of a large segment saving every
# sync_threshold records would cost more than the indexing (quadratic in the segment's size).
# Durability does not depend on it (the log is the write-ahead log); only the replay after a
# crash and the log purge wait a little longer. Evictions and shutdown still save at once.
SAVE_PACING = 9.0


@dataclass(frozen=True)
class LoadedSegment:
    """One loaded segment as the stats see it."""

    segment: Segment
    bytes: int
    pinned: bool
    idle_seconds: float


class SegmentCache:
    def __init__(self, root: str | Path, client: MetadataClient, *, memory_budget: int = 0,
                 idle_ttl: float = 0.0):
        self.root = Path(root)
        self.memory_budget = memory_budget  # bytes; 0 = unlimited
        self.idle_ttl = idle_ttl  # seconds; 0 = never
        self._client = client
        self._segments: "OrderedDict[str, Segment]" = OrderedDict()  # LRU first
        self._last_used: dict[str, float] = {}
        # Segments a request (search, write hint, pin...) asked for since this process
        # started: the working set carries only these, and what still waits to be reloaded,
        # into the next start (vector_worker.working_set).
        self._requested: set[str] = set()
        self._pinned: set[str] = set()
        self._oversize_warned: set[str] = set()
        self._lock = threading.Lock()  # guards the fields above and `counters`
        self._id_locks: dict[str, threading.Lock] = {}
        self._report_unimplemented_logged = False
        self._busy_until: dict[str, float] = {}  # segment id -> monotonic time
        self._next_checkpoint: dict[str, float] = {}  # segment id -> monotonic time (pacing)
        self.counters = CacheCounters()

    def _id_lock(self, segment_id: str) -> threading.Lock:
        with self._lock:
            return self._id_locks.setdefault(segment_id, threading.Lock())

    # ----- serving ---------------------------------------------------------------------

    def get(self, params: SegmentParams, min_sequence: int | None = None,
            timeout: float | None = None) -> Segment:
        """The segment for params, loaded and caught up with the log to min_sequence (to the
        log's end when None)."""
        segment = self._cached(params, count=True)
        if segment is None:
            segment = self._load(params, timeout)
        segment, _ = self._catch_up(params, segment, min_sequence, timeout)
        self._fit_budget(keep=segment.segment_id)  # catching up may have grown it
        return segment

    def warm(self, params: SegmentParams, min_sequence: int | None,
             timeout: float | None = None, requested: bool = True) -> bool:
        """A write hint (segment_warmer): load the segment if its saved size (an empty index
        if never saved) fits beside the loaded ones, then apply the log to min_sequence and
        checkpoint as a search would. True if it is loaded. `requested`: False for the
        working set's own reload (not a use; a write hint is one).

        A hint must not push out segments that queries are using, so it does not load what
        would need an eviction; nor is it a use (no hit or miss counted). Once loaded, the
        segment grows like any other (the budget then evicts the least recently used) and
        the log tailer keeps it current."""
        if requested:
            with self._lock:
                self._requested.add(params.segment_id)
        segment = self._cached(params, count=False)
        if segment is None:
            if self.memory_budget > 0:
                needed = self._saved_bytes(params) or memory.segment_bytes(
                    params.dimension, params.max_neighbors, INITIAL_CAPACITY)
                with self._lock:
                    if self._loaded_bytes_locked() + needed > self.memory_budget:
                        return False
            segment = self._load(params, timeout)
        segment, _ = self._catch_up(params, segment, min_sequence, timeout, only_if_loaded=True)
        if segment is None:
            return False
        self._fit_budget(keep=params.segment_id)
        self.checkpoint_if_due(segment)
        return True

    def tail(self, segment: Segment, timeout: float | None = None) -> int:
        """Background catch-up (log_tailer): apply the log to its end to a loaded segment,
        then save it if sync_threshold records are unsaved. Returns the entries applied.

        Not a use: no hit is counted and the LRU order and idle time stay as they were. Never
        loads a segment that is not loaded (one evicted or dropped meanwhile is left alone);
        a purged log takes the same reload/rebuild path as a search."""
        segment, applied = self._catch_up(segment.params, segment, None, timeout,
                                          only_if_loaded=True)
        if segment is None:
            return 0
        if applied:
            self._fit_budget(keep="")  # it may have grown; LRU order picks any victim
        self.checkpoint_if_due(segment)  # persist() skips a segment no longer loaded
        return applied

    def _catch_up(self, params: SegmentParams, segment: Segment, min_sequence: int | None,
                  timeout: float | None, only_if_loaded: bool = False
                  ) -> tuple[Segment | None, int]:
        """Apply the log to `segment` (to min_sequence, or its end when None): (the segment
        now serving, entries applied). A purged log replaces the segment (see
        _replace_after_purge: None with `only_if_loaded` when it is no longer loaded)."""
        try:
            return segment, log_replay.catch_up(segment, self._client, min_sequence,
                                                timeout=timeout)
        except LogPurged as purged:
            return self._replace_after_purge(params, segment, purged, min_sequence, timeout,
                                             only_if_loaded=only_if_loaded), 0

    def _saved_bytes(self, params: SegmentParams) -> int | None:
        """What the segment saved in its folder will take once loaded; None if never saved."""
        capacity = segment_files.saved_capacity(self.root, params)
        if capacity is None:
            return None
        return memory.segment_bytes(params.dimension, params.max_neighbors, capacity)

    def _replace_after_purge(self, params: SegmentParams, stale: Segment, purged: LogPurged,
                             min_sequence: int | None, timeout: float | None,
                             only_if_loaded: bool = False) -> Segment | None:
        """The log lost entries this copy never applied (another worker saved the segment
        further, and the log was purged): never patch over the gap. Reload the folder (that
        worker may have saved it there), else rebuild. With `only_if_loaded` (the background
        tailer), returns None instead when `stale` is no longer the loaded copy."""
        with self._id_lock(params.segment_id):
            with self._lock:
                if self._segments.get(params.segment_id) is stale:
                    self._forget(params.segment_id)
                elif only_if_loaded:
                    return None  # evicted, dropped or already replaced meanwhile
        log.info("segment %s: the log was purged through %d but this copy applied only %d "
                 "(another worker saved it further); reloading it from its folder",
                 params.segment_id, purged.purged_through, purged.after_sequence)
        segment = self._load(params, timeout)
        try:
            log_replay.catch_up(segment, self._client, min_sequence, timeout=timeout)
            return segment
        except LogPurged as again:
            log.info("segment %s: its folder is behind the purged log too (applied %d, purged "
                     "through %d): rebuilding it from the metadata worker",
                     params.segment_id, again.after_sequence, again.purged_through)
        segment, _ = self.rebuild(params, timeout)
        return segment

    def checkpoint_if_due(self, segment: Segment) -> bool:
        """Save the segment when sync_threshold records were applied since its last save
        (paced: see SAVE_PACING)."""
        if segment.dirty < segment.params.sync_threshold:
            return False
        now = time.monotonic()
        with self._lock:
            if now < max(self._busy_until.get(segment.segment_id, 0.0),
                         self._next_checkpoint.get(segment.segment_id, 0.0)):
                return False
        saved = self.persist(segment)
        if saved:
            ended = time.monotonic()
            with self._lock:
                self._next_checkpoint[segment.segment_id] = ended + SAVE_PACING * (ended - now)
        return saved

    def _cached(self, params: SegmentParams, count: bool) -> Segment | None:
        """The loaded segment for params (now most recently used), or None."""
        with self._lock:
            segment = self._segments.get(params.segment_id)
            if segment is not None and not segment.params.same_structure(params):
                # Immutable parameters differ from what we loaded: never serve a wrong index.
                log.warning("segment %s: loaded with different parameters; reloading",
                            params.segment_id)
                self._forget(params.segment_id)
                segment = None
            if count:
                self._requested.add(params.segment_id)
                if segment is None:
                    self.counters.misses += 1
                else:
                    self.counters.hits += 1
            if segment is None:
                return None
            self._segments.move_to_end(params.segment_id)
            self._last_used[params.segment_id] = time.monotonic()
        segment.update_params(params)
        return segment

    def _load(self, params: SegmentParams, timeout: float | None) -> Segment:
        with self._id_lock(params.segment_id):
            segment = self._cached(params, count=False)  # loaded while we waited
            if segment is not None:
                return segment
            started = time.monotonic()
            saved = self._saved_bytes(params)
            if saved is not None:
                self._make_room(params, saved)
            kind = "loads"
            try:
                # None when never saved, or (with a WARNING saying why) when damaged.
                segment = segment_files.load(self.root, params)
                save_rebuild = True
            except segment_files.FolderBusy as why:
                log.warning("segment %s: %s (another worker stopped mid-save?); rebuilding "
                            "it in memory from the metadata worker instead of waiting",
                            params.segment_id, why)
                segment, save_rebuild = None, False
                self._note_busy(params.segment_id)
            if segment is None:
                segment = self._build(params, timeout, save=save_rebuild)
                kind = "rebuilds"
            self._insert(segment, kind, time.monotonic() - started)
        # A load or rebuild leaves freed buffers (file reads, scan pages) in the heap.
        process_memory.release_free_memory()
        return segment

    # ----- rebuilds --------------------------------------------------------------------

    def rebuild(self, params: SegmentParams, timeout: float | None = None,
                stay_unloaded: bool = False) -> tuple[Segment, float]:
        """Discard the segment's in-memory copy and folder, rebuild it from the metadata
        worker and save it. Returns the new segment and the seconds it took.

        It is loaded afterwards - unless it was not loaded before and `stay_unloaded` says
        so (a vacuum compacting a saved segment nobody is using)."""
        with self._id_lock(params.segment_id):
            started = time.monotonic()
            with self._lock:
                was_loaded = params.segment_id in self._segments
                self._forget(params.segment_id, keep_pin=True)
            segment_files.delete(self.root, params.segment_id)
            process_memory.release_free_memory()
            segment = self._build(params, timeout)
            seconds = time.monotonic() - started
            if was_loaded or not stay_unloaded:
                self._insert(segment, "rebuilds", seconds)
            else:
                with self._lock:
                    self.counters.rebuilds += 1
        process_memory.release_free_memory()
        return segment, seconds

    def _build(self, params: SegmentParams, timeout: float | None, save: bool = True) -> Segment:
        """Rebuild from ScanVectors + ReadLog and save (unless `save` is False: the folder
        is locked by another process). Caller holds the id lock."""
        for attempt in range(1, REBUILD_ATTEMPTS + 1):
            count = self._client.count_records(params.collection_id, timeout=timeout)
            capacity = max(INITIAL_CAPACITY, count)
            self._make_room(params, memory.segment_bytes(
                params.dimension, params.max_neighbors, capacity))
            try:
                segment = log_replay.rebuild(params, self._client, capacity, timeout=timeout)
            except LogPurged as purged:
                # The log moved past our snapshot while we scanned: scan again.
                log.info("segment %s: rebuild attempt %d raced a log purge (%s); retrying",
                         params.segment_id, attempt, purged)
                continue
            if save:
                # A rebuild is the expensive path: save it so a restart doesn't repeat it.
                self._save(segment)
            return segment
        raise errors.UnavailableError(
            f"segment {params.segment_id}: the log kept being purged past {REBUILD_ATTEMPTS} "
            "rebuild snapshots; retry the request")

    def _insert(self, segment: Segment, kind: str, seconds: float) -> None:
        with self._lock:
            self._segments[segment.segment_id] = segment
            self._last_used[segment.segment_id] = time.monotonic()
            setattr(self.counters, kind, getattr(self.counters, kind) + 1)
            self.counters.record_load(seconds)

    # ----- the budget ------------------------------------------------------------------

    def _loaded_bytes_locked(self) -> int:
        return sum(segment.memory_bytes() for segment in self._segments.values())

    def _make_room(self, params: SegmentParams, needed: int) -> None:
        """Evict LRU unpinned segments until `needed` more bytes fit the budget."""
        if self.memory_budget <= 0:
            return
        if needed > self.memory_budget:
            log.warning("segment %s needs %d bytes, more than the whole memory budget of %d "
                        "bytes: serving it alone; raise --memory-budget to hold it with others",
                        params.segment_id, needed, self.memory_budget)
            with self._lock:
                self._oversize_warned.add(params.segment_id)
        self._evict_until(lambda loaded: loaded + needed <= self.memory_budget,
                          keep=params.segment_id, why=f"to make room for {params.segment_id}")

    def _fit_budget(self, keep: str) -> None:
        """After `keep` grew: evict others until the loaded bytes fit the budget again."""
        if self.memory_budget <= 0:
            return
        with self._lock:
            segment = self._segments.get(keep)
            if self._loaded_bytes_locked() <= self.memory_budget:
                return
            size = segment.memory_bytes() if segment is not None else 0
            warn = size > self.memory_budget and keep not in self._oversize_warned
            if warn:
                self._oversize_warned.add(keep)
        if warn:
            log.warning("segment %s grew to %d bytes, more than the whole memory budget of %d "
                        "bytes: serving it alone; raise --memory-budget to hold it with others",
                        keep, size, self.memory_budget)
        self._evict_until(lambda loaded: loaded <= self.memory_budget, keep=keep,
                          why=f"after {keep} grew")

    def _evict_until(self, fits, keep: str, why: str) -> None:
        evicted = 0
        while True:
            with self._lock:
                loaded = self._loaded_bytes_locked()
                if fits(loaded):
                    break
                victims = [sid for sid in self._segments
                           if sid != keep and sid not in self._pinned]
                pinned_bytes = sum(self._segments[sid].memory_bytes()
                                   for sid in self._pinned if sid in self._segments)
            if not any(self._evict(victim, why) for victim in victims):
                if not victims and pinned_bytes:
                    log.warning("pinned segments hold %d bytes, which with %s leaves the "
                                "loaded segments over the memory budget of %d bytes: serving "
                                "over budget; release some or raise --memory-budget",
                                pinned_bytes, keep or "the others", self.memory_budget)
                break  # nothing (more) can go: serve over budget
            evicted += 1
        if evicted:
            process_memory.release_free_memory()

    def _evict(self, segment_id: str, why: str) -> bool:
        """Save (if dirty) and unload one unpinned segment; False if busy, pinned or gone."""
        lock = self._id_lock(segment_id)
        if not lock.acquire(blocking=False):
            return False  # being loaded, saved or dropped by another request
        try:
            with self._lock:
                segment = self._segments.get(segment_id)
                if segment is None or segment_id in self._pinned:
                    return False
            if segment.dirty:
                try:
                    self._save(segment)
                except OSError:
                    # Unload anyway: the log still holds what the folder lacks.
                    log.exception("segment %s: save before eviction failed", segment_id)
            with self._lock:
                size = segment.memory_bytes()
                self._forget(segment_id)
                self.counters.evictions += 1
        finally:
            lock.release()
        log.info("segment %s evicted (%d bytes) %s", segment_id, size, why)
        return True

    def evict_idle(self, now: float | None = None) -> int:
        """Evict unpinned segments unused for longer than idle_ttl. Returns how many."""
        if self.idle_ttl <= 0:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [sid for sid in self._segments
                    if sid not in self._pinned and now - self._last_used.get(sid, now) > self.idle_ttl]
        evicted = sum(self._evict(sid, f"after {self.idle_ttl:g}s idle") for sid in idle)
        if evicted:
            process_memory.release_free_memory()
        return evicted

    def _forget(self, segment_id: str, keep_pin: bool = True) -> None:
        """Unload (caller holds self._lock)."""
        self._segments.pop(segment_id, None)
        self._last_used.pop(segment_id, None)
        self._oversize_warned.discard(segment_id)
        self._next_checkpoint.pop(segment_id, None)
        if not keep_pin:
            self._pinned.discard(segment_id)

    # ----- pins ------------------------------------------------------------------------

    def pin(self, params: SegmentParams, min_sequence: int | None = None,
            timeout: float | None = None) -> Segment | None:
        """Load (caught up to min_sequence) and keep loaded until released. A collection with
        no vectors yet (dimension 0) is pinned for when it gets them; returns None then."""
        with self._lock:
            # Pinned first, so no eviction can take it between its load and the pin.
            was_pinned = params.segment_id in self._pinned
            self._pinned.add(params.segment_id)
        if params.dimension == 0:
            return None
        try:
            segment = self.get(params, min_sequence, timeout)
        except BaseException:
            if not was_pinned:
                with self._lock:
                    self._pinned.discard(params.segment_id)
            raise
        self.checkpoint_if_due(segment)
        return segment

    def release(self, segment_id: str) -> bool:
        """Unpin; False when it was not pinned. The segment stays loaded until evicted."""
        with self._lock:
            was = segment_id in self._pinned
            self._pinned.discard(segment_id)
        if was:
            self._fit_budget(keep="")  # pins may have held the cache over its budget
        return was

    # ----- saving and dropping ---------------------------------------------------------

    def drop(self, segment_id: str) -> bool:
        """Unload a segment and delete its folder. False when it was neither loaded nor saved."""
        with self._id_lock(segment_id):
            with self._lock:
                was_loaded = segment_id in self._segments
                self._forget(segment_id, keep_pin=False)
            removed = segment_files.delete(self.root, segment_id)
        process_memory.release_free_memory()
        return was_loaded or removed

    def persist(self, segment: Segment) -> bool:
        """Save a loaded, dirty segment. False when clean, no longer loaded (dropped), or the
        save was skipped (folder locked elsewhere, or holding a newer save)."""
        with self._id_lock(segment.segment_id):
            with self._lock:
                if self._segments.get(segment.segment_id) is not segment:
                    return False
            if segment.dirty == 0:
                return False
            return self._save(segment)

    def _save(self, segment: Segment) -> bool:
        """Save and report the checkpoint; False (logged by segment_files) when skipped."""
        outcome = segment_files.save(self.root, segment)
        if outcome is segment_files.SaveOutcome.STALE:
            # The folder is further along than this copy: keep the copy (it catches up from
            # the log, or reloads the folder if the log was purged) but stop trying to save
            # it until it has new writes of its own.
            with segment.lock:
                segment.dirty = 0
        if outcome is segment_files.SaveOutcome.BUSY:
            self._note_busy(segment.segment_id)
        if outcome is not segment_files.SaveOutcome.SAVED:
            return False
        with self._lock:
            self.counters.persists += 1
            self._busy_until.pop(segment.segment_id, None)
        self._report_persisted(segment)
        return True

    def _note_busy(self, segment_id: str) -> None:
        with self._lock:
            self._busy_until[segment_id] = time.monotonic() + BUSY_RETRY_AFTER

    def _report_persisted(self, segment: Segment) -> None:
        """Best effort: a failed report only delays the log's purge until the next save."""
        try:
            purged = self._client.report_persisted(
                segment.segment_id, segment.params.collection_id, segment.persisted_sequence,
                timeout=REPORT_TIMEOUT)
        except errors.SegmentDBError as exc:
            log.warning("segment %s: saved through %d, but reporting it to the metadata "
                        "worker failed (%s); the log is purged after a later save",
                        segment.segment_id, segment.persisted_sequence, exc)
            return
        if purged is None and not self._report_unimplemented_logged:
            self._report_unimplemented_logged = True
            log.info("the metadata worker does not implement ReportPersisted: its log is "
                     "not purged")

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

    # ----- facts -----------------------------------------------------------------------

    def requested(self, segment_id: str) -> bool:
        """Whether a request has asked for this segment since the process started."""
        with self._lock:
            return segment_id in self._requested

    def loaded_segments(self) -> list[Segment]:
        """The loaded segments, least recently used first (a copy: safe to iterate)."""
        with self._lock:
            return list(self._segments.values())

    def peek(self, segment_id: str) -> Segment | None:
        """The loaded segment, or None; not a use (no hit, LRU order unchanged)."""
        with self._lock:
            return self._segments.get(segment_id)

    def loaded(self) -> list[str]:
        """Loaded segment ids, least recently used first."""
        with self._lock:
            return list(self._segments)

    def pinned(self) -> set[str]:
        with self._lock:
            return set(self._pinned)

    def loaded_bytes(self) -> int:
        with self._lock:
            return self._loaded_bytes_locked()

    def snapshot(self) -> tuple[CacheCounters, list[LoadedSegment]]:
        """A consistent copy of the counters and the loaded segments (LRU first)."""
        now = time.monotonic()
        with self._lock:
            counters = self.counters.copy()
            loaded = [LoadedSegment(segment, segment.memory_bytes(), sid in self._pinned,
                                    now - self._last_used.get(sid, now))
                      for sid, segment in self._segments.items()]
        return counters, loaded
