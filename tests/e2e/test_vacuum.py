"""Vacuum, online (`segmentdb vacuum --target`, AdminService.Vacuum) and offline
(`segmentdb vacuum --path`): deleting half a collection and vacuuming halves its disk use;
every remaining record and exact query answer survives; repeated upserts of the same data
reach a plateau instead of growing.

Disk use is measured the way the vacuum reports it: chroma.sqlite3 + its -wal file + the
index folders (segmentdb.maintenance)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import segmentdb
from model import typed
from segmentdb.maintenance import index_bytes, sqlite_bytes

from metadata_worker.store import DB_FILENAME, connect_readonly

REPO = Path(__file__).resolve().parents[2]
N, DIM = 2000, 64
# SQLite's auto-checkpoint runs once the -wal file passes 1000 pages of 4 KiB.
WAL_ALLOWANCE = 1000 * 4096


def disk(path: Path) -> tuple[int, int]:
    return sqlite_bytes(path), index_bytes(path)


def about(reported: int, measured: int) -> bool:
    """The vacuum counts the segment folders; index/ also holds the workers' small
    .working-set-*.json files (a few hundred bytes)."""
    return abs(reported - measured) <= 4096


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def records(rng) -> dict:
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    return {"ids": [f"r{i:05d}" for i in range(N)], "embeddings": vectors,
            "documents": [f"record {i} " * 6 for i in range(N)],
            "metadatas": [{"i": i, "even": i % 2 == 0, "x": i / 7, "tag": f"t{i % 13}",
                           "list": [i, i + 1]} for i in range(N)]}


def check_kept(collection, data: dict, keep: list[int], rng) -> None:
    """Exactly the kept records, field for field, and queries that match brute force."""
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    assert got["ids"] == [data["ids"][i] for i in keep]
    assert got["documents"] == [data["documents"][i] for i in keep]
    assert typed(got["metadatas"]) == typed([data["metadatas"][i] for i in keep])
    kept_vectors = data["embeddings"][keep]
    assert np.asarray(got["embeddings"], np.float32).tobytes() == kept_vectors.tobytes()
    queries = rng.standard_normal((8, DIM)).astype(np.float32)
    found = collection.query(query_embeddings=queries, n_results=10, include=["distances"])
    for query, ids in zip(queries, found["ids"]):
        exact = ((kept_vectors.astype(np.float64) - query) ** 2).sum(axis=1)
        assert ids == [data["ids"][keep[i]] for i in np.argsort(exact, kind="stable")[:10]]


def test_online_vacuum_after_deleting_half_halves_disk_and_keeps_every_record(
        tmp_path, lifecycle):
    path = tmp_path / "data"
    rng = np.random.default_rng(11)
    data = records(rng)
    service = lifecycle.start_service(path, vector_workers=2)
    try:
        with closing(segmentdb.Client(service.address, timeout=120)) as client:
            half = client.create_collection("half")
            half.add(**data)
            half.query(query_embeddings=data["embeddings"][:1], n_results=1)
            baseline = client.vacuum()  # everything saved and compact: the "before"
            assert [s["rebuilt"] for s in baseline["segments"]] == [False]
            full_sqlite, full_index = disk(path)
            assert full_index > 0 and about(baseline["index_bytes_after"], full_index)

            keep = list(range(1, N, 2))
            assert half.delete(ids=data["ids"][0::2]) == {"deleted": N // 2}
            half.query(query_embeddings=data["embeddings"][:1], n_results=1)
            assert sum(disk(path)) >= 0.9 * (full_sqlite + full_index)  # nothing freed yet

            # A stopped-folder vacuum is refused while the service holds the folder.
            refused = cli("vacuum", "--path", str(path))
            assert refused.returncode == 1
            assert "already using" in refused.stderr and refused.stderr.count("\n") == 1

            done = cli("vacuum", "--target", service.address, "--json")
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout)
            sqlite_after, index_after = disk(path)

            (segment,) = result["segments"]
            assert segment["rebuilt"] and segment["error"] == ""
            assert (segment["live_count"], segment["deleted_count"]) == (N // 2, N // 2)
            assert result["index_bytes_after"] == segment["bytes_after"]
            assert about(result["index_bytes_after"], index_after)
            assert result["bytes_after"] == result["sqlite_bytes_after"] + result["index_bytes_after"]
            assert result["bytes_before"] > result["bytes_after"]
            # Half the records: the index halves, SQLite nearly (its schema and indexes of
            # the collection's keys are fixed costs), the total with a margin for both.
            assert index_after <= 0.55 * full_index, (index_after, full_index)
            assert sqlite_after <= 0.65 * full_sqlite, (sqlite_after, full_sqlite)
            assert sqlite_after + index_after <= 0.62 * (full_sqlite + full_index)
            assert result["log_entries_after"] == 0

            check_kept(half, data, keep, rng)
            half.add(ids=["new"], embeddings=np.zeros((1, DIM), np.float32))
            assert half.get(ids=["new"])["ids"] == ["new"]

        with closing(connect_readonly(path / DB_FILENAME)) as conn:
            runs = conn.execute("SELECT id, kind, bytes_before, bytes_after, details_json "
                                "FROM maintenance_runs WHERE kind = 'vacuum' ORDER BY id"
                                ).fetchall()
        assert [r[0] for r in runs][-1] == result["maintenance_run_id"] and len(runs) == 2
        details = json.loads(runs[-1][4])
        assert runs[-1][2:4] == (result["bytes_before"], result["bytes_after"])
        assert details["mode"] == "online" and details["index_segments_rebuilt"] == 1
    finally:
        assert lifecycle.stop_service(service) == 0, service.log()


def test_offline_vacuum_rebuilds_saved_indexes_removes_orphans_and_the_folder_serves(
        tmp_path, lifecycle):
    path = tmp_path / "data"
    rng = np.random.default_rng(12)
    data = records(rng)
    service = lifecycle.start_service(path, vector_workers=1)
    try:
        with closing(segmentdb.Client(service.address, timeout=120)) as client:
            half = client.create_collection("half")
            half.add(**data)
            half.query(query_embeddings=data["embeddings"][:1], n_results=1)  # loaded
            half.delete(ids=data["ids"][0::2])
            half.query(query_embeddings=data["embeddings"][:1], n_results=1)  # deletes applied
            client.create_collection("never-written")
    finally:
        assert lifecycle.stop_service(service) == 0, service.log()  # saves the index
    orphan = path / "index" / str(uuid.uuid4())
    orphan.mkdir()
    (orphan / "hnsw_index.bin").write_bytes(b"\0" * 100_000)
    before = disk(path)

    done = cli("vacuum", "--path", str(path), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    after = disk(path)
    assert result["mode"] == "offline" and result["orphan_folders_removed"] == [orphan.name]
    assert not orphan.exists()
    (segment,) = result["segments"]  # the collection without vectors has no index
    assert segment["rebuilt"] and segment["deleted_count"] == N // 2
    assert result["sqlite_bytes_after"] == after[0]
    assert about(result["index_bytes_after"], after[1])
    assert after[1] <= 0.55 * (before[1] - 100_000)
    assert sum(after) <= 0.62 * sum(before)

    again = lifecycle.start_service(path, vector_workers=1)
    try:
        with closing(segmentdb.Client(again.address, timeout=120)) as client:
            check_kept(client.get_collection("half"), data, list(range(1, N, 2)), rng)
    finally:
        assert lifecycle.stop_service(again) == 0, again.log()
    assert f"loaded {N // 2} vectors" in again.log()  # the rebuilt folder, not a rebuild


@pytest.mark.parametrize("fraction", [0.0, 1.5, float("nan"), -0.2])
def test_a_vacuum_threshold_outside_0_1_is_refused_before_anything_runs(client, fraction):
    with pytest.raises(segmentdb.errors.InvalidArgumentError, match="min_deleted_fraction"):
        client.vacuum(min_deleted_fraction=fraction)


def test_repeated_upserts_of_the_same_data_reach_a_plateau(tmp_path, lifecycle):
    """What "without bound" needs: upserting existing ids replaces rows and index entries in
    place (labels are stable), freed SQLite pages are reused, and the log is purged as the
    segment saves. What remains is the -wal file, which SQLite rewinds but does not shrink
    after each checkpoint: it stops at its high-water mark, the auto-checkpoint size (1000
    pages, 4 MiB) plus a write or two. So: flat from round 10 to 30; round 30 within 1.5x round 3
    plus that -wal allowance; and a vacuum brings round 30 back to round 3's compact size
    (the -wal file truncated, free pages dropped)."""
    path = tmp_path / "data"
    rng = np.random.default_rng(13)
    n = 400
    batch = {"ids": [f"u{i}" for i in range(n)],
             "embeddings": rng.standard_normal((n, 32)).astype(np.float32),
             "documents": [f"the same text {i} " * 4 for i in range(n)],
             "metadatas": [{"i": i, "tag": f"t{i % 7}", "l": [i, -i]} for i in range(n)]}
    service = lifecycle.start_service(path, vector_workers=1)
    sizes, vacuumed = {}, {}
    try:
        with closing(segmentdb.Client(service.address, timeout=120)) as client:
            same = client.create_collection("same")
            for round_ in range(1, 31):
                same.upsert(**batch)
                same.query(query_embeddings=batch["embeddings"][:1], n_results=1)
                if round_ in (3, 10, 30):
                    sizes[round_] = sum(disk(path))
                if round_ in (3, 30):
                    vacuumed[round_] = client.vacuum()["bytes_after"]
            assert client.stats()["storage"]["log_entries"] <= n
            assert same.count() == n
    finally:
        assert lifecycle.stop_service(service) == 0, service.log()
    # Flat from round 10 to 30: unbounded growth would add ~a round's write (~0.6 MB) per
    # round, over 3x the size by round 30; the margin allows the -wal file an extra write or two
    # when a checkpoint could not rewind it (a reader on an older snapshot).
    assert sizes[30] <= 1.35 * sizes[10], sizes
    assert sizes[30] <= 1.5 * sizes[3] + WAL_ALLOWANCE, sizes
    assert vacuumed[30] <= 1.1 * vacuumed[3], vacuumed
