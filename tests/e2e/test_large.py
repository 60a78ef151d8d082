"""Large requests: a 50,000 x 384 add in one call, the message-size limit, and HNSW recall
against exact numpy search (hnswlib's own test style: brute-force oracle + threshold)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import segmentdb
from segmentdb.errors import BatchSizeExceededError


def test_one_add_of_50k_by_384_with_documents_and_metadata(collection):
    n, dim = 50_000, 384
    vectors = np.random.default_rng(1).standard_normal((n, dim), dtype=np.float32)
    ids = [f"doc-{i:05d}" for i in range(n)]

    collection.add(ids=ids, embeddings=vectors,
                   documents=[f"document {i} about topic {i % 17}" for i in range(n)],
                   metadatas=[{"i": i, "topic": i % 17, "even": i % 2 == 0} for i in range(n)])

    assert collection.count() == n
    probe = ["doc-00000", "doc-31337", "doc-49999"]
    got = collection.get(ids=probe, include=["embeddings", "documents", "metadatas"])
    assert got["ids"] == probe
    np.testing.assert_array_equal(got["embeddings"], vectors[[0, 31337, 49999]])
    assert got["documents"][1] == f"document 31337 about topic {31337 % 17}"
    assert got["metadatas"][2] == {"i": 49999, "topic": 49999 % 17, "even": False}
    assert len(collection.get(where={"topic": 3}, include=[])["ids"]) == len(range(3, n, 17))


def test_a_request_over_max_message_size_is_rejected_and_writes_nothing(tmp_path, lifecycle):
    limited = lifecycle.start_service(tmp_path / "limited", vector_workers=1,
                                      extra=["--max-message-size", "1MiB"])
    try:
        client = segmentdb.Client(limited.address)
        try:
            collection = client.create_collection("limited")
            collection.add(ids=["small"], embeddings=[[0.5] * 512])
            too_big = np.ones((1000, 512), dtype=np.float32)  # ~2 MB of vectors alone

            with pytest.raises(BatchSizeExceededError) as info:
                collection.add(ids=[f"big{i}" for i in range(1000)], embeddings=too_big)

            assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            message = str(info.value)
            assert any(limit in message for limit in ("1048576", "1MiB", "1 MiB", "1.0 MiB")), \
                f"the message does not name the limit: {message!r}"
            assert collection.count() == 1
            assert collection.get(include=[])["ids"] == ["small"]
        finally:
            client.close()
    finally:
        assert lifecycle.stop_service(limited) == 0, limited.log()


def _clustered(rng, n: int, dim: int, clusters: int = 50) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)) * 4
    points = centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, dim))
    return points.astype(np.float32)


def _exact_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d = data.astype(np.float64)
    q = queries.astype(np.float64)
    dist = (q * q).sum(1)[:, None] + (d * d).sum(1)[None, :] - 2 * q @ d.T
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def _recall(result_ids: list[list[str]], truth: np.ndarray, id_of) -> float:
    hits = sum(len(set(got) & {id_of(j) for j in want}) for got, want in zip(result_ids, truth))
    return hits / truth.size


def test_hnsw_recall_at_10_against_exact_search(collection):
    rng = np.random.default_rng(11)
    n, dim, k = 20_000, 64, 10
    data = _clustered(rng, n, dim)
    collection.add(ids=[str(i) for i in range(n)], embeddings=data,
                   metadatas=[{"half": i % 2} for i in range(n)])
    queries = data[rng.choice(n, 100, replace=False)] + \
        rng.standard_normal((100, dim)).astype(np.float32) * 0.5

    result = collection.query(query_embeddings=queries, n_results=k, include=["distances"])

    recall = _recall(result["ids"], _exact_top_k(data, queries, k), str)
    assert recall >= 0.95, f"recall@10 = {recall:.3f}"
    # Distances are exact for whatever ids were returned.
    for q, (ids, dists) in enumerate(zip(result["ids"], result["distances"])):
        want = ((data[[int(i) for i in ids]] - queries[q]).astype(np.float64) ** 2).sum(1)
        np.testing.assert_allclose(dists, want, rtol=1e-4, atol=1e-3)

    # Filtered: 10,000 allowed records (> 4096), so the filtered HNSW path answers.
    filtered = collection.query(query_embeddings=queries, n_results=k, where={"half": 1},
                                include=[])
    odd = np.arange(1, n, 2)
    truth = odd[_exact_top_k(data[odd], queries, k)]
    assert all(int(i) % 2 == 1 for ids in filtered["ids"] for i in ids)
    recall = _recall(filtered["ids"], truth, str)
    assert recall >= 0.95, f"filtered recall@10 = {recall:.3f}"
