"""StreamSnapshot's messages: progress while the snapshot is taken, the manifest, the chunks.

The copy (store_backup.take_snapshot) runs on a helper thread so the stream can tell the
client how far it is: on a large database the copy takes a while, and a silent stream looks
like a hung one. The helper checks `is_active()` after every step, so a caller that goes
away (cancelled, deadline passed) stops the copy at once. The temp file is deleted in every
case: done, failed, or the generator closed early by gRPC.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from segmentdb import backup_manifest, errors
from segmentdb.backup_manifest import FileEntry, Manifest
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.v1 import backup_pb2
from segmentdb.version import __version__

from metadata_worker import store_backup
from metadata_worker.store import DB_FILENAME, Store

log = logging.getLogger(__name__)

# At most this often a progress message while copying.
PROGRESS_PERIOD_SECONDS = 0.25


class _CallerGone(Exception):
    """Raised inside the copy's progress callback to abort it."""


def stream(store: Store, chunk_bytes: int,
           is_active: Callable[[], bool]) -> Iterator[msvc.StreamSnapshotResponse]:
    chunk = backup_manifest.chunk_bytes(chunk_bytes)
    path = store_backup.new_snapshot_path(store)
    started = time.monotonic()
    finished = False
    try:
        info = yield from _copy(store, path, is_active)
        with open(path, "rb") as fh:
            size, sha256 = backup_manifest.copy_hashed(fh, None)
        manifest = Manifest(
            format_version=backup_manifest.FORMAT_VERSION, created_at=info.created_at,
            segmentdb_version=__version__, schema_version=info.schema_version,
            log_position=info.log_position, collections=info.collections,
            records=info.records, files=(FileEntry(DB_FILENAME, size, sha256),))
        log.info("backup snapshot at log position %d: %d bytes, %d collections, %d records, "
                 "copied in %.2fs", info.log_position, size, info.collections, info.records,
                 time.monotonic() - started)
        yield msvc.StreamSnapshotResponse(manifest=manifest.to_proto())
        with open(path, "rb") as fh:
            offset = 0
            while True:
                data = fh.read(chunk)
                if not data:
                    break
                yield msvc.StreamSnapshotResponse(
                    chunk=backup_pb2.BackupChunk(path=DB_FILENAME, offset=offset, data=data))
                offset += len(data)
        log.info("backup streamed in %.2fs", time.monotonic() - started)
        finished = True
    finally:
        path.unlink(missing_ok=True)
        if not finished:
            log.info("backup stream ended early (failed, or its caller went away); "
                     "snapshot removed")


def _copy(store: Store, path: Path, is_active: Callable[[], bool]):
    """Run take_snapshot on a helper thread, yielding its progress; returns its SnapshotInfo."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    last = [0.0]

    def progress(copied: int, total: int) -> None:
        if stop.is_set() or not is_active():
            raise _CallerGone()
        now = time.monotonic()
        if now - last[0] >= PROGRESS_PERIOD_SECONDS or copied == total:
            last[0] = now
            events.put(("progress", copied, total))

    def run() -> None:
        try:
            events.put(("done", store_backup.take_snapshot(store, path, progress)))
        except BaseException as exc:  # noqa: BLE001 - handed to the streaming thread
            events.put(("failed", exc))

    helper = threading.Thread(target=run, name="backup-snapshot", daemon=True)
    helper.start()
    try:
        while True:
            event = events.get()
            if event[0] == "progress":
                yield msvc.StreamSnapshotResponse(progress=backup_pb2.BackupProgress(
                    pages_copied=event[1], pages_total=event[2]))
            elif event[0] == "done":
                return event[1]
            else:
                exc = event[1]
                if isinstance(exc, _CallerGone):
                    log.info("backup cancelled by its caller; snapshot discarded")
                    raise errors.CancelledError("the backup's caller went away; nothing was kept")
                raise exc
    finally:
        stop.set()  # the generator may be closed early: make the helper's next step abort
        helper.join()
