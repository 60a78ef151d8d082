"""Upgrading a data folder written at schema version 3 (tests/fixtures/schema-v3, made by
tests/fixtures/make_schema_v3_fixture.py with the code of the commit before migration 0004):
the real service starts on a copy, backs the database up first, migrates, and every record
the old code wrote is still there - ids, documents, typed metadata, float32 vectors bit for
bit - the old index folders still load, and the new bookkeeping table exists."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np

import segmentdb
from model import typed

from metadata_worker import migrate
from metadata_worker.store import connect

REPO = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema-v3"
LATEST = migrate.available()[-1].version
# SQLite header counters the online backup API rewrites in its copy: the file change counter
# (bytes 24-27), the schema cookie (40-43: bumped so connections to the destination reload
# the schema) and the version-valid-for number (92-95). Every other byte must match.
_HEADER_COUNTERS = (range(24, 28), range(40, 44), range(92, 96))


def same_database_file(a: bytes, b: bytes) -> bool:
    if len(a) != len(b):
        return False
    a, b = bytearray(a), bytearray(b)
    for field in _HEADER_COUNTERS:
        for i in field:
            a[i] = b[i] = 0
    return a == b


def _expected() -> dict:
    return json.loads((FIXTURE / "expected.json").read_text())


def _vectors(expected_collection: dict) -> np.ndarray:
    raw = base64.b64decode(expected_collection["embeddings_f32le_base64"])
    return np.frombuffer(raw, "<f4").reshape(-1, expected_collection["dimension"] or 1)


def _brute_force(space: str, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    x, q = vectors.astype(np.float64), query.astype(np.float64)
    if space == "l2":
        dist = ((x - q) ** 2).sum(axis=1)
    else:
        dist = 1 - (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    return list(np.argsort(dist, kind="stable")[:k])


def _check_every_record(address: str, rng) -> None:
    expected = _expected()
    for want in expected["collections"]:
        with closing(segmentdb.Client(address, tenant=want["tenant"], database=want["database"],
                                      timeout=60)) as client:
            collection = client.get_collection(want["name"])
            assert typed(collection.metadata) == typed(want["metadata"])
            assert collection.configuration == want["configuration"]
            got = collection.get(include=["embeddings", "documents", "metadatas"])
            assert got["ids"] == want["ids"]
            assert got["documents"] == want["documents"]
            assert typed(got["metadatas"]) == typed(want["metadatas"])
            assert collection.count() == len(want["ids"])
            if not want["ids"]:
                continue
            vectors = _vectors(want)
            assert np.asarray(got["embeddings"], "<f4").tobytes() == vectors.tobytes()
            deleted = expected["deleted_ids"][want["name"]]
            assert collection.get(ids=deleted)["ids"] == []
            space = want["configuration"]["hnsw"]["space"]
            queries = rng.standard_normal((5, want["dimension"])).astype(np.float32)
            found = collection.query(query_embeddings=queries, n_results=5)["ids"]
            for query, ids in zip(queries, found):
                assert ids == [want["ids"][i] for i in _brute_force(space, vectors, query, 5)]


def test_a_schema_3_folder_upgrades_on_start_with_a_backup_and_keeps_every_record(
        tmp_path, lifecycle):
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", data)
    original = (FIXTURE / "data" / "chroma.sqlite3").read_bytes()
    with closing(connect(data / "chroma.sqlite3")) as conn:
        assert migrate.inspect(conn).version == 3  # the fixture really is version 3

    rng = np.random.default_rng(5)
    service = lifecycle.start_service(data, vector_workers=1)
    try:
        _check_every_record(service.address, rng)
        with closing(segmentdb.Client(service.address, timeout=60)) as client:
            books = client.get_collection("books")  # and it takes new writes
            books.add(ids=["after-upgrade"], embeddings=np.full((1, 8), 9.0, np.float32))
            assert books.query(query_embeddings=np.full((1, 8), 9.0, np.float32),
                               n_results=1)["ids"] == [["after-upgrade"]]
    finally:
        assert lifecycle.stop_service(service) == 0, service.log()
    log = service.log()
    # The old index folders were loaded as they were, not rebuilt.
    assert "loaded 38 vectors" in log and "loaded 27 vectors" in log, log
    assert "will be rebuilt" not in log, log

    backups = sorted(data.glob(f"chroma.sqlite3.pre-v{LATEST:04d}-*.bak"))
    assert len(backups) == 1, sorted(p.name for p in data.iterdir())
    assert same_database_file(backups[0].read_bytes(), original)
    assert str(backups[0]) in log  # the start said where the copy is

    with closing(connect(data / "chroma.sqlite3")) as conn:
        versions = conn.execute("SELECT version, segmentdb_version FROM migrations "
                                "ORDER BY version").fetchall()
        assert [v for v, _ in versions] == list(range(1, LATEST + 1))
        assert versions[3] == (4, segmentdb.__version__) and versions[2] == (3, None)
        runs = conn.execute("SELECT kind, bytes_before, bytes_after, details_json "
                            "FROM maintenance_runs").fetchall()
    assert len(runs) == 1 and runs[0][0] == "migrate-backup"
    assert runs[0][1] == len(original) and runs[0][2] == len(original)
    details = json.loads(runs[0][3])
    assert details["backup"] == backups[0].name
    assert details["from_version"] == 3 and details["to_version"] == LATEST

    # A second start has nothing to migrate: no second backup, same records.
    again = lifecycle.start_service(data, vector_workers=1)
    try:
        with closing(segmentdb.Client(again.address, timeout=60)) as client:
            assert client.get_collection("books").count() == 39
    finally:
        assert lifecycle.stop_service(again) == 0, again.log()
    assert sorted(data.glob("chroma.sqlite3.pre-v*.bak")) == backups


def test_serve_refuses_a_database_from_a_newer_segmentdb_and_leaves_it_alone(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", data)
    newer = tmp_path / "newer-migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, newer)
    (newer / f"{LATEST + 1:04d}-from-the-future.sql").write_text("CREATE TABLE future (x);")
    with closing(connect(data / "chroma.sqlite3")) as conn:  # as the newer release would
        migrate.upgrade(conn, data / "chroma.sqlite3", newer)
    before = (data / "chroma.sqlite3").read_bytes()
    backups = sorted(data.glob("*.bak"))

    served = subprocess.run(
        [sys.executable, "-m", "segmentdb.cli", "serve", "--path", str(data), "--port", "0",
         "--vector-workers", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert served.returncode == 1
    assert f"migrated to version {LATEST + 1} ({LATEST + 1:04d}-from-the-future.sql) by " \
           f"segmentdb {segmentdb.__version__}" in served.stderr
    assert f"only knows migrations up to version {LATEST}" in served.stderr
    assert "segmentdb serving on" not in served.stderr
    assert (data / "chroma.sqlite3").read_bytes() == before
    assert sorted(data.glob("*.bak")) == backups
