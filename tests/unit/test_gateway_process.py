"""The gateway as a real process with no workers behind it.

What needs no worker must work (health, reflection, SystemService, validation errors with
their class); what needs one must fail as UNAVAILABLE, never UNKNOWN; SIGTERM exits 0.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from segmentdb import errors, vectors
from segmentdb.v1 import (
    collection_service_pb2 as cs,
    collection_service_pb2_grpc as cs_grpc,
    record_service_pb2 as rs,
    record_service_pb2_grpc as rs_grpc,
    system_service_pb2 as ss,
    system_service_pb2_grpc as ss_grpc,
)
from segmentdb.version import __version__

REPO = Path(__file__).resolve().parents[2]


def unused_address() -> str:
    """An address nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gateway")
    port_file = folder / "port.json"
    log_path = folder / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--metadata", unused_address(),
             "--vector-workers", f"{unused_address()},{unused_address()}", "--port", "0",
             "--port-file", str(port_file), "--max-batch-size", "10",
             "--max-message-size", "1MiB"],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        assert proc.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    info = json.loads(port_file.read_text())
    assert info["pid"] == proc.pid
    channel = grpc.insecure_channel(f"127.0.0.1:{info['port']}")
    yield channel
    channel.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_path.read_text()


def error_class(err: grpc.RpcError) -> type:
    return type(errors.from_rpc_error(err))


def test_health_is_serving(gateway):
    stub = health_pb2_grpc.HealthStub(gateway)
    for service in ("", "segmentdb.v1.RecordService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_public_services(gateway):
    stub = reflection_pb2_grpc.ServerReflectionStub(gateway)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        list_services="")]), timeout=5)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"segmentdb.v1.SystemService", "segmentdb.v1.TenancyService",
            "segmentdb.v1.CollectionService", "segmentdb.v1.RecordService",
            "grpc.health.v1.Health"} <= names


def test_system_service(gateway):
    stub = ss_grpc.SystemServiceStub(gateway)
    before = time.time_ns()
    beat = stub.Heartbeat(ss.HeartbeatRequest(), timeout=5)
    assert before - 10**9 < beat.nanoseconds < time.time_ns() + 10**9
    assert stub.GetVersion(ss.GetVersionRequest(), timeout=5).version == __version__
    limits = stub.GetLimits(ss.GetLimitsRequest(), timeout=5)
    assert limits.max_batch_size == 10
    assert limits.max_message_bytes == 1024 * 1024


def test_validation_errors_arrive_with_their_class(gateway):
    records = rs_grpc.RecordServiceStub(gateway)
    with pytest.raises(grpc.RpcError) as info:
        records.AddRecords(rs.AddRecordsRequest(
            collection_id="c", ids=["a", "a"], embeddings=vectors.encode(np.ones((2, 2)))),
            timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_class(info.value) is errors.DuplicateIDError

    with pytest.raises(grpc.RpcError) as info:
        records.AddRecords(rs.AddRecordsRequest(
            collection_id="c", ids=[str(i) for i in range(11)],
            embeddings=vectors.encode(np.ones((11, 2)))), timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-batch-size" in info.value.details()

    collections = cs_grpc.CollectionServiceStub(gateway)
    with pytest.raises(grpc.RpcError) as info:
        collections.CreateCollection(cs.CreateCollectionRequest(name="a..b"), timeout=5)
    assert error_class(info.value) is errors.InvalidCollectionNameError


def test_oversized_message_is_resource_exhausted(gateway):
    records = rs_grpc.RecordServiceStub(gateway)
    big = vectors.encode(np.ones((1, 400_000)))  # 1.6 MB > 1 MiB
    with pytest.raises(grpc.RpcError) as info:
        records.AddRecords(rs.AddRecordsRequest(collection_id="c", ids=["a"], embeddings=big),
                           timeout=5)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_worker_down_is_unavailable_not_unknown(gateway):
    records = rs_grpc.RecordServiceStub(gateway)
    with pytest.raises(grpc.RpcError) as info:
        records.CountRecords(rs.CountRecordsRequest(collection_id="c"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    collections = cs_grpc.CollectionServiceStub(gateway)
    with pytest.raises(grpc.RpcError) as info:
        collections.CreateCollection(cs.CreateCollectionRequest(name="docs"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_call_without_deadline_reaches_the_worker(gateway):
    # No client deadline must mean no downstream deadline, not an overflowed one
    # (which fails at once with DEADLINE_EXCEEDED instead of the real UNAVAILABLE).
    records = rs_grpc.RecordServiceStub(gateway)
    with pytest.raises(grpc.RpcError) as info:
        records.CountRecords(rs.CountRecordsRequest(collection_id="c"))
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_bad_flags_exit_with_usage():
    result = subprocess.run([sys.executable, "-m", "gateway", "--metadata", "x:1",
                             "--vector-workers", "y:1", "--max-message-size", "lots"],
                            capture_output=True, text=True, cwd=REPO, timeout=30)
    assert result.returncode == 2
    assert "--max-message-size" in result.stderr
