"""The gateway's query paths seen from a client (gateway/query.py, docs/internals.md):
two-hop queries with a cached segment spec stay correct when the spec or the log moved,
batched concurrent queries get their own answers, and write hints index without a query."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import segmentdb
from segmentdb import errors


def _exact(data: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    distances = ((data - query) ** 2).sum(axis=1)
    return [ids[i] for i in np.argsort(distances, kind="stable")[:k]]


def test_changed_ef_search_and_new_writes_are_seen_by_cached_spec_queries(service, client,
                                                                         collection_name):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((300, 16)).astype(np.float32)
    ids = [f"r{i}" for i in range(300)]
    collection = client.create_collection(collection_name)
    collection.add(ids=ids, embeddings=data)
    query = data[:1] + 0.01
    assert collection.query(query_embeddings=query, n_results=3)["ids"][0] == \
        _exact(data, ids, query[0], 3)
    # The gateway now knows the spec; a modification changes it under the cached copy.
    collection.modify(configuration={"hnsw": {"ef_search": 150}})
    assert collection.query(query_embeddings=query, n_results=3)["ids"][0] == \
        _exact(data, ids, query[0], 3)
    # ...and the search that answered used the new setting (not the cached spec's).
    searched = [segment["ef_search"] for worker in client.stats()["workers"]
                for segment in worker["segments"] if segment["collection_id"] == str(collection.id)]
    assert searched and set(searched) == {150}, searched
    # A write through another client on the same gateway, then a nearer record appears.
    with segmentdb.Client(service.address) as other:
        other.get_collection(collection_name).add(ids=["nearest"], embeddings=query)
    assert collection.query(query_embeddings=query, n_results=1)["ids"][0] == ["nearest"]
    collection.delete(ids=["nearest"])
    assert collection.query(query_embeddings=query, n_results=1)["ids"][0] != ["nearest"]


def test_a_deleted_collection_is_not_found_even_with_its_spec_cached(client, collection_name):
    collection = client.create_collection(collection_name)
    collection.add(ids=["a", "b"], embeddings=np.eye(2, 4, dtype=np.float32))
    assert collection.query(query_embeddings=np.eye(1, 4), n_results=1)["ids"] == [["a"]]
    client.delete_collection(collection_name)
    with pytest.raises(errors.NotFoundError):
        collection.query(query_embeddings=np.eye(1, 4), n_results=1)
    # Same name again: a new collection, and the old handle still finds nothing of it.
    again = client.create_collection(collection_name)
    again.add(ids=["c"], embeddings=np.eye(1, 4, dtype=np.float32))
    with pytest.raises(errors.NotFoundError):
        collection.query(query_embeddings=np.eye(1, 4), n_results=1)
    assert again.query(query_embeddings=np.eye(1, 4), n_results=1)["ids"] == [["c"]]


def test_concurrent_queries_each_get_their_own_answer(service, client, collection_name):
    """Queries with different k and include, many at once (the gateway batches them)."""
    rng = np.random.default_rng(11)
    data = rng.standard_normal((500, 12)).astype(np.float32)
    ids = [f"r{i}" for i in range(500)]
    collection = client.create_collection(collection_name)
    collection.add(ids=ids, embeddings=data, documents=[f"doc {i}" for i in ids])
    collection.query(query_embeddings=data[:1], n_results=1)  # the gateway learns the spec
    queries = rng.standard_normal((48, 12)).astype(np.float32)
    failures: list[str] = []

    def run(worker: int) -> None:
        with segmentdb.Client(service.address) as own:
            mine = own.get_collection(collection_name)
            for i in range(worker, len(queries), 8):
                k = 1 + i % 7
                include = ["documents", "distances"] if i % 2 else ["distances"]
                found = mine.query(query_embeddings=queries[i:i + 1], n_results=k,
                                   include=include)
                expected = _exact(data, ids, queries[i], k)
                if found["ids"][0] != expected:
                    failures.append(f"query {i}: {found['ids'][0]} != {expected}")
                if i % 2 and found["documents"][0] != [f"doc {x}" for x in expected]:
                    failures.append(f"query {i}: documents {found['documents'][0]}")
                if not i % 2 and found.get("documents") is not None:
                    failures.append(f"query {i}: documents returned but not asked for")

    threads = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[:5]


def test_writes_alone_get_the_segment_indexed_by_its_owner(client, collection_name):
    """Write hints: no query yet, and a vector worker loads and indexes the segment."""
    collection = client.create_collection(collection_name)
    collection.add(ids=[f"r{i}" for i in range(50)],
                   embeddings=np.random.default_rng(1).random((50, 8), dtype=np.float32))
    segment_id = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and segment_id is None:
        for worker in client.stats()["workers"]:
            for segment in worker["segments"]:
                if segment["collection_id"] == str(collection.id) and segment["live_count"] == 50:
                    segment_id = segment["segment_id"]
        time.sleep(0.1)
    assert segment_id is not None, client.stats()
