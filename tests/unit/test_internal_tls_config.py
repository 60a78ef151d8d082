"""Internal TLS settings: each process reads them from flags or SEGMENTDB_INTERNAL_TLS_*
variables, and an incomplete or unusable combination is a ValueError naming the flag."""

from __future__ import annotations

import pytest

from certificates import authority
from gateway.config import GatewayConfig, environment_defaults
from metadata_worker import config as metadata_config
from vector_worker import config as vector_config


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return authority(tmp_path_factory.mktemp("pki"), "internal-ca")


def _gateway(**overrides):
    values = {key: value for key, value in environment_defaults({}).items()
              if key not in ("config",)}
    values.update(metadata="127.0.0.1:1", vector_workers="127.0.0.1:2", **overrides)
    return GatewayConfig.from_strings(**values)


def _vector(**overrides):
    values = {key: value for key, value in vector_config.defaults({}).items()}
    values.update(path="/d", metadata="127.0.0.1:1", **overrides)
    return vector_config.make_config(**values)


def test_the_metadata_worker_reads_its_files_from_the_environment():
    config = metadata_config.resolve({"path": "/d"}, {
        "SEGMENTDB_INTERNAL_TLS_CERT": "/c.pem", "SEGMENTDB_INTERNAL_TLS_KEY": "/k.pem"})
    assert (config.tls.cert, config.tls.key) == ("/c.pem", "/k.pem")
    assert metadata_config.resolve({"path": "/d"}, {}).tls is None


@pytest.mark.parametrize("given, missing", [
    ({"internal_tls_cert": "/c.pem"}, "--internal-tls-key"),
    ({"internal_tls_key": "/k.pem"}, "--internal-tls-cert"),
])
def test_a_certificate_needs_its_key(given, missing):
    with pytest.raises(ValueError, match=f"^{missing}: internal TLS needs both"):
        metadata_config.resolve({"path": "/d", **given}, {})
    with pytest.raises(ValueError, match=f"^{missing}: internal TLS needs both"):
        _vector(**given)


def test_the_gateway_and_vector_worker_trust_the_ca(ca):
    gateway = _gateway(internal_tls_ca=str(ca.cert), internal_tls_server_name="workers")
    assert gateway.internal_tls.ca_pem == ca.cert.read_bytes()
    assert gateway.internal_tls.server_name == "workers"
    assert _gateway().internal_tls is None
    vector = _vector(internal_tls_ca=str(ca.cert))
    assert vector.metadata_tls.ca_pem == ca.cert.read_bytes()
    assert vector.metadata_tls.server_name is None and vector.tls is None


def test_a_server_name_without_a_ca_is_refused():
    with pytest.raises(ValueError, match="^--internal-tls-server-name: .*--internal-tls-ca"):
        _gateway(internal_tls_server_name="workers")


def test_a_ca_that_is_not_pem_is_refused(tmp_path):
    bad = tmp_path / "ca.txt"
    bad.write_text("hello\n")
    with pytest.raises(ValueError, match="^--internal-tls-ca: .* is not a PEM file"):
        _gateway(internal_tls_ca=str(bad))
    with pytest.raises(ValueError, match="^--internal-tls-ca: cannot read"):
        _vector(internal_tls_ca=str(tmp_path / "missing.pem"))
