"""The metadata worker as a real process: `python -m metadata_worker --port 0 --port-file F`,
spoken to over gRPC (health included), stopped with SIGTERM (exit 0), and refusing to
share its data folder with a second worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentdb import errors, labels, vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc, segment_pb2
from segmentdb.v1 import collection_pb2, common_pb2 as pb
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc
from segmentdb.v1 import tenancy_service_pb2 as tsvc

REPO = Path(__file__).resolve().parents[2]
SERVICE = "segmentdb.internal.v1.MetadataService"


def start_worker(data: Path, port_file: Path, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "metadata_worker", "--path", str(data), "--port", "0",
           "--port-file", str(port_file)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def wait_for_port(proc: subprocess.Popen, port_file: Path, log: Path, timeout=30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"metadata worker exited {proc.returncode}:\n{log.read_text()}")
        if port_file.exists():
            return json.loads(port_file.read_text())["port"]
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"metadata worker did not start:\n{log.read_text()}")


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    root = tmp_path_factory.mktemp("metadata-worker")
    data, port_file, log = root / "data", root / "port.json", root / "worker.log"
    proc = start_worker(data, port_file, log)
    port = wait_for_port(proc, port_file, log)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
        ("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)])
    yield {"proc": proc, "channel": channel, "data": data, "root": root, "log": log,
           "port_file": port_file}
    channel.close()
    if proc.poll() is None:
        proc.kill()


@pytest.fixture(scope="module")
def stub(worker):
    return metadata_service_pb2_grpc.MetadataServiceStub(worker["channel"])


def rpc_error(call, *args) -> errors.SegmentDBError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)
    return errors.from_rpc_error(info.value)


def new_collection(stub, name: str, **kwargs) -> collection_pb2.Collection:
    return stub.CreateCollection(csvc.CreateCollectionRequest(name=name, **kwargs)).collection


def test_health_reports_serving_and_the_port_file_names_the_process(worker):
    health = health_pb2_grpc.HealthStub(worker["channel"])
    for service in ("", SERVICE):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert json.loads(worker["port_file"].read_text())["pid"] == worker["proc"].pid


def test_a_second_worker_on_the_same_folder_exits_with_the_lock_message(worker):
    root = worker["root"]
    second = subprocess.run(
        [sys.executable, "-m", "metadata_worker", "--path", str(worker["data"]), "--port", "0",
         "--port-file", str(root / "second.json")],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "another metadata worker" in second.stderr and "is already using" in second.stderr
    assert str(worker["data"]) in second.stderr  # names the folder
    assert f"pid {worker['proc'].pid}" in second.stderr  # and who holds it
    assert not (root / "second.json").exists()


def test_records_round_trip_over_grpc(stub):
    collection = new_collection(stub, "round-trip", configuration=collection_pb2.CollectionConfiguration(
        hnsw=collection_pb2.HnswConfiguration(space=collection_pb2.SPACE_COSINE)))
    assert collection.configuration.hnsw.space == collection_pb2.SPACE_COSINE
    assert collection.configuration.hnsw.max_neighbors == 16
    assert not collection.HasField("dimension")
    array = np.random.default_rng(1).random((3, 4), dtype=np.float32)
    added = stub.AddRecords(rsvc.AddRecordsRequest(
        collection_id=collection.id, ids=["a", "b", "c"], embeddings=vectors.encode(array),
        documents=[pb.OptionalString(value="apple pie"), pb.OptionalString(),
                   pb.OptionalString(value="banana split")],
        metadatas=[pb.Metadata(fields={"n": pb.MetadataValue(int_value=1),
                                       "tags": pb.MetadataValue(string_list=pb.StringList(values=["x"]))}),
                   pb.Metadata(), pb.Metadata(fields={"n": pb.MetadataValue(float_value=2.5)})]))
    assert (added.log_sequence, added.inserted) == (3, 3)

    got = stub.GetRecords(rsvc.GetRecordsRequest(
        collection_id=collection.id,
        include=pb.Include(fields=[pb.INCLUDE_FIELD_DOCUMENTS, pb.INCLUDE_FIELD_EMBEDDINGS]))).records
    assert list(got.ids) == ["a", "b", "c"] and len(got.metadatas) == 0
    assert [d.value if d.HasField("value") else None for d in got.documents] == \
        ["apple pie", None, "banana split"]
    np.testing.assert_array_equal(vectors.decode(got.embeddings), array)
    default = stub.GetRecords(rsvc.GetRecordsRequest(collection_id=collection.id, ids=["c"])).records
    assert default.metadatas[0].fields["n"].float_value == 2.5 and not default.embeddings.data

    where = pb.Where(condition=pb.FieldCondition(
        key="n", operator=pb.COMPARISON_OPERATOR_GTE, value=pb.MetadataValue(int_value=2)))
    prepared = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=collection.id, where=where))
    assert prepared.filtered and labels.decode(prepared.allowed).tolist() == [3]
    assert prepared.segment.dimension == 4 and prepared.log_sequence == 3
    assert prepared.record_count == 3
    assert prepared.segment.hnsw.space == collection_pb2.SPACE_COSINE
    unfiltered = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=collection.id))
    assert not unfiltered.filtered and not unfiltered.allowed.int64_le

    fetched = stub.FetchRecords(msvc.FetchRecordsRequest(
        collection_id=collection.id, labels=[3, 1, 42],
        include=pb.Include(fields=[pb.INCLUDE_FIELD_DOCUMENTS, pb.INCLUDE_FIELD_DISTANCES])))
    assert list(fetched.labels) == [3, 1] and list(fetched.records.ids) == ["c", "a"]

    deleted = stub.DeleteRecords(rsvc.DeleteRecordsRequest(
        collection_id=collection.id, where_document=pb.WhereDocument(condition=pb.DocumentCondition(
            operator=pb.DOCUMENT_OPERATOR_CONTAINS, pattern="apple"))))
    assert (deleted.deleted, deleted.log_sequence) == (1, 4)
    log = stub.ReadLog(msvc.ReadLogRequest(collection_id=collection.id))
    assert list(log.sequences) == [2, 3, 4] and list(log.labels) == [2, 3, 1]
    assert list(log.operations) == [segment_pb2.LOG_OPERATION_UPSERT] * 2 + \
        [segment_pb2.LOG_OPERATION_DELETE]
    np.testing.assert_array_equal(vectors.decode(log.vectors), array[[1, 2]])
    pages = list(stub.ScanVectors(msvc.ScanVectorsRequest(collection_id=collection.id, page_size=1)))
    assert [list(p.labels) for p in pages] == [[2], [3]]
    assert {p.snapshot_sequence for p in pages} == {4}
    assert stub.CountRecords(rsvc.CountRecordsRequest(collection_id=collection.id)).count == 2


def test_errors_arrive_as_segmentdb_classes(stub):
    collection = new_collection(stub, "errors")
    stub.AddRecords(rsvc.AddRecordsRequest(collection_id=collection.id, ids=["a"],
                                           embeddings=vectors.encode([[1.0, 2.0]])))
    cases = [
        (stub.GetCollection, csvc.GetCollectionRequest(name="missing"), errors.NotFoundError),
        (stub.CreateCollection, csvc.CreateCollectionRequest(name="errors"), errors.UniqueConstraintError),
        (stub.CreateTenant, tsvc.CreateTenantRequest(name="default_tenant"), errors.UniqueConstraintError),
        (stub.AddRecords, rsvc.AddRecordsRequest(collection_id="nope", ids=["a"],
                                                 embeddings=vectors.encode([[1.0]])), errors.NotFoundError),
        (stub.AddRecords, rsvc.AddRecordsRequest(collection_id=collection.id, ids=["b"],
                                                 embeddings=vectors.encode([[1.0, 2.0, 3.0]])),
         errors.InvalidDimensionException),
        (stub.AddRecords, rsvc.AddRecordsRequest(collection_id=collection.id, ids=["b", "b"],
                                                 embeddings=vectors.encode([[1.0, 2.0]] * 2)),
         errors.DuplicateIDError),
        (stub.DeleteRecords, rsvc.DeleteRecordsRequest(collection_id=collection.id),
         errors.InvalidArgumentError),
        (stub.GetRecords, rsvc.GetRecordsRequest(collection_id=collection.id, where=pb.Where()),
         errors.InvalidArgumentError),
        (stub.GetRecords, rsvc.GetRecordsRequest(
            collection_id=collection.id, include=pb.Include(fields=[pb.INCLUDE_FIELD_DISTANCES])),
         errors.InvalidArgumentError),
        (stub.ModifyCollection, csvc.ModifyCollectionRequest(
            collection_id=collection.id, new_configuration=collection_pb2.CollectionConfiguration(
                hnsw=collection_pb2.HnswConfiguration(max_neighbors=64))),
         errors.InvalidArgumentError),
    ]
    cases.append((lambda r: list(stub.ScanVectors(r)), msvc.ScanVectorsRequest(collection_id="nope"),
                  errors.NotFoundError))
    for call, request, expected in cases:
        err = rpc_error(call, request)
        assert type(err) is expected, (request, err)
    err = rpc_error(stub.AddRecords, rsvc.AddRecordsRequest(
        collection_id=collection.id, ids=["b"], embeddings=vectors.encode([[1.0, 2.0, 3.0]])))
    assert "dimension 3 does not match the collection's dimension 2" in err.message


def test_delete_database_returns_vector_segments(stub):
    stub.CreateDatabase(tsvc.CreateDatabaseRequest(name="scratch"))
    made = stub.CreateCollection(csvc.CreateCollectionRequest(database="scratch", name="tmp")).collection
    segment = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=made.id)).segment.segment_id
    reply = stub.DeleteDatabase(tsvc.DeleteDatabaseRequest(name="scratch"))
    assert list(reply.vector_segment_ids) == [segment]


def test_fifty_thousand_records_commit_in_a_few_seconds(stub):
    collection = new_collection(stub, "bulk")
    n, dim = 50_000, 384
    array = np.random.default_rng(7).random((n, dim), dtype=np.float32)
    request = rsvc.AddRecordsRequest(
        collection_id=collection.id, ids=[f"id-{i}" for i in range(n)],
        embeddings=vectors.encode(array),
        documents=[pb.OptionalString(value=f"document {i} about topic {i % 97}") for i in range(n)],
        metadatas=[pb.Metadata(fields={"i": pb.MetadataValue(int_value=i),
                                       "topic": pb.MetadataValue(string_value=f"t{i % 97}")})
                   for i in range(n)])
    started = time.monotonic()
    reply = stub.AddRecords(request, timeout=120)
    elapsed = time.monotonic() - started
    assert reply.inserted == n
    # A few seconds on a quiet machine; the bound leaves room for a loaded CI runner.
    assert elapsed < 30, f"AddRecords of {n} records took {elapsed:.1f}s"
    assert stub.CountRecords(rsvc.CountRecordsRequest(collection_id=collection.id)).count == n


def test_concurrent_writers_are_serialized_without_losing_a_write(stub):
    from concurrent.futures import ThreadPoolExecutor

    collection = new_collection(stub, "concurrent")

    def write(worker: int) -> int:
        ids = [f"w{worker}-{i}" for i in range(50)]
        reply = stub.UpsertRecords(rsvc.UpsertRecordsRequest(
            collection_id=collection.id, ids=ids, embeddings=vectors.encode(np.ones((50, 3)))))
        stub.GetRecords(rsvc.GetRecordsRequest(collection_id=collection.id, ids=ids[:1]))
        return reply.log_sequence

    with ThreadPoolExecutor(8) as pool:
        sequences = list(pool.map(write, range(8)))
    assert len(set(sequences)) == 8
    assert stub.CountRecords(rsvc.CountRecordsRequest(collection_id=collection.id)).count == 400
    log = stub.ReadLog(msvc.ReadLogRequest(collection_id=collection.id))
    assert len(log.sequences) == 400 and list(log.sequences) == sorted(log.sequences)
    assert max(sequences) == log.read_through


def test_sigterm_stops_the_worker_with_exit_code_0(worker, stub):
    # Runs last in this module: the shared worker is stopped here.
    proc = worker["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, worker["log"].read_text()
    assert "metadata worker stopped" in worker["log"].read_text()
    # the folder lock was released: a new worker starts on the same data and sees the data
    port_file = worker["root"] / "restart.json"
    again = start_worker(worker["data"], port_file, worker["log"])
    try:
        port = wait_for_port(again, port_file, worker["log"])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            restarted = metadata_service_pb2_grpc.MetadataServiceStub(channel)
            found = restarted.GetCollection(csvc.GetCollectionRequest(name="round-trip")).collection
            assert restarted.CountRecords(rsvc.CountRecordsRequest(collection_id=found.id)).count == 2
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0
    assert os.path.exists(worker["data"] / "chroma.sqlite3")
