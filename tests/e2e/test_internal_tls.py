"""TLS on the internal channels, with real processes and certificates made by the test
(tests/certificates.py): a metadata worker (on a Unix socket) and a vector worker (on TCP)
serve TLS only; a gateway trusting their CA serves the SDK as usual (queries equal an exact
search); a plaintext caller, a caller trusting another CA and a caller checking another
server name are refused at the handshake (UNAVAILABLE); a worker given an unusable file
stops with the flag's name."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import segmentdb
from certificates import authority
from gateway.worker_clients import WorkerClients
from processes import REPO, start
from segmentdb.tls import InternalClientTls

# Refusals are transport failures; keep each attempt short but generous for a loaded machine.
HANDSHAKE_TIMEOUT = 10


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("internal-pki")
    ca = authority(folder, "internal-ca")
    other = authority(folder, "other-ca")
    return {"ca": ca, "other": other, "worker": ca.issue("worker", server=True)}


@pytest.fixture(scope="module")
def cluster(pki, tmp_path_factory):
    folder = tmp_path_factory.mktemp("internal-tls")
    # A short folder for the socket (Unix socket paths are limited to ~107 bytes).
    sockets = Path(tempfile.mkdtemp(prefix="itls-"))
    metadata_address = f"unix:{sockets / 'metadata.sock'}"
    server_tls = ["--internal-tls-cert", str(pki["worker"].cert),
                  "--internal-tls-key", str(pki["worker"].key)]
    # The socket's name is its path, which no certificate names: check against localhost.
    client_tls = ["--internal-tls-ca", str(pki["ca"].cert),
                  "--internal-tls-server-name", "localhost"]
    started = []
    try:
        metadata = start("metadata_worker", folder, "metadata", "--path", str(folder / "data"),
                         "--host", metadata_address, *server_tls)
        metadata.address = metadata_address
        started.append(metadata)
        vector = start("vector_worker", folder, "vector", "--path", str(folder / "data"),
                       "--metadata", metadata_address, *server_tls, *client_tls)
        started.append(vector)
        gateway = start("gateway", folder, "gateway", "--metadata", metadata_address,
                        "--vector-workers", vector.address, *client_tls)
        started.append(gateway)
        yield {"metadata": metadata, "vector": vector, "gateway": gateway}
    finally:
        codes = {p.name: p.stop() for p in reversed(started)}
        shutil.rmtree(sockets, ignore_errors=True)
    assert all(code == 0 for code in codes.values()), (
        codes, [p.log_path.read_text() for p in started])


def _health(channel: grpc.Channel) -> int:
    request = health_pb2.HealthCheckRequest(service="")
    return health_pb2_grpc.HealthStub(channel).Check(request, timeout=HANDSHAKE_TIMEOUT).status


def _assert_refused(channel: grpc.Channel) -> None:
    with channel, pytest.raises(grpc.RpcError) as info:
        _health(channel)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value


def test_the_sdk_works_through_a_gateway_on_tls_workers(cluster):
    rng = np.random.default_rng(6)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    with segmentdb.Client(cluster["gateway"].address, timeout=60) as client:
        docs = client.create_collection("internal-tls")
        docs.add(ids=[f"v{i}" for i in range(len(vectors))], embeddings=vectors.tolist())
        assert docs.count() == len(vectors)
        found = docs.query(query_embeddings=queries.tolist(), n_results=5)
    for row, query in enumerate(queries):
        exact = np.argsort(((vectors - query) ** 2).sum(axis=1), kind="stable")[:5]
        assert found["ids"][row] == [f"v{i}" for i in exact]
    # The metadata worker's start-up line says its port is TLS.
    assert "with TLS" in cluster["metadata"].log_path.read_text()


@pytest.mark.parametrize("worker", ["metadata", "vector"])
def test_a_caller_trusting_the_ca_passes_health_over_tls(cluster, pki, worker):
    tls = InternalClientTls.from_flags(str(pki["ca"].cert), "localhost")
    with tls.open(cluster[worker].address, []) as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("worker", ["metadata", "vector"])
def test_a_plaintext_caller_is_refused(cluster, worker):
    _assert_refused(grpc.insecure_channel(cluster[worker].address))


@pytest.mark.parametrize("worker", ["metadata", "vector"])
def test_a_caller_trusting_another_ca_is_refused(cluster, pki, worker):
    tls = InternalClientTls.from_flags(str(pki["other"].cert), "localhost")
    _assert_refused(tls.open(cluster[worker].address, []))


def test_a_server_name_the_certificate_does_not_carry_is_refused(cluster, pki):
    tls = InternalClientTls.from_flags(str(pki["ca"].cert), "not-the-worker.example")
    _assert_refused(tls.open(cluster["vector"].address, []))


def test_a_worker_with_a_key_that_is_not_pem_stops_naming_the_flag(pki, tmp_path):
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("not a key\n")
    done = subprocess.run(
        [sys.executable, "-m", "metadata_worker", "--path", str(tmp_path / "data"),
         "--internal-tls-cert", str(pki["worker"].cert), "--internal-tls-key", str(not_pem)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done
    assert "--internal-tls-key" in done.stderr and "not a PEM file" in done.stderr


def _eventually_alive(workers, address: str) -> bool:
    # One health check has PROBE_TIMEOUT_SECONDS (1 s); a loaded machine may miss one.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if workers.health.alive(address):
            return True
        time.sleep(0.5)
    return False


def test_the_gateways_health_and_hang_watch_channels_use_tls(cluster, pki):
    """The channels the gateway checks liveness on (worker_clients, hang_watch) speak TLS:
    with the right CA the worker is alive and a replaced call channel still works; with
    another CA it never is."""
    address = cluster["vector"].address
    good = WorkerClients(cluster["metadata"].address, (address,), 1 << 20,
                         tls=InternalClientTls.from_flags(str(pki["ca"].cert), "localhost"))
    try:
        assert _eventually_alive(good, address)
        worker = good._vector_channels[address]
        worker.replace()  # what the hang watch does to a hung worker's channel
        with worker.call() as pending:
            assert _health(pending.channel) == health_pb2.HealthCheckResponse.SERVING
    finally:
        good.close()
    wrong = WorkerClients(cluster["metadata"].address, (address,), 1 << 20,
                          tls=InternalClientTls.from_flags(str(pki["other"].cert), "localhost"))
    try:
        assert not wrong.health.alive(address)
    finally:
        wrong.close()
