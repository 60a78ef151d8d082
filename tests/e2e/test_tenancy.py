"""Tenants and databases: create/get/list/delete, and collections isolated per database."""

from __future__ import annotations

import os
import time

import pytest

import segmentdb
from segmentdb.errors import NotFoundError, UniqueConstraintError


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 1000}x{time.monotonic_ns() % 10_000_000}"


@pytest.fixture()
def admin(service):
    """chromadb's AdminClient when the SDK has one, else the Client (which has the calls)."""
    factory = getattr(segmentdb, "AdminClient", None) or segmentdb.Client
    a = factory(service.address)
    yield a
    close = getattr(a, "close", None)
    if close:
        close()


@pytest.fixture()
def tenant(admin):
    name = _unique("tenant")
    admin.create_tenant(name)
    return name


def _client(service, tenant: str, database: str):
    return segmentdb.Client(service.address, tenant=tenant, database=database)


def test_default_tenant_and_database_exist(admin):
    assert admin.get_tenant("default_tenant")["name"] == "default_tenant"
    database = admin.get_database("default_database", tenant="default_tenant")
    assert database["name"] == "default_database"
    assert database["tenant"] == "default_tenant"


def test_create_and_get_a_tenant(admin, tenant):
    assert admin.get_tenant(tenant)["name"] == tenant
    with pytest.raises(UniqueConstraintError) as info:
        admin.create_tenant(tenant)
    assert info.value.code.name == "ALREADY_EXISTS"


def test_unknown_tenant_is_not_found(admin):
    with pytest.raises(NotFoundError) as info:
        admin.get_tenant(_unique("missing"))
    assert info.value.code.name == "NOT_FOUND"


def test_databases_create_get_list_delete(admin, tenant):
    names = [_unique(f"db{i}-") for i in range(3)]
    for name in names:
        admin.create_database(name, tenant=tenant)

    assert admin.get_database(names[1], tenant=tenant)["name"] == names[1]
    listed = [d["name"] for d in admin.list_databases(tenant=tenant)]
    assert listed == names
    assert [d["name"] for d in admin.list_databases(limit=1, offset=1, tenant=tenant)] \
        == names[1:2]
    with pytest.raises(UniqueConstraintError):
        admin.create_database(names[0], tenant=tenant)

    admin.delete_database(names[0], tenant=tenant)

    with pytest.raises(NotFoundError):
        admin.get_database(names[0], tenant=tenant)
    assert [d["name"] for d in admin.list_databases(tenant=tenant)] == names[1:]


def test_a_database_in_an_unknown_tenant_is_not_found(admin):
    with pytest.raises(NotFoundError):
        admin.create_database("somedb", tenant=_unique("nosuchtenant"))


def test_collections_are_isolated_per_database(service, admin, tenant):
    db_a, db_b = _unique("dba-"), _unique("dbb-")
    admin.create_database(db_a, tenant=tenant)
    admin.create_database(db_b, tenant=tenant)
    client_a = _client(service, tenant, db_a)
    client_b = _client(service, tenant, db_b)

    in_a = client_a.create_collection("shared-name")
    in_b = client_b.create_collection("shared-name")
    in_a.add(ids=["only-a"], embeddings=[[1.0, 0.0]])
    in_b.add(ids=["only-b1", "only-b2"], embeddings=[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])

    assert in_a.id != in_b.id
    assert client_a.get_collection("shared-name").get()["ids"] == ["only-a"]
    assert client_b.get_collection("shared-name").get()["ids"] == ["only-b1", "only-b2"]
    assert [c.name for c in client_a.list_collections()] == ["shared-name"]
    assert client_b.count_collections() == 1

    client_a.delete_collection("shared-name")

    assert client_a.count_collections() == 0
    assert client_b.get_collection("shared-name").count() == 2


def test_deleting_a_database_deletes_its_collections(service, admin, tenant):
    db = _unique("dbdel-")
    admin.create_database(db, tenant=tenant)
    collection = _client(service, tenant, db).create_collection("doomed")
    collection.add(ids=["a"], embeddings=[[1.0]])

    admin.delete_database(db, tenant=tenant)

    with pytest.raises(NotFoundError):
        collection.count()
    admin.create_database(db, tenant=tenant)  # the name is free again, and empty
    assert _client(service, tenant, db).count_collections() == 0


def test_a_client_for_an_unknown_database_raises_not_found(service, tenant):
    with pytest.raises(NotFoundError):
        _client(service, tenant, "no-such-database").list_collections()


def test_admin_client_spelling_manages_tenants(service):
    import uuid

    import segmentdb

    admin = segmentdb.AdminClient(service.address)
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    admin.create_tenant(name)
    admin.create_database("db1", tenant=name)
    assert [d["name"] for d in admin.list_databases(tenant=name)] == ["db1"]
    admin.close()
