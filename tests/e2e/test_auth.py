"""Bearer tokens through a real `segmentdb serve --auth-tokens-file`: each status code, roles,
tenants (by name and by collection id), health and reflection without credentials, the CLI's
--token-file, and no token in the logs."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import segmentdb
from segmentdb import errors
from segmentdb.v1 import (collection_service_pb2, collection_service_pb2_grpc,
                          record_service_pb2, record_service_pb2_grpc, transfer_service_pb2,
                          transfer_service_pb2_grpc)

OPS = "ops-token-0123456789abcdef"
ACME_WRITE = "acme-writer-0123456789abcdef"
ACME_READ = "acme-reader-0123456789abcdef"
ACME_ADMIN = "acme-admin-0123456789abcdef"
TOKENS = [OPS, ACME_WRITE, ACME_READ, ACME_ADMIN]


@pytest.fixture(scope="module")
def secured(tmp_path_factory, lifecycle):
    folder = tmp_path_factory.mktemp("auth")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"name": "ops", "token": OPS, "tenants": "*", "role": "admin"},
        {"name": "acme-app", "token": ACME_WRITE, "tenants": ["acme"], "role": "write"},
        {"name": "acme-report", "token": ACME_READ, "tenants": ["acme"], "role": "read"},
        {"name": "acme-ops", "token": ACME_ADMIN, "tenants": ["acme"], "role": "admin"},
    ]}))
    running = lifecycle.start_service(folder / "data", vector_workers=1,
                                      extra=["--auth-tokens-file", str(tokens)])
    with segmentdb.Client(running.address, token=OPS) as ops:
        for tenant in ("acme", "beta"):
            ops.create_tenant(tenant)
            ops.create_database("default_database", tenant=tenant)
            scoped = segmentdb.Client(running.address, token=OPS, tenant=tenant)
            docs = scoped.create_collection("docs")
            docs.add(ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]],
                     documents=[f"{tenant} a", f"{tenant} b"])
            scoped.close()
    yield running
    code = lifecycle.stop_service(running)
    assert code == 0, f"serve exited {code}:\n{running.log()}"
    log = running.log()
    assert "bearer tokens required" in log
    for token in TOKENS:
        assert token not in log, "a token was written to the log"


def _client(secured, token=None, tenant="acme"):
    return segmentdb.Client(secured.address, token=token, tenant=tenant, timeout=30)


def _beta_collection_id(secured) -> str:
    with _client(secured, OPS, tenant="beta") as ops:
        return str(ops.get_collection("docs").id)


def test_no_token_is_unauthenticated(secured):
    with _client(secured) as anonymous:
        with pytest.raises(errors.AuthenticationError) as info:
            anonymous.list_collections()
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: Bearer <token>" in info.value.message


def test_an_unknown_token_is_unauthenticated_and_never_echoed(secured):
    wrong = "not-a-configured-token-4242"
    with _client(secured, wrong) as stranger:
        with pytest.raises(errors.AuthenticationError) as info:
            stranger.get_collection("docs")
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert "not valid" in info.value.message and wrong not in info.value.message
    # A malformed header (no "Bearer ") is refused the same way.
    stub = collection_service_pb2_grpc.CollectionServiceStub(grpc.insecure_channel(secured.address))
    with pytest.raises(grpc.RpcError) as raw:
        stub.ListCollections(collection_service_pb2.ListCollectionsRequest(tenant="acme"),
                             metadata=[("authorization", ACME_READ)], timeout=30)
    assert raw.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert ACME_READ not in raw.value.details()


def test_a_read_only_token_reads_but_cannot_write(secured):
    with _client(secured, ACME_READ) as reader, _client(secured, ACME_WRITE) as writer:
        docs = reader.get_collection("docs")
        assert docs.count() == 2
        assert docs.get(ids=["a"])["documents"] == ["acme a"]
        assert docs.query(query_embeddings=[[1.0, 0.0]], n_results=1)["ids"] == [["a"]]
        assert [c.name for c in reader.list_collections()] == ["docs"]
        writes = {
            "add": lambda: docs.add(ids=["z"], embeddings=[[0.5, 0.5]]),
            "upsert": lambda: docs.upsert(ids=["a"], embeddings=[[9.0, 9.0]]),
            "delete": lambda: docs.delete(ids=["a"]),
            "modify": lambda: docs.modify(metadata={"owner": "reader"}),
            "create_collection": lambda: reader.create_collection("more"),
            "delete_collection": lambda: reader.delete_collection("docs"),
        }
        for name, write in writes.items():
            with pytest.raises(errors.AuthorizationError) as info:
                write()
            assert info.value.code == grpc.StatusCode.PERMISSION_DENIED, name
            assert "read-only" in info.value.message and "write" in info.value.message, name
        # Nothing changed; the writer may write.
        written = writer.get_collection("docs")
        assert written.count() == 2 and written.metadata is None
        assert written.get(ids=["a"], include=["embeddings"])["embeddings"].tolist() == [[1.0, 0.0]]
        written.upsert(ids=["c"], embeddings=[[0.7, 0.7]])
        written.delete(ids=["c"])


def test_a_token_of_another_tenant_is_denied_by_name_and_by_collection_id(secured):
    beta_id = _beta_collection_id(secured)
    with _client(secured, ACME_WRITE, tenant="beta") as intruder:
        with pytest.raises(errors.AuthorizationError) as info:
            intruder.list_collections()
        assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
        assert "tenant 'beta' is not granted" in info.value.message
        with pytest.raises(errors.AuthorizationError):
            intruder.get_collection("docs")
    metadata = [("authorization", f"Bearer {ACME_WRITE}")]
    channel = grpc.insecure_channel(secured.address)
    records = record_service_pb2_grpc.RecordServiceStub(channel)
    collections = collection_service_pb2_grpc.CollectionServiceStub(channel)
    calls = {
        "count": lambda: records.CountRecords(
            record_service_pb2.CountRecordsRequest(collection_id=beta_id),
            metadata=metadata, timeout=30),
        "delete": lambda: records.DeleteRecords(
            record_service_pb2.DeleteRecordsRequest(collection_id=beta_id, ids=["a"]),
            metadata=metadata, timeout=30),
        # The request names a granted tenant, but the id is beta's collection.
        "get by id": lambda: collections.GetCollection(
            collection_service_pb2.GetCollectionRequest(tenant="acme", id=beta_id),
            metadata=metadata, timeout=30),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as raw:
            call()
        assert raw.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
        assert "belongs to a tenant that is not granted" in raw.value.details(), name
        assert "beta" not in raw.value.details(), "the owner's name must not leak"
    # An id that does not exist is simply not found.
    with pytest.raises(grpc.RpcError) as missing:
        records.CountRecords(record_service_pb2.CountRecordsRequest(
            collection_id="00000000-0000-0000-0000-000000000000"), metadata=metadata, timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    # An import into another tenant is refused at its first message.
    transfer = transfer_service_pb2_grpc.TransferServiceStub(channel)
    start = transfer_service_pb2.ImportRecordsRequest(start=transfer_service_pb2.ImportStart(
        tenant="beta", collection_name="stolen", import_id="x1",
        mode=transfer_service_pb2.IMPORT_MODE_INSERT))
    with pytest.raises(grpc.RpcError) as imported:
        list(transfer.ImportRecords(iter([start]), metadata=metadata, timeout=30))
    assert imported.value.code() == grpc.StatusCode.PERMISSION_DENIED
    channel.close()
    with _client(secured, OPS, tenant="beta") as ops:
        assert ops.get_collection("docs").count() == 2
        assert [c.name for c in ops.list_collections()] == ["docs"]


def test_service_wide_admin_calls_need_every_tenant(secured):
    with _client(secured, ACME_ADMIN) as tenant_admin:
        with pytest.raises(errors.AuthorizationError) as info:
            tenant_admin.stats()
        assert '"tenants": "*"' in info.value.message
        tenant_admin.reindex("docs")  # its own tenant's collections: allowed
    with _client(secured, ACME_WRITE) as writer:
        with pytest.raises(errors.AuthorizationError, match="admin"):
            writer.reindex("docs")
    with _client(secured, OPS) as ops:
        assert ops.stats()["workers"]


def test_health_and_reflection_need_no_credentials(secured):
    channel = grpc.insecure_channel(secured.address)
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (response,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=30))
    names = {s.name for s in response.list_services_response.service}
    assert "segmentdb.v1.RecordService" in names
    channel.close()


def _cli(*args: str, env_token: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTDB_")}
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_the_cli_sends_the_token_from_a_file(secured, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(OPS + "\n")
    done = _cli("stats", "--target", secured.address, "--token-file", str(token_file), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workers"]
    refused = _cli("stats", "--target", secured.address, "--json")
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "bearer token" in lines[0], refused.stderr


def test_the_sdk_sends_the_token_on_streams_too(secured):
    with _client(secured, ACME_READ) as reader:
        pages = list(reader.get_collection("docs").export_records(page_size=1))
    assert sorted(i for page in pages for i in page.ids) == ["a", "b"]
    assert all(page.embeddings.dtype == np.float32 for page in pages)


def test_a_gateway_open_beyond_loopback_without_tokens_warns(tmp_path):
    from processes import start

    # The workers need not exist: the gateway serves (and warns) as soon as it listens.
    gateway = start("gateway", tmp_path, "gateway", "--host", "0.0.0.0", "--metadata",
                    "127.0.0.1:9", "--vector-workers", "127.0.0.1:9")
    try:
        log = gateway.log_path.read_text()
    finally:
        assert gateway.stop() == 0
    assert "WARNING" in log and "WITHOUT authentication" in log and "--auth-tokens-file" in log
