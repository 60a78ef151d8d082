"""Forward-only schema migrations from numbered `.sql` files, checked by sha256.

`migrations/NNNN-description.sql` files are applied in version order; the schema version of
a database is the highest version in its `migrations` table. On every start:

1. The files already applied are re-hashed: an edited or missing file stops start-up, and so
   does a database migrated by newer code (a version this code has no file for) - it is
   never opened for work, and the message names both schema versions and the segmentdb
   release that wrote it (recorded since migration 0004).
2. If migrations are pending on an existing database, a copy of it is taken first
   (store_schema.backup_before_upgrade: `chroma.sqlite3.pre-v0004-<time>.bak`).
3. ALL pending files and their `migrations` rows run in ONE transaction: a failure anywhere
   leaves the database exactly at its previous version, and the error says where the copy
   is. (Chroma's `executescript()` migrations commit before running, so a failed one can
   leave a database half-migrated.) Statements run one by one through `conn.execute`
   (split where SQLite sees a complete statement), so the transaction is ours and a failure
   names the file and the statement.

Takes an open connection in autocommit mode (`isolation_level=None`); imports no sqlite3.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from segmentdb import errors
from segmentdb.version import __version__

from metadata_worker import store_maintenance, store_schema

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILENAME = re.compile(r"^(\d{4})-[a-z0-9][a-z0-9_-]*\.sql$")
# Transaction control inside a file would end our one transaction early.
_TRANSACTION_STATEMENT = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b",
                                    re.IGNORECASE)

_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""
_VERSION_COLUMN = "segmentdb_version"  # added by 0004


class MigrationError(errors.FailedPreconditionError):
    """The database and the migration files disagree; the worker must not start."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    sha256: str


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the migration files (verified)."""

    version: int                # highest applied version; 0 for a new database
    known_version: int          # highest version this code has a file for
    pending: list[Migration]    # in version order
    new_database: bool          # nothing in it yet: no backup is needed


@dataclass(frozen=True)
class Upgrade:
    from_version: int
    to_version: int
    applied: list[int] = field(default_factory=list)
    backup: Path | None = None


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in `directory`, in version order."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(
                f"migration file {path.name!r} is not named NNNN-description.sql "
                "(four digits, a dash, lowercase words); rename it"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"migration files {found[version].filename!r} and {path.name!r} share "
                f"version {version}; give each file its own number"
            )
        data = path.read_bytes()
        found[version] = Migration(version, path.name, data.decode("utf-8"),
                                   hashlib.sha256(data).hexdigest())
    return [found[v] for v in sorted(found)]


def inspect(conn, directory: Path = MIGRATIONS_DIR) -> SchemaState:
    """Verify the applied migrations against the files and list the pending ones. Reads
    only (works on a read-only connection); raises MigrationError on any disagreement."""
    files = available(directory)
    known = files[-1].version if files else 0
    if not store_schema.table_exists(conn, "migrations"):
        if store_schema.user_tables(conn):
            raise MigrationError(
                "the database has tables but no segmentdb `migrations` table: it is not a "
                "segmentdb database (point --path at a segmentdb data folder)")
        return SchemaState(0, known, files, new_database=True)
    columns = store_schema.columns(conn, "migrations")
    if not {"version", "filename", "sha256"} <= columns:
        raise MigrationError(
            "the database's `migrations` table is not segmentdb's (it lacks version, "
            "filename or sha256; a Chroma database?): point --path at a segmentdb data folder")
    written_by = f", {_VERSION_COLUMN}" if _VERSION_COLUMN in columns else ", NULL"
    applied = conn.execute(
        f"SELECT version, filename, sha256{written_by} FROM migrations ORDER BY version"
    ).fetchall()
    by_version = {m.version: m for m in files}
    for version, filename, sha256, release in applied:
        migration = by_version.get(version)
        if migration is None:
            if version > known:
                newest = applied[-1]
                by = f" by segmentdb {newest[3]}" if newest[3] else " by a newer segmentdb"
                raise MigrationError(
                    f"the database was migrated to version {newest[0]} ({newest[1]}){by}, "
                    f"but this segmentdb {__version__} only knows migrations up to version "
                    f"{known}; run that segmentdb (or a newer one) on this data folder. "
                    "Downgrades are not supported; the database was not changed"
                )
            raise MigrationError(
                f"migration {filename!r} (version {version}) is recorded as applied but its "
                f"file is missing from {directory}; restore the file"
            )
        if migration.sha256 != sha256:
            raise MigrationError(
                f"migration {migration.filename!r} (version {version}) was edited after it "
                f"was applied: sha256 {migration.sha256} != recorded {sha256}. Restore the "
                "original file and put schema changes in a new numbered migration"
            )
    done = {row[0] for row in applied}
    current = max(done, default=0)
    pending = [m for m in files if m.version not in done]
    skipped = [m for m in pending if m.version < current]
    if skipped:
        raise MigrationError(
            f"migration {skipped[0].filename!r} (version {skipped[0].version}) was never "
            f"applied, but the database is already at version {current}; migrations run in "
            "order only: renumber the file after the newest one"
        )
    # An empty table: an older segmentdb created it, then its first migration failed.
    return SchemaState(current, known, pending,
                       new_database=not applied and store_schema.user_tables(conn) <= 1)


def inspect_at(conn, db_path: Path, directory: Path = MIGRATIONS_DIR) -> SchemaState:
    """inspect(), with the database's path in front of any refusal."""
    try:
        return inspect(conn, directory)
    except MigrationError as exc:
        raise MigrationError(f"{db_path}: {exc.message}") from None


def apply(conn, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Verify, then apply every pending migration in one transaction, without a backup.
    Returns the versions applied. (upgrade() is what start-up uses.)"""
    state = inspect(conn, directory)
    _apply_all(conn, state)
    return [m.version for m in state.pending]


def upgrade(conn, db_path: Path, directory: Path = MIGRATIONS_DIR,
            keep_backups: int = store_schema.KEEP_BACKUPS) -> Upgrade:
    """What a start does: verify; if migrations are pending on an existing database, back
    it up next to itself; then apply them all in one transaction."""
    state = inspect_at(conn, db_path, directory)
    if not state.pending:
        return Upgrade(state.version, state.version)
    target = state.pending[-1].version
    backup = None
    if not state.new_database:
        try:
            backup = store_schema.backup_before_upgrade(conn, db_path, target,
                                                        keep=keep_backups)
        except Exception as exc:  # noqa: BLE001 - disk full, I/O, a failed quick_check
            message = getattr(exc, "message", None) or str(exc)
            raise MigrationError(
                f"migrations {', '.join(m.filename for m in state.pending)} are pending, "
                f"but the backup of {db_path} to take first failed: {message}. Nothing was "
                f"changed: the database is still at schema version {state.version}") from exc
        log.info("migrating %s from schema version %d to %d; a copy of it from before is %s",
                 db_path, state.version, target, backup.path)
    started = _now()
    try:
        _apply_all(conn, state, after=lambda: _record_backup(conn, state, backup, started))
    except MigrationError as exc:
        if backup is None:
            raise
        raise MigrationError(
            f"{exc.message}. The database is still at schema version {state.version}; a "
            f"copy taken before the attempt is {backup.path}") from exc
    return Upgrade(state.version, target, [m.version for m in state.pending],
                   backup.path if backup else None)


def _apply_all(conn, state: SchemaState, after=None) -> None:
    """Every pending file, its `migrations` row and `after()` in ONE transaction."""
    if not state.pending:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_CREATE_MIGRATIONS_TABLE)  # a new database gets it with its first files
        for migration in state.pending:
            _run_file(conn, migration)
        recorded_release = _VERSION_COLUMN in store_schema.columns(conn, "migrations")
        applied_at = _now()
        for migration in state.pending:
            if recorded_release:
                conn.execute(
                    "INSERT INTO migrations (version, filename, sha256, applied_at, "
                    "segmentdb_version) VALUES (?, ?, ?, ?, ?)",
                    (migration.version, migration.filename, migration.sha256, applied_at,
                     __version__))
            else:
                conn.execute(
                    "INSERT INTO migrations (version, filename, sha256, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    (migration.version, migration.filename, migration.sha256, applied_at))
        if after is not None:
            after()
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, Exception) and not isinstance(exc, MigrationError):
            names = ", ".join(m.filename for m in state.pending)
            raise MigrationError(
                f"migrating from version {state.version} failed and was rolled back "
                f"(pending: {names}): {exc}") from exc
        raise


def _run_file(conn, migration: Migration) -> None:
    try:
        statements = store_schema.statements(migration.sql)
    except ValueError as exc:
        raise MigrationError(f"migration {migration.filename!r}: {exc}; fix the file") from None
    for number, statement in enumerate(statements, 1):
        if _TRANSACTION_STATEMENT.match(_strip_comments(statement)):
            raise MigrationError(
                f"migration {migration.filename!r}, statement {number}: transaction control "
                f"({statement.split()[0]}) is not allowed; every pending migration runs in "
                "one transaction that the migrator opens and commits")
        try:
            conn.execute(statement)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, named without importing it
            raise MigrationError(
                f"migration {migration.filename!r} failed at statement {number} "
                f"({_summary(statement)}) and was rolled back: {exc}") from exc


def _record_backup(conn, state: SchemaState, backup, started: str) -> None:
    """The pre-upgrade copy, in maintenance_runs (0004) - in the migration's transaction,
    so a failed upgrade leaves no row claiming it happened."""
    if backup is None or not store_schema.table_exists(conn, "maintenance_runs"):
        return
    store_maintenance.record_run(
        conn, store_maintenance.KIND_MIGRATE_BACKUP, started, _now(),
        backup.source_bytes, backup.bytes,
        {"backup": backup.path.name, "from_version": state.version,
         "to_version": state.pending[-1].version,
         "migrations": [m.filename for m in state.pending], "pruned": list(backup.pruned),
         "segmentdb_version": __version__})


def _strip_comments(statement: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in statement.splitlines())


def _summary(statement: str) -> str:
    text = " ".join(_strip_comments(statement).split()).rstrip(";")
    return text if len(text) <= 80 else text[:77] + "..."


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
