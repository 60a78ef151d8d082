"""The SQLite side of schema migrations: statements of a script, schema facts, and the copy
of chroma.sqlite3 taken before an upgrade.

migrate.py decides what runs and in which transaction; this module does what needs sqlite3
itself (complete_statement, the online backup API).

Backups before an upgrade are `chroma.sqlite3.pre-v0004-20250102T030405Z.bak` next to the
database (v0004: the schema version the upgrade goes to), written through SQLite's online
backup API (a consistent copy, WAL content included), fsynced, then renamed into place. The
newest KEEP_BACKUPS are kept: each is a full copy of the database, so keeping them all would
grow the folder by a database per upgrade; three still cover an upgrade that went wrong
unnoticed through two more.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from segmentdb import atomic_install, errors
from segmentdb.maintenance import database_bytes

KEEP_BACKUPS = 3
BACKUP_SUFFIX = ".bak"
_TMP_SUFFIX = ".tmp"


def statements(script: str) -> list[str]:
    """The SQL statements of `script`, in order (comments and blank text between them
    dropped). Splits only where SQLite itself sees a complete statement, so a ';' inside a
    string, a comment or a CREATE TRIGGER body does not split. Raises ValueError for text
    after the last statement that is not one (a missing ';' or a truncated file)."""
    found: list[str] = []
    start = 0
    position = script.find(";")
    while position != -1:
        candidate = script[start:position + 1]
        if sqlite3.complete_statement(candidate):
            if _has_sql(candidate):
                found.append(candidate.strip())
            start = position + 1
        position = script.find(";", position + 1)
    rest = script[start:]
    if _has_sql(rest):
        raise ValueError(f"the script ends with an unfinished statement: {rest.strip()[:80]!r}")
    return found


def _has_sql(text: str) -> bool:
    """True if `text` holds something besides whitespace, `--` comments and semicolons."""
    for line in text.splitlines():
        code = line.split("--", 1)[0].strip().strip(";").strip()
        if code:
            return True
    return False


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    # PRAGMA takes no parameters; `table` is one of our own constant table names.
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def user_tables(conn: sqlite3.Connection) -> int:
    """How many tables the database holds besides SQLite's own (0: a new, empty file)."""
    return conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'").fetchone()[0]


# ------------------------------------------------------------ backups before an upgrade


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int           # the backup file's size
    source_bytes: int    # chroma.sqlite3 + -wal when it was taken
    pruned: tuple[str, ...]  # older backups removed to keep KEEP_BACKUPS


def backup_pattern(db_path: Path) -> str:
    return f"{db_path.name}.pre-v*{BACKUP_SUFFIX}"


def existing_backups(db_path: Path) -> list[Path]:
    """Pre-upgrade backups next to the database, oldest first."""
    found = [p for p in db_path.parent.glob(backup_pattern(db_path)) if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def backup_before_upgrade(conn: sqlite3.Connection, db_path: Path, target_version: int,
                          keep: int = KEEP_BACKUPS) -> Backup:
    """Copy the database behind `conn` to a new pre-upgrade backup, then prune old ones.

    Raises StorageFullError (nothing written) when the disk cannot hold the copy, and lets
    an OSError or sqlite3.Error of the copy itself through after removing the partial file.
    """
    db_path = Path(db_path)
    source_bytes = database_bytes(db_path)
    free = shutil.disk_usage(db_path.parent).free
    if free < source_bytes:
        raise errors.StorageFullError(
            f"the backup of {db_path} before migrating needs about {source_bytes} bytes but "
            f"{db_path.parent} has {free} free; free some space and start again (nothing "
            "was changed)")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = db_path.with_name(f"{db_path.name}.pre-v{target_version:04d}-{stamp}{BACKUP_SUFFIX}")
    n = 2
    while path.exists():  # two upgrades within one second (tests, retries)
        path = db_path.with_name(
            f"{db_path.name}.pre-v{target_version:04d}-{stamp}-{n}{BACKUP_SUFFIX}")
        n += 1
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    try:
        target = sqlite3.connect(str(tmp))
        try:
            conn.backup(target)
            (verdict,) = target.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise errors.DataLossError(
                    f"the backup of {db_path} fails SQLite's quick_check ({verdict}); the "
                    "database was not migrated: check the disk and the database")
        finally:
            target.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        atomic_install.fsync_path(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    pruned = []
    for old in existing_backups(db_path)[:-keep] if keep > 0 else []:
        if old != path:
            old.unlink(missing_ok=True)
            pruned.append(old.name)
    return Backup(path=path, bytes=path.stat().st_size, source_bytes=source_bytes,
                  pruned=tuple(pruned))


