"""The gateway in front of a real metadata worker and a real vector worker, over real gRPC.

Each process starts with --port 0 --port-file (how the supervisor learns ports); teardown
sends SIGTERM to each and asserts exit 0.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from processes import Process, start  # noqa: F401  (Process used in type hints)
from segmentdb import errors, vectors
from segmentdb.v1 import (
    collection_service_pb2 as cs,
    collection_service_pb2_grpc as cs_grpc,
    common_pb2,
    record_service_pb2 as rs,
    record_service_pb2_grpc as rs_grpc,
)

REPO = Path(__file__).resolve().parents[2]
PUBLIC_SERVICES = {"segmentdb.v1.SystemService", "segmentdb.v1.TenancyService",
                   "segmentdb.v1.CollectionService", "segmentdb.v1.RecordService",
                   "segmentdb.v1.AdminService"}


def dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gateway-it")
    data = folder / "data"
    started: list[Process] = []
    try:
        metadata = start("metadata_worker", folder, "metadata", "--path", str(data))
        started.append(metadata)
        vector = start("vector_worker", folder, "vector", "--path", str(data),
                       "--metadata", metadata.address)
        started.append(vector)
        gateway = start("gateway", folder, "gateway", "--metadata", metadata.address,
                        "--vector-workers", vector.address)
        started.append(gateway)
        yield {"metadata": metadata, "vector": vector, "gateway": gateway, "folder": folder}
    finally:
        codes = {p.name: p.stop() for p in reversed(started)}
        logs = "\n".join(f"--- {p.name}\n{p.log_path.read_text()}" for p in started)
        assert all(code == 0 for code in codes.values()), f"{codes}\n{logs}"


@pytest.fixture(scope="module")
def channel(cluster):
    ch = grpc.insecure_channel(cluster["gateway"].address)
    yield ch
    ch.close()


@pytest.fixture()
def stubs(channel):
    return cs_grpc.CollectionServiceStub(channel), rs_grpc.RecordServiceStub(channel)


def create(collections, name: str, space=None):
    request = cs.CreateCollectionRequest(name=name)
    if space is not None:
        request.configuration.hnsw.space = space
    return collections.CreateCollection(request, timeout=10).collection


def add_records(records, collection_id: str, embeddings: np.ndarray, prefix: str = "r"):
    ids = [f"{prefix}{i}" for i in range(len(embeddings))]
    return records.AddRecords(rs.AddRecordsRequest(
        collection_id=collection_id, ids=ids, embeddings=vectors.encode(embeddings),
        documents=[common_pb2.OptionalString(value=f"document {i}") for i in ids],
        metadatas=[common_pb2.Metadata(fields={
            "i": common_pb2.MetadataValue(int_value=n),
            "even": common_pb2.MetadataValue(bool_value=n % 2 == 0)})
            for n in range(len(ids))]), timeout=10)


def test_health_and_reflection(channel):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
        health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert PUBLIC_SERVICES <= names


def test_create_add_query_get(stubs):
    collections, records = stubs
    collection = create(collections, "it-basic")
    rng = np.random.default_rng(7)
    data = rng.random((50, 8), dtype=np.float32)
    added = add_records(records, collection.id, data)
    assert added.inserted == 50 and added.log_sequence > 0

    queries = data[[3, 17]] + 0.001
    reply = records.QueryRecords(rs.QueryRecordsRequest(
        collection_id=collection.id, query_embeddings=vectors.encode(queries), n_results=5),
        timeout=10)
    assert len(reply.results) == 2
    for query, batch in zip(queries, reply.results):
        expected = np.argsort(((data - query) ** 2).sum(axis=1))[:5]
        assert list(batch.ids) == [f"r{i}" for i in expected]
        assert [d.value for d in batch.documents] == [f"document r{i}" for i in expected]
        assert [m.fields["i"].int_value for m in batch.metadatas] == list(expected)
        assert list(batch.distances) == sorted(batch.distances)
        assert batch.distances[0] == pytest.approx(8 * 0.001 ** 2, abs=1e-5)
        assert not batch.embeddings.data  # not in the default include

    got = records.GetRecords(rs.GetRecordsRequest(
        collection_id=collection.id, ids=["r5", "r1"],
        include=common_pb2.Include(fields=[common_pb2.INCLUDE_FIELD_EMBEDDINGS])), timeout=10)
    assert sorted(got.records.ids) == ["r1", "r5"]
    by_id = dict(zip(got.records.ids, vectors.decode(got.records.embeddings)))
    np.testing.assert_array_equal(by_id["r5"], data[5])
    assert records.CountRecords(rs.CountRecordsRequest(collection_id=collection.id),
                                timeout=10).count == 50


def test_calls_without_a_deadline(stubs):
    # What the SDK does by default: no client deadline must reach every worker as "none".
    collections, records = stubs
    collection = collections.CreateCollection(cs.CreateCollectionRequest(name="it-no-deadline"))
    records.AddRecords(rs.AddRecordsRequest(collection_id=collection.collection.id, ids=["a"],
                                            embeddings=vectors.encode([[1.0, 0.0]])))
    reply = records.QueryRecords(rs.QueryRecordsRequest(
        collection_id=collection.collection.id, query_embeddings=vectors.encode([[1.0, 0.0]]),
        n_results=1))
    assert list(reply.results[0].ids) == ["a"]


def test_query_with_filter_embeddings_and_fewer_matches(stubs):
    collections, records = stubs
    collection = create(collections, "it-filtered")
    data = np.eye(6, dtype=np.float32)
    add_records(records, collection.id, data)
    only_even = common_pb2.Where(condition=common_pb2.FieldCondition(
        key="even", operator=common_pb2.COMPARISON_OPERATOR_EQ,
        value=common_pb2.MetadataValue(bool_value=True)))
    reply = records.QueryRecords(rs.QueryRecordsRequest(
        collection_id=collection.id, query_embeddings=vectors.encode(data[[1]]), n_results=10,
        where=only_even, include=common_pb2.Include(fields=[
            common_pb2.INCLUDE_FIELD_EMBEDDINGS, common_pb2.INCLUDE_FIELD_DISTANCES])),
        timeout=10)
    (batch,) = reply.results
    assert sorted(batch.ids) == ["r0", "r2", "r4"]  # fewer than n_results, no error
    assert not batch.documents and not batch.metadatas
    returned = dict(zip(batch.ids, vectors.decode(batch.embeddings)))
    np.testing.assert_array_equal(returned["r2"], data[2])
    assert np.allclose(batch.distances, 2.0)


def test_query_errors_and_empty_collection(stubs):
    collections, records = stubs
    empty = create(collections, "it-empty")
    reply = records.QueryRecords(rs.QueryRecordsRequest(
        collection_id=empty.id, query_embeddings=vectors.encode([[1.0, 2.0], [3.0, 4.0]]),
        n_results=3), timeout=10)
    assert [list(b.ids) for b in reply.results] == [[], []]

    collection = create(collections, "it-dimension")
    add_records(records, collection.id, np.ones((3, 4), dtype=np.float32))
    with pytest.raises(grpc.RpcError) as info:
        records.QueryRecords(rs.QueryRecordsRequest(
            collection_id=collection.id, query_embeddings=vectors.encode([[1.0, 2.0]]),
            n_results=1), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(errors.from_rpc_error(info.value), errors.InvalidDimensionException)
    assert "dimension 2" in info.value.details() and "dimension 4" in info.value.details()

    with pytest.raises(grpc.RpcError) as info:
        records.QueryRecords(rs.QueryRecordsRequest(
            collection_id="no-such-collection", query_embeddings=vectors.encode([[1.0]]),
            n_results=1), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_delete_collection_drops_it(stubs):
    collections, records = stubs
    collection = create(collections, "it-deleted")
    add_records(records, collection.id, np.ones((2, 3), dtype=np.float32))
    records.QueryRecords(rs.QueryRecordsRequest(
        collection_id=collection.id, query_embeddings=vectors.encode([[1.0, 1.0, 1.0]]),
        n_results=1), timeout=10)  # loads the segment on the vector worker
    collections.DeleteCollection(cs.DeleteCollectionRequest(name="it-deleted"), timeout=10)
    with pytest.raises(grpc.RpcError) as info:
        collections.GetCollection(cs.GetCollectionRequest(name="it-deleted"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_failover_to_the_next_worker_when_one_is_down(cluster, stubs):
    """A gateway whose worker list is mostly dead addresses still answers every query:
    whichever dead worker ranks first for a segment, the search moves on to the live one.
    With 8 segments and 3 of 4 workers dead, no dead worker ranking first for any segment
    has probability (1/4)**8 ~ 1.5e-5, so the log check below does not flake."""
    collections, records = stubs
    ids = []
    for n in range(8):
        collection = create(collections, f"it-failover-{n}")
        add_records(records, collection.id, np.eye(3, dtype=np.float32))
        ids.append(collection.id)
    workers = ",".join([dead_address(), dead_address(), dead_address(),
                        cluster["vector"].address])
    gateway = start("gateway", cluster["folder"], "gateway-failover", "--metadata",
                    cluster["metadata"].address, "--vector-workers", workers)
    try:
        with grpc.insecure_channel(gateway.address) as ch:
            stub = rs_grpc.RecordServiceStub(ch)
            for collection_id in ids:
                reply = stub.QueryRecords(rs.QueryRecordsRequest(
                    collection_id=collection_id, n_results=1,
                    query_embeddings=vectors.encode([[0.0, 1.0, 0.0]])), timeout=20)
                assert list(reply.results[0].ids) == ["r1"]
    finally:
        assert gateway.stop() == 0, gateway.log_path.read_text()
    log = gateway.log_path.read_text()
    assert "failed for segment" in log and "marked down" in log
