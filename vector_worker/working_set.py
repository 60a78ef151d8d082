"""A vector worker's working set, remembered across restarts.

Segments load lazily, so after a restart (a deploy, a crash) the first query on each hot
collection waited for its load — 0.5 s for 100k x 384, more for larger ones. A worker with a
stable name (`--name`; serve passes vector-worker-N) writes the parameters of the loaded
segments that requests used, most recently used first, to `<data>/index/.working-set-<name>.json` whenever that
set changes (checked by the log tailer's tick) and at shutdown; as soon as it serves
it hands them to the write-hint warmer (segment_warmer), which loads
each in the background only if it fits beside those already loaded without evicting anything.
A collection deleted meanwhile (the metadata worker no longer knows it) is dropped, folder
and all, once the metadata worker answers. The file is a hint: missing or unreadable,
the worker simply starts cold.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from pathlib import Path

from segmentdb import errors
from vector_worker.convert import SegmentParams
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment_cache import SegmentCache
from vector_worker.segment_warmer import SegmentWarmer

log = logging.getLogger(__name__)

# Restore starts as soon as the worker serves. (It once waited 2 s, because on 2 cores
# loading while the other processes started slowed them down; since `segmentdb serve` stopped
# importing grpc before starting its children, loading at once wins: first answer after a
# restart, 100k x 384, interleaved runs on a shared 2-core machine, median of 8: 1.41 s at
# once vs 1.98 s after 2 s.) A query that comes first waits for the same load (one load per
# segment at a time), it does not start a second.
RESTORE_DELAY_SECONDS = 0.0
# How long restore waits for the metadata worker (serve starts every process at once).
METADATA_WAIT_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 5.0


def path_for(data: str | Path, name: str) -> Path:
    return Path(data) / "index" / f".working-set-{name}.json"


class WorkingSet:
    def __init__(self, data: str | Path, name: str, cache: SegmentCache,
                 client: MetadataClient, warmer: SegmentWarmer):
        self.path = path_for(data, name)
        self._cache, self._client, self._warmer = cache, client, warmer
        self._last_written: list[dict] | None = None
        self._lock = threading.Lock()
        # Read now, reloaded later (RESTORE_DELAY_SECONDS): until then these still belong to
        # the working set, so a record() meanwhile (a tail tick, a quick shutdown) keeps them.
        self._pending: list[SegmentParams] = self._read()

    def _read(self) -> list[SegmentParams]:
        try:
            entries = json.loads(self.path.read_text())["segments"]
            return [SegmentParams(**entry) for entry in entries]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the working set in %s (%s); starting cold", self.path, exc)
            return []

    def record(self) -> bool:
        """Write the loaded segments that a request asked for in this run (most recently
        used first, then those still waiting to be reloaded) if that changed; True if
        written. Atomic (temp file + rename).

        A segment this worker only reloaded is left out: a copy nobody asks for (a failover
        fallback's, after the owner came back) is reloaded by one restart, not by all."""
        loaded = [segment.params for segment in reversed(self._cache.loaded_segments())
                  if self._cache.requested(segment.segment_id)]
        ids = {params.segment_id for params in loaded}
        with self._lock:
            entries = [dataclasses.asdict(params) for params in loaded] + [
                dataclasses.asdict(params) for params in self._pending
                if params.segment_id not in ids]
            if entries == self._last_written:
                return False
            tmp = self.path.with_name(self.path.name + ".tmp")
            try:
                tmp.write_text(json.dumps({"segments": entries}))
                os.replace(tmp, self.path)
            except OSError as exc:
                log.warning("could not record the working set in %s: %s", self.path, exc)
                return False
            self._last_written = entries
            return True

    def restore_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self._restore, name="working-set-restore",
                                  daemon=True)
        thread.start()
        return thread

    def _restore(self) -> None:
        time.sleep(RESTORE_DELAY_SECONDS)
        pending = list(self._pending)
        # Loading from the saved files needs no metadata worker, which may still be starting
        # (serve starts every process at once): queue the loads first, check for collections
        # deleted while we were down after. Waiting for the check first put the metadata
        # worker's start on the path to the first answer.
        for params in pending:
            self._warmer.submit(params, 0, requested=False)
        with self._lock:
            # Queued: from here a reloaded segment is carried into the next start only if a
            # request asks for it (record).
            self._pending = []
        if pending:
            log.info("reloading %d segment(s) this worker held before its restart, in the "
                     "background (within the memory budget)", len(pending))
        for params in pending:
            if self._deleted(params):
                log.info("segment %s: its collection was deleted while this worker was "
                         "down; dropping it", params.segment_id)
                self._cache.drop(params.segment_id)  # loaded or not, its folder is stale

    def _deleted(self, params: SegmentParams) -> bool:
        """True for a collection deleted while we were down; waits for the metadata worker
        to come up (it starts alongside us). Not answering is not deleted: keep it."""
        deadline = time.monotonic() + METADATA_WAIT_SECONDS
        while True:
            try:
                self._client.count_records(params.collection_id, timeout=CHECK_TIMEOUT_SECONDS)
                return False
            except errors.NotFoundError:
                return True
            except errors.SegmentDBError as exc:
                if time.monotonic() > deadline:
                    log.info("working set: metadata worker not answering (%s); keeping "
                             "segment %s as loaded", exc, params.segment_id)
                    return False
                time.sleep(0.1)
