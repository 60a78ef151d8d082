"""The tokens file (gateway.auth_tokens) and the access rules (gateway.auth_policy): pure
logic; tests/e2e/test_auth.py checks the same through a running gateway."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from gateway import auth_policy, auth_tokens
from gateway.auth_tokens import Role
from gateway.server import SERVICE_NAMES
from segmentdb import errors
from segmentdb.v1 import (admin_service_pb2, collection_service_pb2, record_service_pb2,
                          system_service_pb2, tenancy_service_pb2, transfer_service_pb2)

READER = "r" * 20
WRITER = "w" * 20
ADMIN = "a" * 24


def _file(entries) -> str:
    return json.dumps({"tokens": entries})


def _table():
    return auth_tokens.parse(_file([
        {"name": "reader", "token": READER, "tenants": ["acme"], "role": "read"},
        {"name": "writer", "token": WRITER, "tenants": ["acme", "beta"], "role": "write"},
        {"name": "ops", "token_sha256": hashlib.sha256(ADMIN.encode()).hexdigest(),
         "tenants": "*", "role": "admin"},
    ]))


def test_tokens_authenticate_to_their_grants():
    table = _table()
    assert len(table) == 3
    reader = table.authenticate(READER)
    assert (reader.name, reader.role, reader.tenants) == ("reader", Role.READ, frozenset({"acme"}))
    assert table.authenticate(WRITER).allows_tenant("beta")
    ops = table.authenticate(ADMIN)  # configured by its sha256 only
    assert ops.role == Role.ADMIN and ops.tenants is None and ops.allows_tenant("anything")
    for wrong in ["", READER[:-1], READER + "x", READER.upper(), "Bearer " + READER]:
        assert table.authenticate(wrong) is None


@pytest.mark.parametrize("entries, complaint", [
    ([{"token": "short", "tenants": "*", "role": "read"}], "at least 16"),
    ([{"token": READER, "tenants": "*", "role": "superuser"}], "role"),
    ([{"token": READER, "tenants": [], "role": "read"}], "tenants"),
    ([{"token": READER, "tenants": ["*"], "role": "read"}], "not inside a list"),
    ([{"token": READER, "role": "read"}], "tenants"),
    ([{"tenants": "*", "role": "read"}], "exactly one of token or token_sha256"),
    ([{"token": READER, "token_sha256": "0" * 64, "tenants": "*", "role": "read"}],
     "exactly one"),
    ([{"token_sha256": "xyz", "tenants": "*", "role": "read"}], "64 hex"),
    ([{"token": READER, "tenants": "*", "role": "read", "secret": 1}], "unknown field"),
    ([{"token": READER + " x", "tenants": "*", "role": "read"}], "whitespace"),
    ([{"token": READER, "tenants": "*", "role": "read"},
      {"token": READER, "tenants": ["b"], "role": "admin"}], "twice"),
])
def test_bad_token_files_are_refused_naming_the_entry(entries, complaint):
    with pytest.raises(ValueError) as info:
        auth_tokens.parse(_file(entries))
    message = str(info.value)
    assert complaint in message and "tokens[" in message
    assert READER not in message, "the token must never appear in a message"


def test_not_json_or_wrong_shape_is_refused():
    for text in ["{", "[]", '{"tokens": {}}']:
        with pytest.raises(ValueError):
            auth_tokens.parse(text)


def test_token_source_reloads_a_changed_file_and_keeps_the_old_tokens_on_a_bad_one(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(_file([{"token": READER, "tenants": "*", "role": "read"}]))
    source = auth_tokens.TokenSource(str(path), check_every=0.0)
    assert source.table().authenticate(READER) is not None
    # Rotate (as a Kubernetes Secret update does: a new file swapped in).
    replacement = tmp_path / "tokens.json.new"
    replacement.write_text(_file([{"token": WRITER, "tenants": "*", "role": "write"}]))
    os.replace(replacement, path)
    assert source.table().authenticate(READER) is None
    assert source.table().authenticate(WRITER).role == Role.WRITE
    # A broken version is refused; the previous tokens stay in force.
    time.sleep(0.01)
    path.write_text("{ broken")
    assert source.table().authenticate(WRITER) is not None


def test_a_missing_file_is_a_start_error(tmp_path):
    with pytest.raises(ValueError, match="--auth-tokens-file"):
        auth_tokens.TokenSource(str(tmp_path / "absent.json"))


# ---- the access rules ------------------------------------------------------------------

_MODULES = [system_service_pb2, tenancy_service_pb2, collection_service_pb2,
            record_service_pb2, admin_service_pb2, transfer_service_pb2]


def _every_public_method() -> list[str]:
    methods = []
    for module in _MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name in SERVICE_NAMES:
                methods += [f"/{service.full_name}/{m.name}" for m in service.methods]
    return methods


def test_every_public_method_has_a_rule_and_nothing_else_does():
    methods = _every_public_method()
    assert {m.split("/")[1] for m in methods} == set(SERVICE_NAMES)  # every service seen
    assert sorted(methods) == sorted(auth_policy.RULES)


def test_a_method_without_a_rule_is_refused():
    with pytest.raises(errors.AuthorizationError, match="no access rule"):
        auth_policy.require_rule("/segmentdb.v1.RecordService/NewMethod")


def test_health_and_reflection_are_open_and_nothing_else():
    assert auth_policy.is_open("/grpc.health.v1.Health/Check")
    assert auth_policy.is_open("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
    assert not any(auth_policy.is_open(m) for m in _every_public_method())


def test_writes_need_write_and_service_wide_calls_need_every_tenant():
    table = _table()
    reader, writer, ops = (table.authenticate(t) for t in (READER, WRITER, ADMIN))
    add = "/segmentdb.v1.RecordService/AddRecords"
    with pytest.raises(errors.AuthorizationError, match="read-only"):
        auth_policy.check_role(reader, auth_policy.RULES[add], add)
    auth_policy.check_role(writer, auth_policy.RULES[add], add)
    backup = "/segmentdb.v1.AdminService/Backup"
    assert auth_policy.RULES[backup].scope(None).everything
    with pytest.raises(errors.AuthorizationError, match=r'"\*"'):
        auth_policy.check_everything(writer, backup)
    auth_policy.check_everything(ops, backup)
    with pytest.raises(errors.AuthorizationError, match="tenant 'other'"):
        auth_policy.check_tenant(writer, "other", add)


def test_scopes_read_the_tenant_the_request_names():
    rules = auth_policy.RULES
    create = rules["/segmentdb.v1.CollectionService/CreateCollection"]
    assert create.scope(collection_service_pb2.CreateCollectionRequest(tenant="acme")).tenants == ("acme",)
    assert create.scope(collection_service_pb2.CreateCollectionRequest()).tenants == ("default_tenant",)
    by_id = rules["/segmentdb.v1.CollectionService/GetCollection"].scope(
        collection_service_pb2.GetCollectionRequest(tenant="acme", id="c1"))
    assert by_id.tenants == ("acme",) and by_id.collection_ids == ("c1",)
    tenant = rules["/segmentdb.v1.TenancyService/CreateTenant"].scope(
        tenancy_service_pb2.CreateTenantRequest(name="newco"))
    assert tenant.tenants == ("newco",)
    start = transfer_service_pb2.ImportRecordsRequest(
        start=transfer_service_pb2.ImportStart(tenant="beta", collection_name="x"))
    imports = rules["/segmentdb.v1.TransferService/ImportRecords"]
    assert imports.scope(start).tenants == ("beta",)
    assert imports.scope(None).tenants == ("default_tenant",)  # fails closed
    query = rules["/segmentdb.v1.RecordService/QueryRecords"]
    assert query.role == Role.READ
    assert query.scope(record_service_pb2.QueryRecordsRequest(collection_id="c9")).collection_ids == ("c9",)
