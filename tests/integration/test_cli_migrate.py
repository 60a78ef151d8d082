"""`segmentdb migrate --path DIR [--dry-run] [--json]` on copies of the committed schema-3
folder: the dry run lists what would run and changes nothing; the real run backs up and
migrates; both refuse what they must (a running worker's folder, a newer database, no
database), with one line on stderr and exit 1."""

from __future__ import annotations

import hashlib
import json
import shutil
from contextlib import closing
from pathlib import Path

import pytest

from processes import start
from segmentdb import cli

from metadata_worker import migrate
from metadata_worker.store import DB_FILENAME, connect

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema-v3" / "data"
LATEST = migrate.available()[-1]


@pytest.fixture()
def v3_folder(tmp_path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(FIXTURE, folder)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_lists_the_pending_migrations_and_changes_nothing(v3_folder, capsys):
    before = (v3_folder / DB_FILENAME).read_bytes()
    code, out, _ = run(capsys, "migrate", "--path", str(v3_folder), "--dry-run", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["dry_run"] and result["schema_version"] == 3
    assert result["known_version"] == LATEST.version
    files = sorted(migrate.MIGRATIONS_DIR.glob("*.sql"))[3:]
    assert result["pending"] == [
        {"version": int(p.name[:4]), "filename": p.name,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]
    assert (v3_folder / DB_FILENAME).read_bytes() == before
    assert not list(v3_folder.glob("*.bak"))

    code, out, _ = run(capsys, "migrate", "--path", str(v3_folder), "--dry-run")
    assert code == 0 and "0004-maintenance-runs.sql" in out and "nothing changed" in out


def test_migrate_backs_up_then_applies_and_a_second_run_has_nothing_to_do(v3_folder, capsys):
    code, out, _ = run(capsys, "migrate", "--path", str(v3_folder), "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["from_version"], result["schema_version"]) == (3, LATEST.version)
    assert [m["version"] for m in result["applied"]] == list(range(4, LATEST.version + 1))
    backup = Path(result["backup"])
    assert backup.parent == v3_folder and backup.is_file()
    assert backup.name.startswith(f"{DB_FILENAME}.pre-v{LATEST.version:04d}-")
    with closing(connect(backup)) as conn:
        assert migrate.inspect(conn).version == 3
    with closing(connect(v3_folder / DB_FILENAME)) as conn:
        assert migrate.inspect(conn).version == LATEST.version

    code, out, _ = run(capsys, "migrate", "--path", str(v3_folder))
    assert code == 0 and "nothing to migrate" in out
    assert list(v3_folder.glob("*.bak")) == [backup]


def test_migrate_is_refused_while_a_metadata_worker_holds_the_folder(tmp_path, capsys):
    folder = tmp_path / "served"
    worker = start("metadata_worker", tmp_path, "metadata-worker", "--path", str(folder))
    try:
        code, _, err = run(capsys, "migrate", "--path", str(folder))
        assert code == 1 and err.count("\n") == 1
        assert "already using" in err and f"pid {worker.proc.pid}" in err
        # Looking is allowed: the running worker's database is up to date.
        code, out, _ = run(capsys, "migrate", "--path", str(folder), "--dry-run", "--json")
        assert code == 0 and json.loads(out)["pending"] == []
    finally:
        assert worker.stop() == 0


def test_a_database_from_a_newer_segmentdb_is_refused_by_both(v3_folder, tmp_path, capsys):
    newer = tmp_path / "newer-migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, newer)
    future = LATEST.version + 1
    (newer / f"{future:04d}-from-the-future.sql").write_text("CREATE TABLE future (x);")
    with closing(connect(v3_folder / DB_FILENAME)) as conn:
        migrate.upgrade(conn, v3_folder / DB_FILENAME, newer)
    before = (v3_folder / DB_FILENAME).read_bytes()
    for flags in (["--dry-run"], []):
        code, _, err = run(capsys, "migrate", "--path", str(v3_folder), *flags)
        assert code == 1 and err.count("\n") == 1
        assert f"migrated to version {future}" in err
        assert f"only knows migrations up to version {LATEST.version}" in err
    assert (v3_folder / DB_FILENAME).read_bytes() == before


def test_a_folder_without_a_database_is_an_error_not_a_new_database(tmp_path, capsys):
    code, _, err = run(capsys, "migrate", "--path", str(tmp_path), "--dry-run")
    assert code == 1 and "holds no chroma.sqlite3" in err
    assert not (tmp_path / DB_FILENAME).exists()


def test_migrate_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        cli.main(["migrate", "--help"])
    out = capsys.readouterr().out
    assert "example:\n  segmentdb migrate --path" in out and "--dry-run" in out
