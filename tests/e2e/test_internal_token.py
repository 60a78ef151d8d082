"""The shared internal token: `segmentdb serve` makes one for its children; a direct call to
a worker without it is UNAUTHENTICATED, health stays open, and the gateway (whose calls carry
it) serves as usual."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentdb.internal.v1 import (metadata_service_pb2_grpc, vector_service_pb2,
                                   vector_service_pb2_grpc)
from segmentdb.internal_auth import HEADER
from segmentdb.v1 import tenancy_service_pb2


def _worker_address(service, name: str) -> str:
    found = re.findall(rf"{name} serving on (\S+) \(pid", service.log())
    assert found, f"no address of {name} in the serve log:\n{service.log()}"
    return found[-1]


@pytest.fixture()
def workers(service, client):
    client.heartbeat()  # the service is up
    metadata = _worker_address(service, "metadata-worker")
    vector = _worker_address(service, "vector-worker-1")
    if not metadata.startswith("unix:"):
        pytest.skip("serve fell back to loopback TCP (TMPDIR too long for socket paths)")
    token_file = Path(metadata[len("unix:"):]).parent / "internal-token"
    return metadata, vector, token_file


def test_serve_writes_a_private_random_token(workers):
    _metadata, _vector, token_file = workers
    mode = stat.S_IMODE(token_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    assert len(token_file.read_text().strip()) >= 32


def test_a_worker_refuses_a_call_without_the_token(workers):
    metadata, vector, token_file = workers
    token = token_file.read_text().strip()
    with grpc.insecure_channel(metadata) as channel:
        stub = metadata_service_pb2_grpc.MetadataServiceStub(channel)
        request = tenancy_service_pb2.GetTenantRequest(name="default_tenant")
        for metadata_sent in ([], [(HEADER, "x" * 43)]):
            with pytest.raises(grpc.RpcError) as info:
                stub.GetTenant(request, metadata=metadata_sent, timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "internal token" in info.value.details()
        assert stub.GetTenant(request, metadata=[(HEADER, token)], timeout=30).tenant.name == \
            "default_tenant"
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=30)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(vector) as channel:
        stub = vector_service_pb2_grpc.VectorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.GetWorkerStats(vector_service_pb2.GetWorkerStatsRequest(),
                            metadata=[(HEADER, token)], timeout=30)


def test_the_gateway_and_vector_workers_send_the_token(client, collection):
    # A query goes gateway -> vector worker -> (catch-up) metadata worker, and
    # gateway -> metadata worker: every hop needs the token.
    collection.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]])
    assert collection.query(query_embeddings=[[0.9, 0.1]], n_results=1)["ids"] == [["a"]]
    assert client.stats()["workers"]


def test_a_worker_refuses_to_start_with_an_unusable_token_file(tmp_path):
    weak = tmp_path / "token"
    weak.write_text("short\n")
    done = subprocess.run([sys.executable, "-m", "segmentdb.cli", "metadata-worker", "--path",
                           str(tmp_path / "data"), "--internal-token-file", str(weak)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--internal-token-file" in done.stderr and "at least 16" in done.stderr
    assert "short" not in done.stderr.replace("--internal-token-file", "")
