"""migrate.upgrade, what a start runs: a backup of an existing database first, then every
pending migration in ONE transaction; newer databases and malformed files refused."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from pathlib import Path

import pytest

from segmentdb.version import __version__

from metadata_worker import migrate, store_schema
from metadata_worker.store import DB_FILENAME, connect

FIXTURE_DB = Path(__file__).resolve().parents[1] / "fixtures" / "schema-v3" / "data" / DB_FILENAME


@pytest.fixture()
def v3_database(tmp_path) -> Path:
    """A copy of the committed schema-3 database (written by the pre-0004 code)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE_DB, data / DB_FILENAME)
    return data / DB_FILENAME


@pytest.fixture()
def migrations(tmp_path) -> Path:
    """A migrations folder holding copies of the real files up to 0004."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for path in migrate.MIGRATIONS_DIR.glob("000[1-4]-*.sql"):
        shutil.copy(path, folder)
    return folder


def versions(db: Path) -> list[int]:
    with closing(connect(db)) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM migrations ORDER BY version")]


def tables(db: Path) -> set[str]:
    with closing(connect(db)) as conn:
        return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_pending_migrations_all_roll_back_together_and_the_error_names_the_backup(
        v3_database, migrations):
    (migrations / "0005-broken.sql").write_text(
        "CREATE TABLE fine (id INTEGER);\nINSERT INTO fine VALUES (1);\nTHIS IS NOT SQL;\n")
    with closing(connect(v3_database)) as conn:
        with pytest.raises(migrate.MigrationError) as info:
            migrate.upgrade(conn, v3_database, migrations)
    message = str(info.value)
    assert "'0005-broken.sql' failed at statement 3 (THIS IS NOT SQL)" in message
    assert "still at schema version 3" in message
    (backup,) = store_schema.existing_backups(v3_database)
    assert str(backup) in message and backup.name.startswith("chroma.sqlite3.pre-v0005-")
    # 0004 ran fine, but in the same transaction: nothing of it stayed.
    assert versions(v3_database) == [1, 2, 3]
    assert not {"maintenance_runs", "fine"} & tables(v3_database)
    assert versions(backup) == [1, 2, 3]

    (migrations / "0005-broken.sql").unlink()  # fixed: the next start upgrades
    with closing(connect(v3_database)) as conn:
        done = migrate.upgrade(conn, v3_database, migrations)
    assert (done.from_version, done.to_version, done.applied) == (3, 4, [4])
    assert versions(v3_database) == [1, 2, 3, 4]


def test_a_start_keeps_only_the_newest_backups(v3_database, migrations):
    made = []
    for version in range(5, 5 + store_schema.KEEP_BACKUPS + 2):
        (migrations / f"{version:04d}-step.sql").write_text(f"CREATE TABLE step{version} (x);")
        with closing(connect(v3_database)) as conn:
            made.append(migrate.upgrade(conn, v3_database, migrations).backup)
    kept = store_schema.existing_backups(v3_database)
    assert kept == made[-store_schema.KEEP_BACKUPS:]
    assert all(not p.exists() for p in made[:-store_schema.KEEP_BACKUPS])
    with closing(connect(v3_database)) as conn:
        rows = conn.execute("SELECT details_json FROM maintenance_runs "
                            "WHERE kind = 'migrate-backup' ORDER BY id").fetchall()
    # One row per backup (the first one predates the table: 0004's own transaction wrote it),
    # and each row names the backup it pruned.
    assert [json.loads(r[0])["backup"] for r in rows] == [p.name for p in made]
    assert json.loads(rows[-1][0])["pruned"] == [made[-1 - store_schema.KEEP_BACKUPS].name]


def test_a_database_from_newer_code_is_refused_naming_both_versions_and_the_release(
        v3_database, migrations):
    (migrations / "0005-future.sql").write_text("CREATE TABLE future (id INTEGER);")
    with closing(connect(v3_database)) as conn:
        migrate.upgrade(conn, v3_database, migrations)
    (migrations / "0005-future.sql").unlink()
    before = v3_database.read_bytes()
    backups = store_schema.existing_backups(v3_database)
    with closing(connect(v3_database)) as conn:
        with pytest.raises(migrate.MigrationError) as info:
            migrate.upgrade(conn, v3_database, migrations)
    message = str(info.value)
    assert f"migrated to version 5 (0005-future.sql) by segmentdb {__version__}" in message
    assert "only knows migrations up to version 4" in message
    assert "not changed" in message
    assert v3_database.read_bytes() == before
    assert store_schema.existing_backups(v3_database) == backups  # no copy taken either


def test_a_new_database_is_not_backed_up(tmp_path):
    db = tmp_path / DB_FILENAME
    with closing(connect(db)) as conn:
        done = migrate.upgrade(conn, db)
    assert done.backup is None and done.from_version == 0
    assert done.applied == [m.version for m in migrate.available()]
    assert store_schema.existing_backups(db) == []


def test_a_migration_may_not_control_the_transaction(v3_database, migrations):
    (migrations / "0005-commits.sql").write_text("CREATE TABLE a (x);\nCOMMIT;\n")
    with closing(connect(v3_database)) as conn:
        with pytest.raises(migrate.MigrationError, match="statement 2: transaction control"):
            migrate.upgrade(conn, v3_database, migrations)
    assert versions(v3_database) == [1, 2, 3]


def test_a_skipped_lower_version_is_refused(tmp_path):
    folder = tmp_path / "branch"
    folder.mkdir()
    for name in ("0001-initial.sql", "0002-segment-checkpoints.sql"):
        shutil.copy(migrate.MIGRATIONS_DIR / name, folder)
    (folder / "0004-later.sql").write_text("CREATE TABLE later (x);")
    db = tmp_path / DB_FILENAME
    with closing(connect(db)) as conn:
        assert migrate.upgrade(conn, db, folder).applied == [1, 2, 4]
        shutil.copy(migrate.MIGRATIONS_DIR / "0003-query-path.sql", folder)  # merged late
        with pytest.raises(migrate.MigrationError,
                           match="'0003-query-path.sql' .* never applied, but the database "
                                 "is already at version 4"):
            migrate.upgrade(conn, db, folder)


def test_a_chroma_database_is_not_taken_for_ours(tmp_path):
    db = tmp_path / DB_FILENAME
    with closing(connect(db)) as conn:  # chromadb's own migrations table
        conn.execute("CREATE TABLE migrations (dir TEXT, version INTEGER, filename TEXT, "
                     "sql TEXT, hash TEXT)")
        with pytest.raises(migrate.MigrationError, match="not segmentdb's"):
            migrate.upgrade(conn, db)
    with closing(connect(tmp_path / "other.sqlite3")) as conn:
        conn.execute("CREATE TABLE something (x)")
        with pytest.raises(migrate.MigrationError, match="not a segmentdb database"):
            migrate.upgrade(conn, tmp_path / "other.sqlite3")


def test_statements_split_only_where_sqlite_sees_a_complete_statement():
    script = """-- a comment; with a semicolon
CREATE TABLE t (s TEXT DEFAULT 'a;b');
CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
    UPDATE t SET s = 'x;y' WHERE rowid = new.rowid;
END;
INSERT INTO t VALUES ('1'); INSERT INTO t VALUES ('2');
-- trailing comment
"""
    found = store_schema.statements(script)
    assert len(found) == 4
    assert found[1].startswith("CREATE TRIGGER") and found[1].endswith("END;")
    assert found[3] == "INSERT INTO t VALUES ('2');"
    with pytest.raises(ValueError, match="unfinished statement"):
        store_schema.statements("CREATE TABLE a (x);\nCREATE TABLE b (y)")
