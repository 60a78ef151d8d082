"""The memory budget end to end, small enough for `make test`: `segmentdb serve` with two
vector workers, each with a budget that holds about three of the twelve collections. Every
collection is queried several times in random order through the SDK; every answer must equal
an exact numpy search (3,000 vectors per collection: the workers search exactly too), the
workers must have evicted, and each worker's loaded bytes must stay within its budget.
(tests/slow/test_memory_budget.py is the full-size version with the RSS bound.)
"""

from __future__ import annotations

import numpy as np
import pytest

import segmentdb
from vector_worker import memory

COLLECTIONS = 12
PER_COLLECTION = 3_000
DIM = 64
K = 5
PASSES = 3
# One segment: capacity 3,000 at d=64, M=16 (~4.6 MB); the budget holds three.
SEGMENT_BYTES = memory.segment_bytes(DIM, 16, PER_COLLECTION)
BUDGET = 3 * SEGMENT_BYTES + 500_000


def collection_vectors(i: int) -> np.ndarray:
    return np.random.default_rng(1000 + i).standard_normal((PER_COLLECTION, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def budget_service(tmp_path_factory, lifecycle):
    running = lifecycle.start_service(tmp_path_factory.mktemp("budget-small") / "data",
                                      vector_workers=2, extra=["--memory-budget", str(BUDGET)])
    yield running
    assert lifecycle.stop_service(running) == 0, running.log()


def test_queries_stay_exact_while_segments_are_evicted_and_reloaded(budget_service):
    client = segmentdb.Client(budget_service.address)
    try:
        collections = []
        for i in range(COLLECTIONS):
            col = client.create_collection(f"budget-small-{i}")
            col.add(ids=[f"v{j}" for j in range(PER_COLLECTION)], embeddings=collection_vectors(i))
            collections.append(col)

        rng = np.random.default_rng(7)
        order = [i for _ in range(PASSES) for i in rng.permutation(COLLECTIONS)]
        for i in order:
            data = collection_vectors(i).astype(np.float64)
            queries = rng.standard_normal((3, DIM)).astype(np.float32)
            got = collections[i].query(query_embeddings=queries, n_results=K,
                                       include=["distances"])
            dist = ((queries[:, None, :].astype(np.float64) - data[None]) ** 2).sum(-1)
            for row, ids, distances in zip(dist, got["ids"], got["distances"], strict=True):
                nearest = np.argsort(row, kind="stable")[:K]
                assert ids == [f"v{j}" for j in nearest], f"collection {i}"
                np.testing.assert_allclose(distances, row[nearest], rtol=1e-4, atol=1e-4)

        workers = client.stats()["workers"]
        assert len(workers) == 2 and all(w["reachable"] for w in workers), workers
        for worker in workers:
            assert int(worker["memory_budget_bytes"]) == BUDGET
            assert int(worker["loaded_bytes"]) <= BUDGET, worker
            assert len(worker["segments"]) <= 3
        assert sum(int(w["evictions"]) for w in workers) > 0
        assert sum(int(w["loads"]) for w in workers) > 0  # evicted segments came back from disk
        assert sum(int(w["rebuilds"]) for w in workers) == COLLECTIONS
        assert sum(int(w["hits"]) + int(w["misses"]) for w in workers) >= len(order)
    finally:
        client.close()
