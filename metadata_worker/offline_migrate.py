"""What `segmentdb migrate --path DIR [--dry-run]` runs on a data folder.

- `plan(path)`: where the database stands and what would run, read through a read-only
  connection (so it works, and changes nothing, even while a metadata worker serves the
  folder - which then runs the code it started with).
- `run(path)`: takes the folder lock (refused while a metadata worker holds it: migrating
  under a running worker would change the schema beneath its statements), then does what a
  start does (migrate.upgrade): the backup next to the database, then every pending
  migration in one transaction.
Neither creates a database: a folder without chroma.sqlite3 is an error.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from segmentdb import errors

from metadata_worker import migrate
from metadata_worker.folder_lock import DB_FILENAME, FolderLock
from metadata_worker.store import connect, connect_readonly


@dataclass(frozen=True)
class Plan:
    db_path: Path
    state: migrate.SchemaState


def _database(path: str | Path) -> Path:
    db_path = Path(path) / DB_FILENAME
    if not db_path.is_file():
        raise errors.NotFoundError(
            f"--path: {path} holds no {DB_FILENAME}: there is nothing to migrate (a new "
            "folder gets the current schema when `segmentdb serve --path` first starts)")
    return db_path


def plan(path: str | Path) -> Plan:
    db_path = _database(path)
    with closing(connect_readonly(db_path)) as conn:
        return Plan(db_path, migrate.inspect_at(conn, db_path))


def run(path: str | Path) -> tuple[Plan, migrate.Upgrade]:
    db_path = _database(path)
    lock = FolderLock(db_path)
    lock.acquire()  # FolderLockedError names the worker holding it
    try:
        with closing(connect(db_path)) as conn:
            state = migrate.inspect_at(conn, db_path)
            return Plan(db_path, state), migrate.upgrade(conn, db_path)
    finally:
        lock.release()
