"""A hypothesis state machine over the vector worker's segment cache, with real hnswlib
segments built from a real (in-process) metadata worker and a budget that holds about three.

Invariants after every step:
- over the budget only when forced: every loaded unpinned segment is then the one most
  recently used (a segment larger than the budget, or one beside pins that fill it);
- pinned segments (with vectors) are always loaded;
- searches answer exactly (numpy oracle over the collection's live vectors) whether the
  segment was cached, evicted and reloaded from its folder, or rebuilt.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from metadata_worker.config import Config
from metadata_worker.server import build
from segmentdb import vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc, metadata_service_pb2_grpc
from segmentdb.v1 import collection_service_pb2, record_service_pb2
from vector_worker import convert, memory
from vector_worker.metadata_client import MetadataClient
from vector_worker.segment_cache import SegmentCache

DIM = 8
SMALL_SIZES = [50, 300, 700, 1200, 2000]
# Larger than the whole budget: served alone.
BIG_SIZE = 26_000
# ~3 small segments (each ~3.1 MB: the fixed 2.7 MB + 1024+ slots of 342 B).
BUDGET = 10_000_000
K = 5


class Cluster:
    """An in-process metadata worker with one collection per size."""

    def __init__(self, tmp):
        self.path = tmp
        self.served, self.store = build(Config(path=str(tmp)))
        self.address = f"127.0.0.1:{self.served.port}"
        self.stub = metadata_service_pb2_grpc.MetadataServiceStub(
            grpc.insecure_channel(self.address))
        rng = np.random.default_rng(5)
        self.collections: list[str] = []
        for i, size in enumerate(SMALL_SIZES + [BIG_SIZE]):
            cid = self.stub.CreateCollection(collection_service_pb2.CreateCollectionRequest(
                name=f"machine-{i}")).collection.id
            for start in range(0, size, 5000):
                n = min(5000, size - start)
                self.add(cid, [f"r{start + j}" for j in range(n)], rng.standard_normal((n, DIM)))
            self.collections.append(cid)
        self.written = 0

    def add(self, cid: str, ids: list[str], array: np.ndarray) -> None:
        self.stub.AddRecords(record_service_pb2.AddRecordsRequest(
            collection_id=cid, ids=ids, embeddings=vectors.encode(array)), timeout=30)

    def prepare(self, cid: str) -> msvc.PrepareQueryResponse:
        return self.stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=cid), timeout=30)

    def live_vectors(self, client: MetadataClient, cid: str) -> tuple[np.ndarray, np.ndarray]:
        pages = list(client.scan_vectors(cid))
        return (np.concatenate([p.labels for p in pages]),
                np.concatenate([p.vectors for p in pages]))

    def close(self) -> None:
        self.served.server.stop(None).wait()
        self.store.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("cache-machine"))
    yield running
    running.close()


def exact(labels: np.ndarray, matrix: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    d = ((queries[:, None, :].astype(np.float64) - matrix[None].astype(np.float64)) ** 2).sum(-1)
    return [labels[np.lexsort((labels, row))[:k]].tolist() for row in d]


def test_cache_state_machine(cluster, tmp_path):
    client = MetadataClient(cluster.address)
    queries = np.random.default_rng(9).standard_normal((3, DIM)).astype(np.float32)
    big = len(cluster.collections) - 1

    class CacheMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.cache = SegmentCache(cluster.path, client, memory_budget=BUDGET, idle_ttl=0.5)
            self.pinned: set[int] = set()
            self.last_used: str | None = None

        def params(self, i: int) -> convert.SegmentParams:
            return convert.params_from_spec(cluster.prepare(cluster.collections[i]).segment)

        @rule(i=st.integers(0, len(SMALL_SIZES)), big_one=st.booleans())
        def search(self, i, big_one):
            i = big if big_one and i == 0 else i
            cid = cluster.collections[i]
            prepared = cluster.prepare(cid)
            params = convert.params_from_spec(prepared.segment)
            segment = self.cache.get(params, prepared.log_sequence)
            self.last_used = params.segment_id
            labels, matrix = cluster.live_vectors(client, cid)
            if i == big:
                # HNSW (too many for exact search): a stored vector finds itself first.
                rows = [0, len(labels) // 2, len(labels) - 1]
                got = segment.search(matrix[rows], 1)
                assert [int(g[0][0]) for g in got] == labels[rows].tolist()
            else:
                got = segment.search(queries, K)
                assert [g[0].tolist() for g in got] == exact(labels, matrix, queries, K)
            self.cache.checkpoint_if_due(segment)

        @rule(i=st.integers(0, len(SMALL_SIZES) - 1), n=st.integers(1, 400))
        def write(self, i, n):
            cluster.written += 1
            rng = np.random.default_rng(cluster.written)
            cluster.add(cluster.collections[i], [f"w{cluster.written}-{j}" for j in range(n)],
                        rng.standard_normal((n, DIM)))

        @rule(i=st.integers(0, len(SMALL_SIZES) - 1))
        def pin(self, i):
            prepared = cluster.prepare(cluster.collections[i])
            self.cache.pin(convert.params_from_spec(prepared.segment), prepared.log_sequence)
            self.pinned.add(i)
            self.last_used = prepared.segment.segment_id

        @precondition(lambda self: self.pinned)
        @rule(data=st.data())
        def release(self, data):
            i = data.draw(st.sampled_from(sorted(self.pinned)))
            assert self.cache.release(self.params(i).segment_id)
            self.pinned.discard(i)

        @rule()
        def idle_for_longer_than_the_ttl(self):
            before = set(self.cache.loaded())
            self.cache.evict_idle(now=time.monotonic() + 1.0)
            pinned_ids = {self.params(i).segment_id for i in self.pinned}
            assert set(self.cache.loaded()) == before & pinned_ids

        @invariant()
        def over_budget_only_when_forced(self):
            if self.cache.loaded_bytes() <= BUDGET:
                return
            pinned_ids = self.cache.pinned()
            unpinned = [s for s in self.cache.loaded() if s not in pinned_ids]
            assert unpinned in ([], [self.last_used]), (unpinned, self.last_used)

        @invariant()
        def pinned_segments_stay_loaded(self):
            loaded = set(self.cache.loaded())
            for i in self.pinned:
                assert self.params(i).segment_id in loaded

        def teardown(self):
            self.cache.persist_all()

    CacheMachine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    try:
        CacheMachine.TestCase("runTest").runTest()
    finally:
        client.close()


def test_the_budget_holds_a_few_small_segments_but_not_the_big_one():
    """What the machine relies on: BIG_SIZE overflows the budget, three small ones fit."""
    assert memory.segment_bytes(DIM, 16, BIG_SIZE) > BUDGET
    assert 3 * memory.segment_bytes(DIM, 16, 1024) <= BUDGET
