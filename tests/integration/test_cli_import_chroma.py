"""`segmentdb import-chroma` as a command: its refusals, its errors, and all-or-nothing output.

Runs the real CLI in a subprocess on copies of the committed chromadb fixtures.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "chroma" / "1.5.9" / "chroma_data"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def _one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("segmentdb: error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


@pytest.fixture()
def chroma_copy(tmp_path) -> Path:
    folder = tmp_path / "chroma"
    shutil.copytree(FIXTURE, folder)
    return folder


def test_help_shows_an_example():
    done = run_cli("import-chroma", "--help")
    assert done.returncode == 0
    assert "segmentdb import-chroma --from ./chroma_data --path ./segmentdb_data" in done.stdout
    assert "import-chroma" in run_cli("--help").stdout


def test_an_empty_existing_folder_is_accepted(tmp_path):
    dest = tmp_path / "empty"
    dest.mkdir()
    done = run_cli("import-chroma", "--from", str(FIXTURE), "--path", str(dest))
    assert done.returncode == 0, done.stderr
    assert "imported 1709 records in 5 collection(s)" in done.stdout
    assert (dest / "chroma.sqlite3").is_file()
    assert _leftovers(tmp_path) == ["empty"]


def test_a_folder_holding_a_database_is_refused_and_left_alone(tmp_path):
    dest = tmp_path / "data"
    assert run_cli("import-chroma", "--from", str(FIXTURE), "--path", str(dest)).returncode == 0
    before = {p.name: p.read_bytes() for p in dest.iterdir() if p.is_file()}
    done = run_cli("import-chroma", "--from", str(FIXTURE), "--path", str(dest))
    _one_line_error(done, f"--path: {dest} holds a segmentdb database", "never merges")
    assert {p.name: p.read_bytes() for p in dest.iterdir() if p.is_file()} == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    _one_line_error(run_cli("import-chroma", "--from", str(FIXTURE), "--path", str(other)),
                    "is not empty")
    assert _leftovers(other) == ["notes.txt"]


def test_sources_that_are_not_chroma_folders(tmp_path):
    _one_line_error(run_cli("import-chroma", "--from", str(tmp_path / "nope"), "--path",
                            str(tmp_path / "a")), "chroma.sqlite3 does not exist")
    segmentdb_folder = tmp_path / "segmentdb"
    assert run_cli("import-chroma", "--from", str(FIXTURE), "--path",
                   str(segmentdb_folder)).returncode == 0
    _one_line_error(run_cli("import-chroma", "--from", str(segmentdb_folder), "--path",
                            str(tmp_path / "b")), "is a segmentdb database, not a Chroma one")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "chroma.sqlite3").write_bytes(b"not sqlite at all" * 100)
    _one_line_error(run_cli("import-chroma", "--from", str(junk), "--path", str(tmp_path / "c")),
                    "cannot be read as SQLite")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert not (tmp_path / "c").exists()


def test_into_the_chroma_folder_itself_is_refused(chroma_copy):
    _one_line_error(run_cli("import-chroma", "--from", str(chroma_copy), "--path",
                            str(chroma_copy / "inside")), "inside the Chroma folder")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_pickle_stops_the_import_runs_nothing_and_leaves_nothing(chroma_copy,
                                                                            tmp_path):
    marker = tmp_path / "pwned"
    target = next(chroma_copy.glob("*/index_metadata.pickle"))
    target.write_bytes(pickle.dumps(_Payload(marker)))
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "data"
    done = run_cli("import-chroma", "--from", str(chroma_copy), "--path", str(dest))
    _one_line_error(done, str(target), "refusing to load", "posix.system")
    assert not marker.exists()
    assert _leftovers(out) == []  # neither --path nor the hidden folder it was built in


def test_a_truncated_index_file_stops_the_import_with_its_name(chroma_copy, tmp_path):
    data = next(chroma_copy.glob("*/index_metadata.pickle")).parent / "data_level0.bin"
    data.write_bytes(data.read_bytes()[:4096])
    out = tmp_path / "out"
    out.mkdir()
    done = run_cli("import-chroma", "--from", str(chroma_copy), "--path", str(out / "data"))
    _one_line_error(done, str(data), "truncated")
    assert _leftovers(out) == []
    with_debug = run_cli("--debug", "import-chroma", "--from", str(chroma_copy), "--path",
                         str(out / "data"))
    assert with_debug.returncode == 1 and "Traceback" in with_debug.stderr


def test_json_report(tmp_path):
    done = run_cli("import-chroma", "--from", str(FIXTURE), "--path", str(tmp_path / "d"),
                   "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["chroma_format"] == "chromadb 1.x (Rust)"
    assert report["tenants"] == ["default_tenant", "acme"]
    assert sum(c["records"] for c in report["collections"]) == 1709
    papers = next(c for c in report["collections"] if c["name"] == "papers_cosine")
    assert papers["hnsw"]["ef_search"] == 40 and papers["hnsw_source"] == "schema_str"
