"""The vector worker as a real process, with no metadata worker behind it: request checks,
UNAVAILABLE when a segment must be rebuilt, DropSegment, flags, and a clean SIGTERM."""

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
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentdb import errors, vectors
from segmentdb.internal.v1 import segment_pb2, vector_service_pb2, vector_service_pb2_grpc
from segmentdb.v1 import collection_pb2

REPO = Path(__file__).resolve().parents[2]


def start_vector_worker(path: Path, metadata: str, port_file: Path, log: Path) -> subprocess.Popen:
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vector_worker", "--path", str(path), "--metadata", metadata,
         "--port", "0", "--port-file", str(port_file)],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"vector worker did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return proc


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vw")
    # Port 1 on localhost: nothing listens there, so the metadata worker is "down".
    proc = start_vector_worker(tmp / "data", "127.0.0.1:1", tmp / "port.json", tmp / "log")
    port = json.loads((tmp / "port.json").read_text())["port"]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield vector_service_pb2_grpc.VectorServiceStub(channel), channel, tmp
    channel.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, (tmp / "log").read_text()


def spec(dimension: int = 3, segment_id: str = "3f1c0e2a-0000-4000-8000-000000000001"):
    return segment_pb2.SegmentSpec(
        segment_id=segment_id, collection_id="col-1", dimension=dimension,
        hnsw=collection_pb2.HnswConfiguration(
            space=collection_pb2.SPACE_L2, max_neighbors=16, ef_construction=100,
            ef_search=100, num_threads=1, resize_factor=1.2, sync_threshold=1000, batch_size=100))


def call_error(fn, request) -> errors.SegmentDBError:
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=10)
    return errors.from_rpc_error(info.value)


def test_reports_serving(worker):
    _, channel, _ = worker
    health = health_pb2_grpc.HealthStub(channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service="segmentdb.internal.v1.VectorService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_wrong_query_dimension_is_invalid_argument_naming_both(worker):
    stub, _, _ = worker
    err = call_error(stub.Search, vector_service_pb2.SearchRequest(
        segment=spec(3), queries=vectors.encode(np.ones((1, 5))), k=1))
    assert isinstance(err, errors.InvalidDimensionException)
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "dimension 5" in err.message and "dimension 3" in err.message


def test_k_zero_is_invalid_argument(worker):
    stub, _, _ = worker
    err = call_error(stub.Search, vector_service_pb2.SearchRequest(
        segment=spec(3), queries=vectors.encode(np.ones((1, 3))), k=0))
    assert isinstance(err, errors.InvalidArgumentError) and "k:" in err.message


def test_non_finite_queries_are_invalid_argument(worker):
    stub, _, _ = worker
    err = call_error(stub.Search, vector_service_pb2.SearchRequest(
        segment=spec(3), queries=vectors.encode(np.array([[1.0, np.nan, 0.0]])), k=1))
    assert isinstance(err, errors.InvalidArgumentError) and "queries[0]" in err.message


def test_a_segment_id_that_could_escape_the_folder_is_refused(worker):
    stub, _, _ = worker
    err = call_error(stub.DropSegment, vector_service_pb2.DropSegmentRequest(segment_id="../x"))
    assert isinstance(err, errors.InvalidArgumentError) and "segment_id" in err.message


def test_collection_without_vectors_gives_empty_results(worker):
    stub, _, _ = worker
    reply = stub.Search(vector_service_pb2.SearchRequest(
        segment=spec(0), queries=vectors.encode(np.ones((2, 4))), k=3), timeout=10)
    assert [list(r.labels) for r in reply.results] == [[], []]


def test_metadata_worker_down_is_unavailable(worker):
    stub, _, _ = worker
    err = call_error(stub.Search, vector_service_pb2.SearchRequest(
        segment=spec(3), queries=vectors.encode(np.ones((1, 3))), k=1, min_sequence=1))
    assert isinstance(err, errors.UnavailableError)
    assert "metadata worker at 127.0.0.1:1" in err.message


def test_drop_unknown_segment_is_ok(worker):
    stub, _, _ = worker
    stub.DropSegment(vector_service_pb2.DropSegmentRequest(
        segment_id="3f1c0e2a-0000-4000-8000-00000000dead"), timeout=10)


def test_bad_flags_exit_1_with_a_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vector_worker", "--path", str(tmp_path), "--metadata", "nocolon"],
        capture_output=True, text=True, cwd=REPO, timeout=30)
    assert result.returncode == 1
    assert "--metadata" in result.stderr and "HOST:PORT" in result.stderr
