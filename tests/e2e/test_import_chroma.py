"""`segmentdb import-chroma` on folders written by the REAL chromadb 0.5.23 and 1.5.9.

tests/fixtures/chroma/<version>/chroma_data was made by make_fixtures.py (run by
make_fixtures.sh in a virtualenv holding that chromadb), which also wrote expected.json:
what it wrote, after its deletes, updates and upserts. Each test runs the real CLI in a
subprocess, serves the result with `segmentdb serve`, and compares every collection and
record through the SDK: ids (in insertion order), documents, metadata with their types,
embeddings bit for bit as float32, collection metadata and HNSW settings; queries must
equal an exact search.

Embeddings: the written float32 bytes, except where the Chroma folder no longer holds them:
a cosine index keeps the normalized vector and its length, and Chroma itself returns their
product ("chroma_embedding" in expected.json). Those must equal Chroma's bits exactly.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import segmentdb

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "chroma"
VERSIONS = ["0.5.23", "1.5.9"]
SETTINGS = ("space", "max_neighbors", "ef_construction", "ef_search", "sync_threshold",
            "batch_size", "resize_factor")


def _typed(value) -> str:
    """JSON text that tells 1 from 1.0 from True."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module", params=VERSIONS)
def imported(request, tmp_path_factory, lifecycle):
    """(expected.json, the CLI's JSON report, a running service on the imported folder)."""
    version = request.param
    source = FIXTURES / version / "chroma_data"
    expected = json.loads((FIXTURES / version / "expected.json").read_text())
    before = _digest(source)
    dest = tmp_path_factory.mktemp(f"import-{version}") / "data"
    done = run_cli("import-chroma", "--from", str(source), "--path", str(dest), "--json")
    assert done.returncode == 0, done.stderr
    assert _digest(source) == before, "the Chroma folder must only be read"
    service = lifecycle.start_service(dest)
    yield expected, json.loads(done.stdout), service
    code = lifecycle.stop_service(service)
    assert code == 0, service.log()


def _client(service, entry) -> segmentdb.Client:
    return segmentdb.Client(service.address, tenant=entry["tenant"], database=entry["database"])


def test_every_collection_and_only_those(imported):
    expected, report, service = imported
    want = {(c["tenant"], c["database"], c["name"]) for c in expected["collections"]}
    assert {(c["tenant"], c["database"], c["name"]) for c in report["collections"]} == want
    scopes = {(t, d) for t, d, _ in want}
    found = set()
    for tenant, database in scopes:
        client = segmentdb.Client(service.address, tenant=tenant, database=database)
        found |= {(tenant, database, c.name) for c in client.list_collections()}
        client.close()
    assert found == want  # "deleted_collection", deleted in Chroma, did not come back


def test_collection_ids_metadata_and_hnsw_settings(imported):
    expected, _report, service = imported
    for entry in expected["collections"]:
        client = _client(service, entry)
        collection = client.get_collection(entry["name"])
        assert str(collection.id) == entry["id"]
        assert _typed(collection.metadata) == _typed(entry["metadata"]), entry["name"]
        hnsw = collection.configuration["hnsw"]
        assert {k: hnsw[k] for k in SETTINGS} == {k: entry["hnsw"][k] for k in SETTINGS}, \
            entry["name"]
        assert collection.dimension == entry["dimension"], entry["name"]
        client.close()


def test_every_record_exactly(imported):
    expected, report, service = imported
    exact = rescaled = 0
    for entry in expected["collections"]:
        client = _client(service, entry)
        collection = client.get_collection(entry["name"])
        got = collection.get(include=["documents", "metadatas", "embeddings"])
        assert got["ids"] == [r["id"] for r in entry["records"]], entry["name"]
        assert collection.count() == len(entry["records"])
        for i, record in enumerate(entry["records"]):
            assert got["documents"][i] == record["document"], record["id"]
            assert _typed(got["metadatas"][i]) == _typed(record["metadata"]), record["id"]
            bits = np.asarray(got["embeddings"][i], "<f4").tobytes()
            if bits == np.asarray(record["embedding"], "<f4").tobytes():
                exact += 1
            else:
                assert "chroma_embedding" in record, (entry["name"], record["id"])
                assert bits == np.asarray(record["chroma_embedding"], "<f4").tobytes(), \
                    (entry["name"], record["id"])
                rescaled += 1
        client.close()
    assert exact + rescaled == sum(len(c["records"]) for c in expected["collections"])
    # Vectors below the sync threshold lived only in Chroma's queue, above it in hnswlib files.
    by_name = {(c["tenant"], c["name"]): c for c in report["collections"]}
    small = by_name[("default_tenant", "notes_small_l2")]
    big = by_name[("default_tenant", "papers_cosine")]
    assert small["vectors_from_index_files"] == 0 and small["vectors_from_queue"] == 144
    assert big["vectors_from_index_files"] > 1000
    assert rescaled > 0  # the cosine collection really went through the index files


def _distances(space: str, stored: np.ndarray, query: np.ndarray) -> np.ndarray:
    stored, query = stored.astype(np.float64), query.astype(np.float64)
    if space == "l2":
        return ((stored - query) ** 2).sum(axis=1)
    if space == "ip":
        return 1.0 - stored @ query
    norms = np.linalg.norm(stored, axis=1) * np.linalg.norm(query)
    return 1.0 - (stored @ query) / norms


def test_queries_equal_exact_search(imported):
    expected, _report, service = imported
    rng = np.random.default_rng(7)
    for entry in expected["collections"]:
        if not entry["records"]:
            continue
        client = _client(service, entry)
        collection = client.get_collection(entry["name"])
        stored = collection.get(include=["embeddings"])
        vectors = np.asarray(stored["embeddings"], np.float32)
        queries = rng.standard_normal((3, entry["dimension"])).astype(np.float32)
        k = min(10, len(vectors))
        result = collection.query(query_embeddings=queries, n_results=k)
        for q, query in enumerate(queries):
            distances = _distances(entry["hnsw"]["space"], vectors, query)
            order = np.argsort(distances, kind="stable")[:k]
            assert result["ids"][q] == [stored["ids"][i] for i in order], entry["name"]
            np.testing.assert_allclose(result["distances"][q], distances[order],
                                       rtol=1e-4, atol=1e-4)
        client.close()
