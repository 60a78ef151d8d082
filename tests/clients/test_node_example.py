"""examples/node/ against a live `segmentdb serve`: installs its locked dependencies
(`npm ci`), runs the script, checks what it prints, and reads the records it wrote back
through the Python SDK, so the Node client's encoding (packed little-endian float32,
typed metadata, filters) is checked against the server's, not against itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH: the Node.js example needs Node.js >= 18 "
                           "and npm (apt-get install nodejs npm)")
    return path


@pytest.fixture(scope="module")
def node_example():
    """examples/node with node_modules installed exactly from package-lock.json."""
    result = subprocess.run([_tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return EXAMPLE / "segmentdb-example.js"


def _run(script, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("node"), str(script), *args], cwd=EXAMPLE,
                          capture_output=True, text=True, timeout=120)


def test_node_example_against_a_live_server(node_example, service, client, collection_name):
    result = _run(node_example, "--target", service.address, "--collection", collection_name,
                  "--keep")
    assert result.returncode == 0, f"node example failed:\n{result.stdout}\n{result.stderr}"
    steps = {line["step"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert list(steps) == ["create_collection", "add_records", "query", "not_found"]

    assert steps["create_collection"]["name"] == collection_name
    assert steps["add_records"]["inserted"] == 4
    query = steps["query"]
    # fiction AND year >= 1850: a (distance 0) and c (distance 2) of the four; n_results=3.
    assert query["ids"] == ["a", "c"]
    assert query["distances"] == pytest.approx([0.0, 2.0])
    assert query["documents"] == ["a tale of two cities", "ulysses"]
    assert query["metadatas"] == [{"genre": "fiction", "year": 1859},
                                  {"genre": "fiction", "year": 1922}]
    missing = steps["not_found"]
    assert (missing["code"], missing["status"]) == (5, "NOT_FOUND")
    assert (missing["reason"], missing["domain"]) == ("NotFoundError", "segmentdb")
    assert f"{collection_name}-missing" in missing["message"]

    # What Node wrote is what Python reads: float32 bits, typed metadata, documents.
    written = client.get_collection(collection_name)
    try:
        got = written.get(ids=["a", "b", "c", "d"],
                          include=["embeddings", "metadatas", "documents"])
        assert got["ids"] == ["a", "b", "c", "d"]
        np.testing.assert_array_equal(
            np.asarray(got["embeddings"], dtype=np.float32),
            np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0, 2]], dtype=np.float32))
        assert got["metadatas"][1] == {"genre": "poetry", "year": 1855}
        assert type(got["metadatas"][1]["year"]) is int
        assert got["documents"][3] == "don quixote"
        python = written.query(query_embeddings=[[1, 0, 0]], n_results=3,
                               where={"$and": [{"genre": "fiction"}, {"year": {"$gte": 1850}}]})
        assert python["ids"][0] == query["ids"]
    finally:
        client.delete_collection(collection_name)


def test_node_example_reports_an_unreachable_server_on_stderr(node_example):
    # Port 1 on loopback: nothing listens; the example exits 1 with one line.
    result = _run(node_example, "--target", "127.0.0.1:1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("segmentdb-example: ") and "UNAVAILABLE" in result.stderr
