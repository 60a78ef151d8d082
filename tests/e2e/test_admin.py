"""AdminService through the SDK and the CLI, against `segmentdb serve` with a small budget.

One vector worker with a 6 MiB budget: a 2,000 x 64 collection accounts ~3.8 MiB, so two
such collections do not fit and every query of another one evicts (memory pressure on demand).
Collections stay under EXACT_SEARCH_MAX records, so answers must equal numpy's exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import segmentdb
from segmentdb import errors

REPO = Path(__file__).resolve().parents[2]
BUDGET_BYTES = 6 * 1024 * 1024
K = 5

WORKER_FIELDS = {"address", "reachable", "error", "memory_budget_bytes", "loaded_bytes",
                 "resident_bytes", "peak_resident_bytes", "hits", "misses", "loads",
                 "rebuilds", "evictions", "persists", "load_seconds_total", "load_seconds_max",
                 "idle_ttl_seconds", "segments"}
SEGMENT_FIELDS = {"segment_id", "collection_id", "bytes", "live_count", "dimension", "pinned",
                  "idle_seconds", "applied_sequence", "persisted_sequence", "ef_search"}
STORAGE_FIELDS = {"log_entries", "sqlite_bytes", "collections", "records"}


@pytest.fixture(scope="module")
def budget_service(tmp_path_factory, lifecycle):
    running = lifecycle.start_service(tmp_path_factory.mktemp("admin") / "data",
                                      vector_workers=1, extra=["--memory-budget", "6MiB"])
    yield running
    assert lifecycle.stop_service(running) == 0, running.log()


@pytest.fixture()
def client(budget_service):
    with segmentdb.Client(budget_service.address, timeout=120) as c:
        yield c


class Oracle:
    """A collection and its vectors, with numpy's exact nearest ids."""

    def __init__(self, client, name: str, count: int, dimension: int, seed: int):
        rng = np.random.default_rng(seed)
        self.ids = [f"{name}-{i}" for i in range(count)]
        self.data = rng.standard_normal((count, dimension)).astype(np.float32)
        self.collection = client.create_collection(name)
        self.collection.add(ids=self.ids, embeddings=self.data)
        self.rng = rng

    def check_query(self) -> None:
        queries = self.rng.standard_normal((3, self.data.shape[1])).astype(np.float32)
        found = self.collection.query(query_embeddings=queries, n_results=K, include=[])["ids"]
        distances = ((queries[:, None, :] - self.data[None, :, :]) ** 2).sum(axis=2)
        expected = [[self.ids[j] for j in np.argsort(row, kind="stable")[:K]] for row in distances]
        assert found == expected


def _worker(client) -> dict:
    (worker,) = client.stats()["workers"]
    return worker


def _segment(worker: dict, collection) -> dict | None:
    return next((s for s in worker["segments"] if s["collection_id"] == str(collection.id)), None)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------ stats


def test_stats_shape_and_counters_after_queries(client, budget_service):
    before = _worker(client)
    small = Oracle(client, "stats-small", 100, 8, seed=1)
    # First use: one load or rebuild — by the query (a miss), or already by the gateway's
    # write hint after the add (then the query is a hit; a hint counts neither).
    small.check_query()
    after_first = _worker(client)
    small.check_query()  # loaded now: a hit
    after_second = _worker(client)

    stats = client.stats()
    json.dumps(stats)  # plain values only
    assert set(stats) == {"workers", "storage"}
    (worker,) = stats["workers"]
    assert set(worker) == WORKER_FIELDS
    assert worker["reachable"] is True and worker["error"] == ""
    assert worker["address"] == worker["address"].strip() and ":" in worker["address"]
    assert worker["memory_budget_bytes"] == BUDGET_BYTES
    assert worker["resident_bytes"] > 0 and worker["peak_resident_bytes"] >= worker["resident_bytes"]
    segment = _segment(worker, small.collection)
    assert segment is not None and set(segment) == SEGMENT_FIELDS
    assert segment["live_count"] == 100 and segment["dimension"] == 8 and segment["bytes"] > 0
    assert worker["loaded_bytes"] >= segment["bytes"]

    assert (after_first["loads"] + after_first["rebuilds"]
            == before["loads"] + before["rebuilds"] + 1)
    assert (after_first["misses"] + after_first["hits"]
            == before["misses"] + before["hits"] + 1)
    assert after_second["hits"] == after_first["hits"] + 1
    assert after_second["misses"] == after_first["misses"]
    assert after_first["load_seconds_total"] >= before["load_seconds_total"]

    assert set(stats["storage"]) == STORAGE_FIELDS
    assert stats["storage"]["collections"] >= 1 and stats["storage"]["records"] >= 100
    assert stats["storage"]["sqlite_bytes"] > 0


# ------------------------------------------------------------ pin / release


def test_pin_survives_memory_pressure_and_release_lets_it_go(client):
    pinned = Oracle(client, "pin-kept", 2000, 64, seed=2)
    others = [Oracle(client, f"pin-pressure-{i}", 2000, 64, seed=10 + i) for i in range(3)]
    address = pinned.collection.pin()
    worker = _worker(client)
    assert address == worker["address"]
    assert _segment(worker, pinned.collection)["pinned"] is True
    evictions_before = worker["evictions"]

    for _round in range(2):
        for other in others:
            other.check_query()
        pinned.check_query()
    worker = _worker(client)
    assert worker["evictions"] >= evictions_before + 3, "no memory pressure: budget not applied?"
    segment = _segment(worker, pinned.collection)
    assert segment is not None and segment["pinned"] is True
    # Only the pinned segment and at most the one being queried fit.
    assert len(worker["segments"]) <= 2

    pinned.collection.release()
    segment = _segment(_worker(client), pinned.collection)
    assert segment is None or segment["pinned"] is False
    for other in others:
        other.check_query()
    assert _segment(_worker(client), pinned.collection) is None  # evicted like any other
    pinned.collection.release()  # releasing twice is fine
    pinned.check_query()


def test_pin_errors(client):
    empty = client.create_collection("pin-empty")
    with pytest.raises(errors.FailedPreconditionError, match="no vectors yet"):
        empty.pin()
    client.delete_collection("pin-empty")
    with pytest.raises(errors.NotFoundError):
        empty.pin()
    with pytest.raises(errors.NotFoundError):
        empty.release()


# ------------------------------------------------------------ reindex


def test_reindex_then_queries_stay_exact(client):
    first = Oracle(client, "reindex-a", 1500, 16, seed=3)
    second = Oracle(client, "reindex-b", 700, 16, seed=4)
    first.check_query()

    (rebuilt,) = client.reindex("reindex-a")
    assert rebuilt["name"] == "reindex-a" and rebuilt["collection_id"] == str(first.collection.id)
    assert rebuilt["records"] == 1500 and rebuilt["seconds"] >= 0
    assert rebuilt["worker_address"] == _worker(client)["address"]
    first.check_query()

    everything = client.reindex()
    by_name = {c["name"]: c for c in everything}
    assert {"reindex-a", "reindex-b"} <= set(by_name)
    assert by_name["reindex-b"]["records"] == 700
    assert len(by_name) == client.count_collections()
    first.check_query()
    second.check_query()

    with pytest.raises(errors.NotFoundError):
        client.reindex("reindex-missing")


# ------------------------------------------------------------ CLI


def test_cli_stats_json_and_table(client, budget_service):
    Oracle(client, "cli-stats", 50, 4, seed=5).check_query()
    result = run_cli("stats", "--json", "--target", budget_service.address)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert set(stats["workers"][0]) == WORKER_FIELDS
    assert stats["workers"][0]["memory_budget_bytes"] == BUDGET_BYTES

    table = run_cli("stats", "--target", budget_service.address)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["worker", "up", "budget"]
    assert "6.0MiB" in table.stdout and "storage:" in table.stdout


def test_cli_reindex_pin_release(client, budget_service):
    oracle = Oracle(client, "cli-reindex", 300, 8, seed=6)
    target = ["--target", budget_service.address]

    result = run_cli("reindex", "--collection", "cli-reindex", "--json", *target)
    assert result.returncode == 0, result.stderr
    (rebuilt,) = json.loads(result.stdout)
    assert rebuilt["name"] == "cli-reindex" and rebuilt["records"] == 300
    oracle.check_query()

    result = run_cli("reindex", "--collection", "cli-reindex", *target)
    assert result.returncode == 0 and "1 collection(s) reindexed" in result.stdout

    result = run_cli("pin", "cli-reindex", *target)
    assert result.returncode == 0 and "cli-reindex pinned on vector worker" in result.stdout
    assert _segment(_worker(client), oracle.collection)["pinned"] is True
    result = run_cli("release", "cli-reindex", *target)
    assert result.returncode == 0, result.stderr
    segment = _segment(_worker(client), oracle.collection)
    assert segment is None or segment["pinned"] is False

    missing = run_cli("reindex", "--collection", "cli-missing", *target)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("segmentdb: error: ")
