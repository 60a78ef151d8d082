"""--log-retention on a real metadata worker process, with a real vector worker reading behind it.

Writes 1,000 records in batches to a worker started with a small retention: the log never
holds more than retention + one batch, ReadLog tells a reader at 0 that entries were purged,
and a vector worker searching the collection (freshly, and with a copy loaded before the
purges) rebuilds from SQLite and answers exactly like numpy over every record written.
Both processes are stopped with SIGTERM and must exit 0.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from processes import start

from segmentdb import vectors
from segmentdb.internal.v1 import (metadata_service_pb2 as msvc, metadata_service_pb2_grpc,
                                   vector_service_pb2, vector_service_pb2_grpc)
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import common_pb2
from segmentdb.v1 import record_service_pb2 as rsvc

RETENTION = 200
BATCH = 25
RECORDS = 1_000
DIM = 8
TIMEOUT = 30


@pytest.fixture()
def workers(tmp_path):
    data = tmp_path / "data"
    metadata = start("metadata_worker", tmp_path, "metadata", "--path", str(data),
                     "--log-retention", str(RETENTION))
    vector = None
    try:
        channel = grpc.insecure_channel(metadata.address)
        stub = metadata_service_pb2_grpc.MetadataServiceStub(channel)

        def start_vector_worker():
            nonlocal vector
            vector = start("vector_worker", tmp_path, "vector", "--path", str(data),
                           "--metadata", metadata.address)
            return vector_service_pb2_grpc.VectorServiceStub(
                grpc.insecure_channel(vector.address))

        yield stub, start_vector_worker, metadata
        channel.close()
    finally:
        codes = {"vector": vector.stop() if vector else 0, "metadata": metadata.stop()}
    assert codes == {"vector": 0, "metadata": 0}, (metadata.log_path.read_text(),
                                                    vector and vector.log_path.read_text())


def log_entries(stub) -> int:
    return stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=TIMEOUT).stats.log_entries


def write_all(stub, cid: str, rng, model: dict[str, np.ndarray], start: int = 0) -> int:
    """Upsert RECORDS records in batches (deleting one per batch, so the log holds both
    operations); after every acknowledged write the log is within its bound."""
    sequence = 0
    for first in range(start, start + RECORDS, BATCH):
        ids = [f"r{i}" for i in range(first, first + BATCH)]
        array = rng.standard_normal((BATCH, DIM)).astype(np.float32)
        stub.UpsertRecords(rsvc.UpsertRecordsRequest(
            collection_id=cid, ids=ids, embeddings=vectors.encode(array)), timeout=TIMEOUT)
        model.update(zip(ids, array))
        sequence = stub.DeleteRecords(rsvc.DeleteRecordsRequest(
            collection_id=cid, ids=[ids[0]]), timeout=TIMEOUT).log_sequence
        model.pop(ids[0])
        assert log_entries(stub) <= RETENTION + BATCH
    return sequence


def search(vector_stub, stub, cid: str, queries: np.ndarray, k: int):
    prepared = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=cid), timeout=TIMEOUT)
    reply = vector_stub.Search(vector_service_pb2.SearchRequest(
        segment=prepared.segment, queries=vectors.encode(queries), k=k,
        min_sequence=prepared.log_sequence), timeout=TIMEOUT)
    results = []
    for result in reply.results:
        labels = list(result.labels)
        ids = list(stub.FetchRecords(msvc.FetchRecordsRequest(
            collection_id=cid, labels=labels, include=common_pb2.Include()),
            timeout=TIMEOUT).records.ids)
        results.append((ids, np.array(result.distances)))
    return results


def assert_exact(results, model: dict[str, np.ndarray], queries: np.ndarray, k: int):
    ids = list(model)
    x = np.array([model[i] for i in ids], dtype=np.float64)
    dist = ((queries.astype(np.float64)[:, None, :] - x[None, :, :]) ** 2).sum(-1)  # l2
    for (got_ids, got_d), row in zip(results, dist, strict=True):
        order = np.argsort(row, kind="stable")[:k]
        assert got_ids == [ids[j] for j in order]
        np.testing.assert_allclose(got_d, row[order], rtol=1e-4, atol=1e-5)


def test_the_log_stays_bounded_and_a_vector_worker_rebuilds_exactly(workers):
    stub, start_vector_worker, metadata = workers
    rng = np.random.default_rng(3)
    cid = stub.CreateCollection(csvc.CreateCollectionRequest(name="retained"),
                                timeout=TIMEOUT).collection.id
    model: dict[str, np.ndarray] = {}
    last = write_all(stub, cid, rng, model)

    behind = stub.ReadLog(msvc.ReadLogRequest(collection_id=cid), timeout=TIMEOUT)
    assert RECORDS + RECORDS // BATCH - RETENTION - BATCH <= behind.purged_through < last
    assert len(behind.sequences) <= RETENTION
    assert stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=cid),
                             timeout=TIMEOUT).log_sequence == last  # the position held
    assert "log retention" in metadata.log_path.read_text()

    vector_stub = start_vector_worker()  # no segment folder yet: rebuilds from ScanVectors
    queries = rng.standard_normal((6, DIM)).astype(np.float32)
    assert_exact(search(vector_stub, stub, cid, queries, 10), model, queries, 10)
    assert len(model) == RECORDS - RECORDS // BATCH

    # A copy loaded now falls behind the purges of the next 1,000 records; whether the
    # worker catches up in between or finds the log purged past it and rebuilds, the
    # answers are exact.
    write_all(stub, cid, rng, model, start=RECORDS)
    assert_exact(search(vector_stub, stub, cid, queries, 10), model, queries, 10)
    assert log_entries(stub) <= RETENTION + BATCH
