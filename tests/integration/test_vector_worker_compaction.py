"""CompactSegment on a real vector worker in front of a real metadata worker: a saved index
that is half deleted is rebuilt compactly (and stays unloaded), one below the threshold is
left alone, a loaded one is caught up and saved so the log is purged through it, and
searches afterwards equal brute force over the live records."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from processes import start
from segmentdb import vectors
from segmentdb.internal.v1 import (metadata_service_pb2, metadata_service_pb2_grpc,
                                   vector_service_pb2, vector_service_pb2_grpc)
from segmentdb.maintenance import tree_bytes
from segmentdb.v1 import collection_service_pb2, common_pb2, record_service_pb2

DIM, N, TIMEOUT = 16, 600, 60


@pytest.fixture()
def workers(tmp_path):
    data = tmp_path / "data"
    metadata = start("metadata_worker", tmp_path, "metadata-worker", "--path", str(data))
    started = {"vector": start("vector_worker", tmp_path, "vector-worker", "--path", str(data),
                               "--metadata", metadata.address, "--tail-interval", "0")}

    def restart_vector():
        assert started["vector"].stop() == 0
        started["vector"] = start("vector_worker", tmp_path, "vector-worker-2", "--path",
                                  str(data), "--metadata", metadata.address,
                                  "--tail-interval", "0")
        return started["vector"]

    yield metadata, started, restart_vector, data
    assert started["vector"].stop() == 0
    assert metadata.stop() == 0


def stubs(metadata, vector):
    return (metadata_service_pb2_grpc.MetadataServiceStub(grpc.insecure_channel(metadata.address)),
            vector_service_pb2_grpc.VectorServiceStub(grpc.insecure_channel(vector.address)))


def search(meta, vec, collection_id: str, queries: np.ndarray, k: int) -> list[list[int]]:
    prepared = meta.PrepareQuery(metadata_service_pb2.PrepareQueryRequest(
        collection_id=collection_id), timeout=TIMEOUT)
    reply = vec.Search(vector_service_pb2.SearchRequest(
        segment=prepared.segment, queries=vectors.encode(queries), k=k,
        min_sequence=prepared.log_sequence), timeout=TIMEOUT)
    return [list(r.labels) for r in reply.results]


def compact(meta, vec, collection_id: str, fraction: float):
    spec = meta.PrepareQuery(metadata_service_pb2.PrepareQueryRequest(
        collection_id=collection_id), timeout=TIMEOUT).segment
    return spec, vec.CompactSegment(vector_service_pb2.CompactSegmentRequest(
        segment=spec, min_deleted_fraction=fraction), timeout=TIMEOUT)


def test_compaction_rebuilds_a_saved_half_deleted_index_and_respects_the_threshold(workers):
    metadata, started, restart_vector, data = workers
    meta, vec = stubs(metadata, started["vector"])
    cid = meta.CreateCollection(collection_service_pb2.CreateCollectionRequest(
        name="compact-me"), timeout=TIMEOUT).collection.id
    rng = np.random.default_rng(21)
    array = rng.standard_normal((N, DIM)).astype(np.float32)
    ids = [f"x{i}" for i in range(N)]
    meta.AddRecords(record_service_pb2.AddRecordsRequest(
        collection_id=cid, ids=ids, embeddings=vectors.encode(array)), timeout=TIMEOUT)
    search(meta, vec, cid, array[:1], 1)  # loaded
    meta.DeleteRecords(record_service_pb2.DeleteRecordsRequest(
        collection_id=cid, ids=ids[::2]), timeout=TIMEOUT)
    search(meta, vec, cid, array[:1], 1)  # the deletes are marked in the index
    vec = stubs(metadata, restart_vector())[1]  # saved at shutdown; now not loaded

    spec, kept = compact(meta, vec, cid, 0.6)  # 50% deleted < 60%: left alone
    assert (kept.live_count, kept.deleted_count, kept.rebuilt) == (N // 2, N // 2, False)
    assert kept.bytes_after == kept.bytes_before == tree_bytes(data / "index" / spec.segment_id)

    _, done = compact(meta, vec, cid, 0.5)  # at the threshold: rebuilt
    assert (done.live_count, done.deleted_count, done.rebuilt) == (N // 2, N // 2, True)
    assert done.bytes_after <= 0.6 * done.bytes_before
    manifest = json.loads((data / "index" / spec.segment_id / "manifest.json").read_text())
    assert manifest["live_count"] == N // 2
    assert (data / "index" / spec.segment_id / "deleted_labels.bin").stat().st_size == 0
    stats = vec.GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(), timeout=TIMEOUT)
    assert list(stats.stats.segments) == []  # a vacuum does not load what nobody uses

    queries = rng.standard_normal((6, DIM)).astype(np.float32)
    live = array[1::2].astype(np.float64)
    labels = search(meta, vec, cid, queries, 8)
    fetched = meta.FetchRecords(metadata_service_pb2.FetchRecordsRequest(
        collection_id=cid, labels=[label for row in labels for label in row],
        include=common_pb2.Include()), timeout=TIMEOUT).records.ids
    for q, query in enumerate(queries):
        exact = np.argsort(((live - query) ** 2).sum(axis=1), kind="stable")[:8]
        assert list(fetched[q * 8:(q + 1) * 8]) == [ids[1::2][i] for i in exact]

    with pytest.raises(grpc.RpcError) as refused:
        compact(meta, vec, cid, 0.0)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "min_deleted_fraction" in refused.value.details()


def test_compaction_saves_a_loaded_segment_so_the_log_is_purged(workers):
    metadata, started, _restart, _data = workers
    meta, vec = stubs(metadata, started["vector"])
    cid = meta.CreateCollection(collection_service_pb2.CreateCollectionRequest(
        name="purge-me"), timeout=TIMEOUT).collection.id
    array = np.random.default_rng(22).standard_normal((50, DIM)).astype(np.float32)
    meta.AddRecords(record_service_pb2.AddRecordsRequest(
        collection_id=cid, ids=[f"y{i}" for i in range(50)], embeddings=vectors.encode(array)),
        timeout=TIMEOUT)
    search(meta, vec, cid, array[:1], 1)  # rebuilt from SQLite and saved: log purged
    meta.UpsertRecords(record_service_pb2.UpsertRecordsRequest(
        collection_id=cid, ids=["y0"], embeddings=vectors.encode(array[1:2])), timeout=TIMEOUT)

    def log_entries() -> int:
        return meta.GetStorageStats(metadata_service_pb2.GetStorageStatsRequest(),
                                    timeout=TIMEOUT).stats.log_entries
    search(meta, vec, cid, array[:1], 1)  # applied, but 1 < sync_threshold: not saved
    assert log_entries() == 1
    _, done = compact(meta, vec, cid, 1.0)
    assert not done.rebuilt and done.live_count == 50 and done.bytes_after > 0
    assert log_entries() == 0
