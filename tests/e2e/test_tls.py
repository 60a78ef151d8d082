"""TLS and mutual TLS on the gateway's public port, with certificates made by the test
(tests/certificates.py): the right CA works; a plaintext client, a client trusting another
CA, and (mTLS) a client without a certificate or with one from another CA are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import segmentdb
from certificates import authority
from segmentdb import errors

# Refusals are transport failures (UNAVAILABLE); keep each attempt short.
REFUSED_TIMEOUT = 10


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = authority(folder, "test-ca")
    other = authority(folder, "other-ca")
    return {
        "ca": ca, "other": other,
        "server": ca.issue("gateway", server=True),
        "client": ca.issue("app", server=False),
        "stranger": other.issue("stranger", server=False),
    }


def _serve(lifecycle, tmp_path_factory, name, *flags):
    folder = tmp_path_factory.mktemp(name)
    return lifecycle.start_service(folder / "data", vector_workers=1, extra=list(flags))


@pytest.fixture(scope="module")
def tls_service(pki, lifecycle, tmp_path_factory):
    running = _serve(lifecycle, tmp_path_factory, "tls", "--tls-cert", str(pki["server"].cert),
                     "--tls-key", str(pki["server"].key))
    yield running
    assert lifecycle.stop_service(running) == 0, running.log()


@pytest.fixture(scope="module")
def mtls_service(pki, lifecycle, tmp_path_factory):
    running = _serve(lifecycle, tmp_path_factory, "mtls", "--tls-cert", str(pki["server"].cert),
                     "--tls-key", str(pki["server"].key),
                     "--tls-client-ca", str(pki["ca"].cert))
    yield running
    assert lifecycle.stop_service(running) == 0, running.log()


def _client(address, **kwargs):
    return segmentdb.Client(address, timeout=REFUSED_TIMEOUT, **kwargs)


def _round_trip(client) -> None:
    docs = client.get_or_create_collection("tls-docs")
    docs.upsert(ids=["a"], embeddings=[[1.0, 2.0]], documents=["over TLS"])
    assert docs.get(ids=["a"])["documents"] == ["over TLS"]


def _assert_refused(client) -> None:
    with pytest.raises(errors.UnavailableError):
        client.heartbeat()
    client.close()


def test_a_client_trusting_the_ca_works(tls_service, pki):
    with _client(tls_service.address, root_certificates=pki["ca"].cert.read_bytes()) as client:
        _round_trip(client)
    assert "TLS" in tls_service.log()


def test_a_plaintext_client_is_refused(tls_service):
    _assert_refused(_client(tls_service.address))


def test_a_client_trusting_another_ca_is_refused(tls_service, pki):
    _assert_refused(_client(tls_service.address, root_certificates=pki["other"].cert.read_bytes()))


def test_mutual_tls_accepts_a_client_certificate_of_the_ca(mtls_service, pki):
    with _client(mtls_service.address, root_certificates=pki["ca"].cert.read_bytes(),
                 certificate_chain=pki["client"].cert.read_bytes(),
                 private_key=pki["client"].key.read_bytes()) as client:
        _round_trip(client)


def test_mutual_tls_refuses_clients_without_a_certificate_of_the_ca(mtls_service, pki):
    ca = pki["ca"].cert.read_bytes()
    _assert_refused(_client(mtls_service.address, root_certificates=ca))
    _assert_refused(_client(mtls_service.address, root_certificates=ca,
                            certificate_chain=pki["stranger"].cert.read_bytes(),
                            private_key=pki["stranger"].key.read_bytes()))
    _assert_refused(_client(mtls_service.address))


def test_health_answers_over_tls(tls_service, pki):
    credentials = grpc.ssl_channel_credentials(root_certificates=pki["ca"].cert.read_bytes())
    with grpc.secure_channel(tls_service.address, credentials) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=30)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_cli_connects_with_a_ca_file_and_a_client_certificate(mtls_service, pki):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTDB_")}
    base = [sys.executable, "-m", "segmentdb.cli", "stats", "--target", mtls_service.address,
            "--json", "--ca-file", str(pki["ca"].cert)]
    done = subprocess.run([*base, "--client-cert", str(pki["client"].cert), "--client-key",
                           str(pki["client"].key)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workers"]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1


def test_serve_refuses_half_a_tls_configuration(tmp_path, pki):
    done = subprocess.run([sys.executable, "-m", "segmentdb.cli", "serve", "--path",
                           str(tmp_path / "data"), "--port", "0", "--tls-cert",
                           str(pki["server"].cert)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "--tls-key" in done.stderr
