"""ReportPersisted and GetStorageStats over gRPC, against a real metadata worker process:
the purge, purged_through in ReadLog, log positions that do not move, and the codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from segmentdb import errors, vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    port_file, log = root / "port.json", root / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "metadata_worker", "--path", str(root / "data"), "--port", "0",
         "--port-file", str(port_file)],
        cwd=REPO, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"metadata worker did not start:\n{log.read_text()}")
        time.sleep(0.05)
    channel = grpc.insecure_channel(f"127.0.0.1:{json.loads(port_file.read_text())['port']}")
    yield metadata_service_pb2_grpc.MetadataServiceStub(channel)
    channel.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()


def add(stub, cid: str, ids: list[str]) -> int:
    array = np.random.default_rng(len(ids)).random((len(ids), 3), dtype=np.float32)
    return stub.AddRecords(rsvc.AddRecordsRequest(
        collection_id=cid, ids=ids, embeddings=vectors.encode(array))).log_sequence


def vector_segment(stub, collection) -> str:
    """The collection's vector segment id, as a vector worker learns it."""
    return stub.PrepareQuery(msvc.PrepareQueryRequest(
        collection_id=collection.id)).segment.segment_id


def report(stub, collection, applied: int) -> int:
    return stub.ReportPersisted(msvc.ReportPersistedRequest(
        segment_id=vector_segment(stub, collection), collection_id=collection.id,
        applied_sequence=applied)).purged_through


def failure(call, request) -> errors.SegmentDBError:
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return errors.from_rpc_error(info.value)


def test_report_persisted_purges_and_positions_hold(stub):
    collection = stub.CreateCollection(csvc.CreateCollectionRequest(name="purge")).collection
    first = add(stub, collection.id, ["a", "b"])
    last = add(stub, collection.id, ["c"])
    assert report(stub, collection, first) == first

    log = stub.ReadLog(msvc.ReadLogRequest(collection_id=collection.id, after_sequence=first))
    assert list(log.sequences) == [last] and log.purged_through == first
    behind = stub.ReadLog(msvc.ReadLogRequest(collection_id=collection.id))
    assert behind.purged_through == first > 0  # a reader at 0 knows it must rebuild

    assert report(stub, collection, last) == last
    assert list(stub.ReadLog(msvc.ReadLogRequest(
        collection_id=collection.id, after_sequence=last)).sequences) == []
    # Nothing left in the log, yet the position is unchanged everywhere it is read.
    prepared = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=collection.id))
    assert prepared.log_sequence == last and prepared.record_count == 3
    pages = list(stub.ScanVectors(msvc.ScanVectorsRequest(collection_id=collection.id)))
    assert {p.snapshot_sequence for p in pages} == {last}
    assert sum(len(p.labels) for p in pages) == 3
    nothing = stub.AddRecords(rsvc.AddRecordsRequest(  # existing ids: nothing logged
        collection_id=collection.id, ids=["a"], embeddings=vectors.encode(np.zeros((1, 3)))))
    assert (nothing.log_sequence, nothing.inserted) == (last, 0)
    # A lower report (an older save) does not unpurge.
    assert report(stub, collection, first) == last


def test_report_persisted_errors_carry_their_codes(stub):
    collection = stub.CreateCollection(csvc.CreateCollectionRequest(name="gone")).collection
    sequence = add(stub, collection.id, ["a"])
    segment_id = vector_segment(stub, collection)
    beyond = failure(stub.ReportPersisted, msvc.ReportPersistedRequest(
        segment_id=segment_id, collection_id=collection.id,
        applied_sequence=sequence + 1000))
    assert isinstance(beyond, errors.FailedPreconditionError) and "rebuild" in beyond.message
    stub.DeleteCollection(csvc.DeleteCollectionRequest(name="gone"))
    missing = failure(stub.ReportPersisted, msvc.ReportPersistedRequest(
        segment_id=segment_id, collection_id=collection.id,
        applied_sequence=sequence))
    assert isinstance(missing, errors.NotFoundError)
    assert missing.code == grpc.StatusCode.NOT_FOUND


def test_storage_stats(stub):
    before = stub.GetStorageStats(msvc.GetStorageStatsRequest()).stats
    collection = stub.CreateCollection(csvc.CreateCollectionRequest(name="stats")).collection
    last = add(stub, collection.id, [f"r{i}" for i in range(100)])
    after = stub.GetStorageStats(msvc.GetStorageStatsRequest()).stats
    assert after.collections == before.collections + 1
    assert after.records == before.records + 100
    assert after.log_entries == before.log_entries + 100
    assert after.sqlite_bytes >= before.sqlite_bytes > 0
    report(stub, collection, last)
    purged = stub.GetStorageStats(msvc.GetStorageStatsRequest()).stats
    assert purged.log_entries == before.log_entries
    assert purged.records == after.records
