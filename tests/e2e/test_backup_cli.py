"""`segmentdb backup` / `segmentdb restore` as a user runs them (subprocesses), a backup
folder served as it is, and the seed's move: stop, zip the folder, unzip elsewhere, serve."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import zipfile
from contextlib import closing
from pathlib import Path

import numpy as np

import segmentdb
from metadata_worker import migrate
from model import typed

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _contents(collection, queries) -> dict:
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    hits = collection.query(query_embeddings=queries, n_results=7, include=["distances"])
    return {"ids": got["ids"], "documents": got["documents"],
            "metadatas": typed(got["metadatas"]),
            "embeddings": np.asarray(got["embeddings"]).tobytes(),
            "query": hits["ids"], "distances": np.round(hits["distances"], 5).tolist()}


def test_cli_backup_restore_and_serving_a_backup_folder(service, make_collection, rng, tmp_path,
                                                        lifecycle):
    books = make_collection("books", metadata={"shelf": "a"})
    books.add(ids=[f"b{i}" for i in range(500)],
              embeddings=rng.standard_normal((500, 12)).astype(np.float32),
              documents=[f"book number {i}" for i in range(500)],
              metadatas=[{"i": i, "even": i % 2 == 0, "tags": ["x", str(i % 5)]}
                         for i in range(500)])
    queries = rng.standard_normal((3, 12)).astype(np.float32)
    expected = _contents(books, queries)

    done = _cli("backup", "--target", service.address, "--out", str(tmp_path / "cli.tgz"),
                "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout holds the JSON only
    manifest = summary["manifest"]
    assert summary["format"] == "tar.gz" and summary["bytes"] == (tmp_path / "cli.tgz").stat().st_size
    assert manifest["format_version"] == 1 and manifest["segmentdb_version"] == segmentdb.__version__
    assert manifest["schema_version"] == migrate.available()[-1].version
    assert [f["path"] for f in manifest["files"]] == ["chroma.sqlite3"]
    with tarfile.open(tmp_path / "cli.tgz") as tar:
        assert sorted(tar.getnames()) == ["cli", "cli/backup-manifest.json", "cli/chroma.sqlite3"]

    done = _cli("backup", "--target", service.address, "--out", str(tmp_path / "folder"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("backup of ") and str(tmp_path / "folder") in done.stdout
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == [
        "backup-manifest.json", "chroma.sqlite3"]

    done = _cli("restore", "--from", str(tmp_path / "cli.tgz"), "--path",
                str(tmp_path / "restored"), "--json")
    assert done.returncode == 0, done.stderr
    restored = json.loads(done.stdout)
    assert restored["manifest"] == manifest
    assert _sha(tmp_path / "restored" / "chroma.sqlite3") == manifest["files"][0]["sha256"]
    assert sorted(p.name for p in (tmp_path / "restored").iterdir()) == ["chroma.sqlite3"]

    # A backup folder is a plain data folder: serve it as it is.
    copy = lifecycle.start_service(tmp_path / "folder")
    try:
        with closing(segmentdb.Client(copy.address)) as client:
            served = client.get_collection(books.name)
            assert served.metadata == {"shelf": "a"}
            assert _contents(served, queries) == expected
    finally:
        code = lifecycle.stop_service(copy)
    assert code == 0, copy.log()


def test_cli_backup_errors_are_one_line(tmp_path):
    done = _cli("backup", "--target", "127.0.0.1:1", "--out", str(tmp_path / "b"),
                "--timeout", "20")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "cannot reach segmentdb at 127.0.0.1:1" in done.stderr
    assert not (tmp_path / "b").exists()
    done = _cli("restore", "--from", str(tmp_path / "missing"), "--path", str(tmp_path / "d"))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "does not exist" in done.stderr
    help_text = _cli("backup", "--help").stdout
    assert "example:" in help_text and "segmentdb backup --target" in help_text


def test_the_seeds_move_stop_zip_unzip_serve(tmp_path, rng, lifecycle):
    original = lifecycle.start_service(tmp_path / "original")
    try:
        with closing(segmentdb.Client(original.address)) as client:
            notes = client.create_collection("notes", metadata={"kind": "small"})
            notes.add(ids=[f"n{i}" for i in range(40)],
                      embeddings=rng.standard_normal((40, 6)).astype(np.float32),
                      documents=[f"note {i}" for i in range(40)],
                      metadatas=[{"i": i, "s": f"v{i % 3}"} for i in range(40)])
            # Enough records that the index is HNSW (not exact) and saved to index/ at stop.
            vectors = client.create_collection("vectors", configuration={"hnsw": {"space": "cosine"}})
            vectors.add(ids=[f"v{i}" for i in range(6000)],
                        embeddings=rng.standard_normal((6000, 16)).astype(np.float32))
            q6 = rng.standard_normal((3, 6)).astype(np.float32)
            q16 = rng.standard_normal((4, 16)).astype(np.float32)
            before = {"notes": _contents(notes, q6),
                      "vectors": vectors.query(query_embeddings=q16, n_results=10,
                                               include=["distances"])}
    finally:
        code = lifecycle.stop_service(original)
    assert code == 0, original.log()

    archive = tmp_path / "segmentdb_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(original.path.rglob("*")):
            zf.write(path, path.relative_to(original.path))
    saved_indexes = [n for n in zipfile.ZipFile(archive).namelist() if n.endswith("hnsw_index.bin")]
    assert saved_indexes, "the stopped service saved no index folder to move"
    for path in sorted(original.path.rglob("*"), reverse=True):  # the copy must stand alone
        path.rmdir() if path.is_dir() else path.unlink()
    original.path.rmdir()

    moved_path = tmp_path / "elsewhere" / "segmentdb_data"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(moved_path)
    moved = lifecycle.start_service(moved_path)
    try:
        with closing(segmentdb.Client(moved.address)) as client:
            after_notes = _contents(client.get_collection("notes"), q6)
            after_vectors = client.get_collection("vectors").query(
                query_embeddings=q16, n_results=10, include=["distances"])
            workers = client.stats()["workers"]
    finally:
        code = lifecycle.stop_service(moved)
    assert code == 0, moved.log()
    assert after_notes == before["notes"]
    assert after_vectors["ids"] == before["vectors"]["ids"]
    np.testing.assert_allclose(after_vectors["distances"], before["vectors"]["distances"],
                               atol=1e-6)
    # The moved HNSW files were loaded as they are, not rebuilt from SQLite.
    assert sum(w["loads"] for w in workers) >= 1
    assert sum(w["rebuilds"] for w in workers) == 0, workers
