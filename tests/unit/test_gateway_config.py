"""Gateway settings: flags, SEGMENTDB_* defaults, deadlines and worker failover."""

from __future__ import annotations

import socket

import grpc
import pytest

from gateway.config import GatewayConfig, environment_defaults
from gateway.worker_clients import WorkerClients
from segmentdb import errors
from segmentdb.internal.v1 import vector_service_pb2


def strings(**overrides):
    values = dict(metadata="m:1", vector_workers="a:1, b:2", host="127.0.0.1", port="0",
                  port_file=None, max_message_size="64MiB", max_batch_size="500",
                  log_level="INFO")
    values.update(overrides)
    return values


def test_from_strings_parses_sizes_and_lists():
    config = GatewayConfig.from_strings(**strings())
    assert config.vector_worker_addresses == ("a:1", "b:2")
    assert config.max_message_bytes == 64 * 1024 * 1024
    assert config.max_batch_size == 500


def test_named_workers_keep_their_names_for_routing():
    config = GatewayConfig.from_strings(**strings(vector_workers="vw-1=unix:/t/1.sock,b:2"))
    assert config.vector_worker_addresses == ("unix:/t/1.sock", "b:2")
    assert config.vector_worker_names == {"unix:/t/1.sock": "vw-1", "b:2": "b:2"}


@pytest.mark.parametrize("override, flag", [
    ({"metadata": ""}, "--metadata"),
    ({"vector_workers": ""}, "--vector-workers"),
    ({"vector_workers": "a:1,a:1"}, "--vector-workers"),
    ({"vector_workers": "w=a:1,w=b:2"}, "--vector-workers: each worker name"),
    ({"vector_workers": "w=,b:2"}, "--vector-workers"),
    ({"port": "http"}, "--port"),
    ({"port": "70000"}, "--port"),
    ({"max_message_size": "big"}, "--max-message-size"),
    ({"max_batch_size": "0"}, "--max-batch-size"),
    ({"tls_cert": "server.pem"}, "--tls-key"),
    ({"tls_key": "server.key"}, "--tls-cert"),
    ({"tls_client_ca": "ca.pem"}, "--tls-client-ca"),
])
def test_bad_settings_name_their_flag(override, flag):
    with pytest.raises(ValueError, match=flag):
        GatewayConfig.from_strings(**strings(**override))


def test_environment_supplies_defaults():
    defaults = environment_defaults({"SEGMENTDB_MAX_BATCH_SIZE": "7",
                                     "SEGMENTDB_METADATA": "meta:9"})
    assert defaults["max_batch_size"] == "7"
    assert defaults["metadata"] == "meta:9"
    assert defaults["port"] == "50051"
    assert defaults["max_message_size"] == "256MiB"


def test_search_with_every_worker_down_is_unavailable_naming_them():
    addresses = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            addresses.append(f"127.0.0.1:{sock.getsockname()[1]}")
    workers = WorkerClients(addresses[0], tuple(addresses), 1024 * 1024)
    try:
        request = vector_service_pb2.SearchRequest(k=1)
        request.segment.segment_id = "seg"
        with pytest.raises(errors.UnavailableError) as info:
            workers.search(request, None)
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        for address in addresses:
            assert address in str(info.value)
        workers.drop_segments_everywhere(["seg"])  # logged, never raised
    finally:
        workers.close()
