"""The SQLite half of a vacuum: purge the applied log, VACUUM, shrink the -wal file, and
record the whole run in maintenance_runs.

Both vacuums end here: the online one (AdminService.Vacuum: the gateway has the vector
workers compact their segments first, then calls VacuumStorage) and the offline one
(`segmentdb vacuum --path`, which compacts the index folders itself). Each passes what
happened to the index folders, so the maintenance_runs row describes the whole vacuum.

Order and why:
1. Free disk is checked first. VACUUM copies the live pages into a temporary database
   (SQLite's temp directory) and then writes them all back through the -wal file, so it
   needs about the database's used size free in each place (twice that when both are on
   one filesystem). Without it, nothing is done: StorageFullError.
2. The log entries every vector segment has saved are purged (store_maintenance), so
   VACUUM returns their pages too.
3. On the writer connection, outside any transaction and with writes held off (reads go
   on, from their WAL snapshots): a TRUNCATE checkpoint, VACUUM, another TRUNCATE
   checkpoint - the -wal file, which VACUUM filled with the whole database, goes back to 0
   bytes unless a long reader still needs it (reported as wal_busy).
One vacuum at a time per data folder: a second gets FailedPreconditionError at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from segmentdb import errors
from segmentdb.maintenance import database_bytes

from metadata_worker import store_log, store_maintenance
from metadata_worker.store import Store

log = logging.getLogger(__name__)

# Seconds a TRUNCATE checkpoint waits for readers on an older snapshot (the store's usual
# busy timeout is 30 s; a vacuum holding writes off should not wait that long for them).
CHECKPOINT_BUSY_MS = 2_000


@dataclass(frozen=True)
class IndexFigures:
    """What happened to the vector segment folders before the SQLite half ran."""

    bytes_before: int = 0
    bytes_after: int = 0
    segments_examined: int = 0
    segments_rebuilt: int = 0
    segments_failed: int = 0
    orphan_folders_removed: int = 0


@dataclass(frozen=True)
class StorageVacuumed:
    sqlite_bytes_before: int
    sqlite_bytes_after: int
    log_entries_before: int
    log_entries_after: int
    log_entries_purged: int
    free_pages_before: int
    wal_busy: bool
    maintenance_run_id: int
    seconds: float


def sqlite_temp_dir() -> Path:
    """Where SQLite puts VACUUM's temporary database on Unix (its own search order)."""
    for name in ("SQLITE_TMPDIR", "TMPDIR"):
        if os.environ.get(name):
            return Path(os.environ[name])
    for candidate in ("/var/tmp", "/usr/tmp", "/tmp"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(".")


class StorageVacuum:
    def __init__(self, store: Store):
        self.store = store
        self._running = threading.Lock()

    def run(self, started_at: datetime, index: IndexFigures, mode: str) -> StorageVacuumed:
        """Vacuum the store and record the run (`mode`: "online" or "offline")."""
        if not self._running.acquire(blocking=False):
            raise errors.FailedPreconditionError(
                f"a vacuum of {self.store.data_path} is already running; wait for it to "
                "finish (its result is in maintenance_runs)")
        try:
            return self._run(started_at, index, mode)
        finally:
            self._running.release()

    def _run(self, started_at: datetime, index: IndexFigures, mode: str) -> StorageVacuumed:
        clock = time.monotonic()
        db = self.store.db_path
        sqlite_before = database_bytes(db)
        pages = self.store.read(store_maintenance.pages)
        self._check_free_space(pages)
        log_before = self.store.read(store_log.count_entries)
        purged = self.store.write(store_maintenance.purge_applied_log)
        checkpoint = self.store.exclusive(store_maintenance.vacuum, CHECKPOINT_BUSY_MS)
        sqlite_after = database_bytes(db)
        log_after = self.store.read(store_log.count_entries)
        finished_at = datetime.now(timezone.utc)
        details = {
            "mode": mode, **{f"index_{k}": v for k, v in asdict(index).items()},
            "sqlite_bytes_before": sqlite_before, "sqlite_bytes_after": sqlite_after,
            "log_entries_before": log_before, "log_entries_after": log_after,
            "log_entries_purged": purged, "free_pages_before": pages.free_pages,
            "page_size": pages.page_size, "wal_busy": checkpoint.busy,
        }
        run_id = self.store.write(
            store_maintenance.record_run, store_maintenance.KIND_VACUUM,
            started_at.isoformat(), finished_at.isoformat(),
            sqlite_before + index.bytes_before, sqlite_after + index.bytes_after, details)
        # The row's own pages went to the -wal file: fold them in too.
        self.store.exclusive(store_maintenance.checkpoint_wal, CHECKPOINT_BUSY_MS)
        seconds = time.monotonic() - clock
        log.info("vacuum (%s) of %s: SQLite %d -> %d bytes, index folders %d -> %d bytes, "
                 "%d log entries purged, %d segments rebuilt, in %.2fs (maintenance run %d)",
                 mode, self.store.data_path, sqlite_before, sqlite_after, index.bytes_before,
                 index.bytes_after, purged, index.segments_rebuilt, seconds, run_id)
        return StorageVacuumed(sqlite_before, sqlite_after, log_before, log_after, purged,
                               pages.free_pages, checkpoint.busy, run_id, seconds)

    def _check_free_space(self, pages: store_maintenance.Pages) -> None:
        used = (pages.page_count - pages.free_pages) * pages.page_size
        data_fs = self.store.data_path
        temp_fs = sqlite_temp_dir()
        needs = {data_fs: used}
        if _same_filesystem(data_fs, temp_fs):
            needs[data_fs] += used
        else:
            needs[temp_fs] = used
        for folder, needed in needs.items():
            free = shutil.disk_usage(folder).free
            if free < needed:
                raise errors.StorageFullError(
                    f"VACUUM of {self.store.db_path} needs about {needed} bytes free in "
                    f"{folder} (for its temporary copy and the -wal file) but {free} are "
                    "free; nothing was vacuumed: free some space (or set SQLITE_TMPDIR to a "
                    "roomier filesystem) and run the vacuum again")


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return True  # assume the worst: both copies on the data folder's disk
