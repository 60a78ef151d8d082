"""A point-in-time copy of chroma.sqlite3, taken with SQLite's online backup API.

The copy is made on a private connection that first opens a read transaction and reads the
snapshot's facts (log position, schema version, counts), then runs
`Connection.backup(pages=PAGES_PER_STEP)` THROUGH that transaction. Why the transaction:
`sqlite3_backup_step` restarts from page 1 whenever another connection commits between two
steps, so under continuous writes an unguarded backup may never finish (measured: 20,000
rows of 512 bytes, one writer committing in a loop: 13,933 steps and 11.7 s instead of 45
steps and 0.08 s). When the source connection already holds a read transaction, every step
reads through it: in WAL mode that is one snapshot for the whole copy, nothing restarts, and
writers go on committing (the WAL only cannot be checkpointed past the snapshot until the
copy ends). So the copy, the log position and the counts describe the same instant.

Index folders are not copied: they are a cache owned by vector workers (possibly on other
machines) and a segment saved after the snapshot would be newer than it (docs/internals.md).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from segmentdb import errors

from metadata_worker.store import Store, connect, storage_full_error

log = logging.getLogger(__name__)

# Pages copied per backup step (4 KiB pages: 1 MiB). Steps only read through the held
# transaction, so writers are never blocked; the size only sets how often progress is told.
PAGES_PER_STEP = 256
# Snapshots are written beside the database (same disk: a Kubernetes pod's /tmp may be
# small or in memory) and removed when their stream ends.
SNAPSHOTS_FOLDER = ".snapshots"


@dataclass(frozen=True)
class SnapshotInfo:
    """What one snapshot holds, read inside the transaction the copy was made from."""

    log_position: int    # highest write-ahead log sequence number assigned (purged included)
    schema_version: int  # highest migration applied
    collections: int
    records: int
    created_at: str      # RFC 3339 UTC, when the read transaction began


def snapshots_folder(store: Store) -> Path:
    return store.data_path / SNAPSHOTS_FOLDER


def new_snapshot_path(store: Store) -> Path:
    folder = snapshots_folder(store)
    folder.mkdir(exist_ok=True)
    return folder / f"snapshot-{uuid.uuid4().hex}.sqlite3"


def remove_leftovers(store: Store) -> None:
    """Delete snapshots a killed worker left behind. Call with the folder lock held (Store
    open), so no other worker can be streaming one."""
    folder = snapshots_folder(store)
    if folder.exists():
        log.info("removing leftover backup snapshots in %s", folder)
        shutil.rmtree(folder, ignore_errors=True)


def _facts(conn: sqlite3.Connection) -> tuple[int, int, int, int]:
    """(log position, schema version, collections, records); the first SELECT also starts
    the read transaction the backup then copies from."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'embeddings_log'").fetchone()
    position = row[0] if row else 0
    schema = conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0]
    collections, records = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(record_count), 0) FROM collections").fetchone()
    return position, schema, collections, records


def take_snapshot(store: Store, target: Path,
                  progress: Callable[[int, int], None] | None = None) -> SnapshotInfo:
    """Copy the database as of now into `target` (a new file); returns what it holds.

    `progress(pages_copied, pages_total)` is called after each step; an exception it raises
    (the caller went away) aborts the copy and propagates. A full disk raises
    StorageFullError; `target` may then be partly written (the caller removes it).
    """
    source = connect(store.db_path)
    try:
        source.execute("BEGIN")
        created_at = datetime.now(timezone.utc).isoformat()
        position, schema, collections, records = _facts(source)
        copy = sqlite3.connect(str(target), isolation_level=None)
        try:
            # The temp copy need not survive a crash: the client verifies its sha256.
            copy.execute("PRAGMA synchronous = OFF")

            def step(_status, remaining, total):
                if progress is not None:
                    progress(total - remaining, total)

            source.backup(copy, pages=PAGES_PER_STEP, progress=step)
        except sqlite3.Error as exc:
            raise _snapshot_error(exc, target) from exc
        finally:
            copy.close()
        source.execute("ROLLBACK")
    finally:
        source.close()
    return SnapshotInfo(log_position=position, schema_version=schema,
                        collections=collections, records=records, created_at=created_at)


def _snapshot_error(exc: sqlite3.Error, target: Path) -> Exception:
    if storage_full_error(exc, target) is not None:  # SQLITE_FULL or SQLITE_IOERR
        return errors.StorageFullError(
            f"no space for the backup's snapshot in {target.parent} ({exc}): a backup needs "
            "about as much free space beside chroma.sqlite3 as the database takes; free some "
            "and retry (the service and its data are unaffected)")
    return exc
