"""Migrations: applied once, atomically, checked by sha256; unknown newer ones refused."""

from __future__ import annotations

import shutil

import pytest

from metadata_worker import migrate
from metadata_worker.store import Store, connect


@pytest.fixture()
def migrations(tmp_path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    shutil.copy(migrate.MIGRATIONS_DIR / "0001-initial.sql", folder)
    return folder


def applied(conn):
    return conn.execute("SELECT version, filename FROM migrations ORDER BY version").fetchall()


def test_fresh_database_gets_every_migration_once(tmp_path, migrations):
    conn = connect(tmp_path / "db.sqlite3")
    assert migrate.apply(conn, migrations) == [1]
    assert migrate.apply(conn, migrations) == []
    assert applied(conn) == [(1, "0001-initial.sql")]
    (migrations / "0002-add-notes.sql").write_text("CREATE TABLE notes (id INTEGER PRIMARY KEY);")
    assert migrate.apply(conn, migrations) == [2]
    assert conn.execute("SELECT COUNT(*) FROM notes").fetchone() == (0,)


def test_an_edited_applied_migration_stops_start_up(tmp_path, migrations):
    conn = connect(tmp_path / "db.sqlite3")
    migrate.apply(conn, migrations)
    path = migrations / "0001-initial.sql"
    path.write_text(path.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(migrate.MigrationError, match="'0001-initial.sql' \\(version 1\\) was edited"):
        migrate.apply(conn, migrations)


def test_a_missing_applied_migration_stops_start_up(tmp_path, migrations):
    conn = connect(tmp_path / "db.sqlite3")
    (migrations / "0002-more.sql").write_text("CREATE TABLE more (id INTEGER);")
    (migrations / "0003-last.sql").write_text("CREATE TABLE last (id INTEGER);")
    migrate.apply(conn, migrations)
    (migrations / "0002-more.sql").unlink()
    with pytest.raises(migrate.MigrationError, match="'0002-more.sql' .* file is missing"):
        migrate.apply(conn, migrations)


def test_a_database_from_newer_code_is_refused_naming_both_versions(tmp_path, migrations):
    conn = connect(tmp_path / "db.sqlite3")
    (migrations / "0002-future.sql").write_text("CREATE TABLE future (id INTEGER);")
    migrate.apply(conn, migrations)
    (migrations / "0002-future.sql").unlink()
    with pytest.raises(migrate.MigrationError) as info:
        migrate.apply(conn, migrations)
    assert "migrated to version 2" in str(info.value)
    assert "only knows migrations up to version 1" in str(info.value)


def test_a_failing_migration_is_rolled_back_entirely(tmp_path, migrations):
    conn = connect(tmp_path / "db.sqlite3")
    migrate.apply(conn, migrations)
    (migrations / "0002-broken.sql").write_text(
        "CREATE TABLE half (id INTEGER);\nINSERT INTO half VALUES (1);\nTHIS IS NOT SQL;\n")
    with pytest.raises(migrate.MigrationError, match="'0002-broken.sql' failed at statement 3 .THIS IS NOT SQL. and was rolled back"):
        migrate.apply(conn, migrations)
    assert not conn.in_transaction
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert applied(conn) == [(1, "0001-initial.sql")]


def test_badly_named_files_are_refused(migrations):
    (migrations / "2-oops.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="NNNN-description.sql"):
        migrate.available(migrations)


def test_the_store_refuses_to_open_an_edited_database(tmp_path):
    Store(tmp_path / "data").close()
    conn = connect(tmp_path / "data" / "chroma.sqlite3")
    conn.execute("UPDATE migrations SET sha256 = 'x' WHERE version = 1")
    conn.close()
    with pytest.raises(migrate.MigrationError, match="was edited"):
        Store(tmp_path / "data")
    # the refusal released the folder lock: once repaired, the store opens
    conn = connect(tmp_path / "data" / "chroma.sqlite3")
    sha = migrate.available()[0].sha256
    conn.execute("UPDATE migrations SET sha256 = ? WHERE version = 1", (sha,))
    conn.close()
    Store(tmp_path / "data").close()
