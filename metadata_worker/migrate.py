"""Forward-only schema migrations from numbered `.sql` files, checked by sha256.

`migrations/NNNN-description.sql` files are applied in version order. Each file and its
`migrations` row commit in ONE transaction, so a crash mid-migration leaves the database
at the previous version (Chroma's `executescript()` migrations are not atomic: it commits
before running). On every start the files already applied are re-hashed; an edited or
missing file, or a database migrated by newer code, stops start-up with a clear message.

Takes an open connection in autocommit mode (`isolation_level=None`); imports no sqlite3.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from segmentdb import errors

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILENAME = re.compile(r"^(\d{4})-[a-z0-9][a-z0-9_-]*\.sql$")

_CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS migrations (
    version INTEGER PRIMARY KEY,
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


class MigrationError(errors.FailedPreconditionError):
    """The database and the migration files disagree; the worker must not start."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str
    sha256: str


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


def apply(conn, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Verify applied migrations, then apply pending ones. Returns the versions applied."""
    conn.execute(_CREATE_MIGRATIONS_TABLE)
    files = available(directory)
    by_version = {m.version: m for m in files}
    applied = conn.execute(
        "SELECT version, filename, sha256 FROM migrations ORDER BY version"
    ).fetchall()
    known_max = files[-1].version if files else 0
    for version, filename, sha256 in applied:
        migration = by_version.get(version)
        if migration is None:
            if version > known_max:
                raise MigrationError(
                    f"the database was migrated to version {version} ({filename}) but this "
                    f"segmentdb only knows migrations up to version {known_max}; run a newer "
                    "segmentdb on this data folder (downgrades are not supported)"
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
    newly = []
    for migration in files:
        if migration.version in done:
            continue
        _apply_one(conn, migration)
        newly.append(migration.version)
    return newly


def _apply_one(conn, migration: Migration) -> None:
    # With isolation_level=None executescript() commits nothing itself: the script's own
    # BEGIN keeps the transaction open so the bookkeeping row joins it before COMMIT.
    try:
        conn.executescript("BEGIN IMMEDIATE;\n" + migration.sql + "\n;")
        conn.execute(
            "INSERT INTO migrations (version, filename, sha256, applied_at) VALUES (?, ?, ?, ?)",
            (migration.version, migration.filename, migration.sha256,
             datetime.now(timezone.utc).isoformat()),
        )
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, Exception) and not isinstance(exc, MigrationError):
            raise MigrationError(
                f"migration {migration.filename!r} failed and was rolled back: {exc}"
            ) from exc
        raise
