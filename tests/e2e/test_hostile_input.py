"""Hostile input through the real gateway: names that look like paths or SQL are plain data
or refused, NUL bytes and 10 MB strings get INVALID_ARGUMENT naming the field and the limit
(in a short message), metadata sizes and `where` trees are bounded, and nothing stored
changes. Raw stubs are used where the SDK would refuse first, to prove the server does."""

from __future__ import annotations

import sqlite3

import grpc
import pytest

from segmentdb import errors
from segmentdb.v1 import (collection_service_pb2, collection_service_pb2_grpc, common_pb2,
                          record_service_pb2, record_service_pb2_grpc, tenancy_service_pb2,
                          tenancy_service_pb2_grpc)

TEN_MB = "x" * (10 * 1024 * 1024)
INVALID = grpc.StatusCode.INVALID_ARGUMENT
MiB = 1024 * 1024


def _stored(service) -> dict:
    """Row counts of every table plus the folder entries a traversal could create."""
    db = sqlite3.connect(f"file:{service.path / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '%fts%'")]
        counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables
                  if t not in ("embeddings_log", "segment_checkpoints", "maintenance_runs")}
    finally:
        db.close()
    folders = {p.name for p in service.path.iterdir() if p.name != "index"}
    folders |= {f"../{p.name}" for p in service.path.parent.iterdir()}
    return {"tables": counts, "files": folders}


@pytest.fixture()
def stubs(service):
    channel = grpc.insecure_channel(service.address, options=[
        ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)])
    yield (tenancy_service_pb2_grpc.TenancyServiceStub(channel),
           collection_service_pb2_grpc.CollectionServiceStub(channel),
           record_service_pb2_grpc.RecordServiceStub(channel), channel)
    channel.close()


def _refused(call, *fragments: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == INVALID, (info.value.code(), info.value.details()[:300])
    details = info.value.details()
    assert len(details) < 2500, "the error quoted the hostile value"
    for fragment in fragments:
        assert fragment in details, f"{fragment!r} not in {details!r}"
    return details


def test_names_with_path_and_sql_metacharacters_are_plain_data(client, service):
    tenant, database = "../x", "'; DROP TABLE collections; --"
    before = _stored(service)
    client.create_tenant(tenant)
    client.create_database(database, tenant=tenant)
    from segmentdb import Client

    with Client(service.address, tenant=tenant, database=database) as hostile:
        docs = hostile.create_collection("docs")
        value = "'); DELETE FROM embeddings; --"
        docs.add(ids=["'; DROP TABLE embeddings; --"], embeddings=[[1.0, 2.0]],
                 metadatas=[{"k": value}], documents=["../../etc/passwd"])
        got = docs.get(where={"k": value}, where_document={"$contains": "../"})
        assert got["ids"] == ["'; DROP TABLE embeddings; --"]
        assert [c.name for c in hostile.list_collections()] == ["docs"]
        assert hostile.get_database(database)["tenant"] == tenant
        hostile.delete_collection("docs")
    after = _stored(service)
    assert after["files"] == before["files"], "a name reached the filesystem"
    assert set(after["tables"]) == set(before["tables"]), "a table disappeared"
    assert after["tables"]["tenants"] == before["tables"]["tenants"] + 1
    assert after["tables"]["embeddings"] == before["tables"]["embeddings"]


@pytest.mark.parametrize("name", ["../x", "..", "a/b/c", "a\\b", "x\x00y",
                                  "'; DROP TABLE collections; --", "a" * 513, TEN_MB],
                         ids=["traversal", "dotdot", "slashes", "backslash", "nul", "sql",
                              "513-chars", "10MB"])
def test_collection_names_that_could_escape_are_refused(stubs, service, name):
    _tenancy, collections, _records, _channel = stubs
    before = _stored(service)
    _refused(lambda: collections.CreateCollection(
        collection_service_pb2.CreateCollectionRequest(name=name), timeout=60), "name")
    assert _stored(service) == before


NAME_CASES = {
    "tenant 10 MB": (lambda t, c, r: t.CreateTenant(
        tenancy_service_pb2.CreateTenantRequest(name=TEN_MB), timeout=60), ("name", "512")),
    "tenant NUL": (lambda t, c, r: t.CreateTenant(
        tenancy_service_pb2.CreateTenantRequest(name="acme\x00evil"), timeout=60),
        ("name", "control character")),
    "database 10 MB": (lambda t, c, r: t.CreateDatabase(
        tenancy_service_pb2.CreateDatabaseRequest(name=TEN_MB), timeout=60), ("name", "512")),
    "database NUL": (lambda t, c, r: t.GetDatabase(
        tenancy_service_pb2.GetDatabaseRequest(name="db\x00"), timeout=60),
        ("name", "control character")),
    "collection's tenant 10 MB": (lambda t, c, r: c.CreateCollection(
        collection_service_pb2.CreateCollectionRequest(tenant=TEN_MB, name="docs"), timeout=60),
        ("tenant", "512")),
    "collection's database NUL": (lambda t, c, r: c.ListCollections(
        collection_service_pb2.ListCollectionsRequest(database="\x00"), timeout=60),
        ("database", "control character")),
    "get by 10 MB name": (lambda t, c, r: c.GetCollection(
        collection_service_pb2.GetCollectionRequest(name=TEN_MB), timeout=60), ("name", "512")),
    "delete NUL name": (lambda t, c, r: c.DeleteCollection(
        collection_service_pb2.DeleteCollectionRequest(name="docs\x00"), timeout=60),
        ("name", "control character")),
    "10 MB collection_id": (lambda t, c, r: r.CountRecords(
        record_service_pb2.CountRecordsRequest(collection_id=TEN_MB), timeout=60),
        ("collection_id", "64")),
    "get by NUL id": (lambda t, c, r: c.GetCollection(
        collection_service_pb2.GetCollectionRequest(id="\x00"), timeout=60), ("id", "UUID")),
}


@pytest.mark.parametrize("case", NAME_CASES)
def test_nul_bytes_and_huge_names_name_the_field_and_the_limit(stubs, service, case):
    tenancy, collections, records, _channel = stubs
    call, fragments = NAME_CASES[case]
    before = _stored(service)
    _refused(lambda: call(tenancy, collections, records), *fragments)
    assert _stored(service) == before


def test_metadata_values_and_records_are_bounded(collection, client, collection_name):
    vector = [[1.0, 2.0]]
    cases = [
        ({"big": "x" * (MiB + 1)}, ("'big'", "1048576")),
        ({"many": ["y" * 1000] * 1100}, ("'many'", "1048576")),
        ({f"k{i}": "z" * MiB for i in range(4)} | {"k4": 1}, ("4194304",)),
        ({"k" * 2000: 1}, ("1024",)),
    ]
    for metadata, fragments in cases:
        with pytest.raises(errors.InvalidArgumentError) as info:
            collection.add(ids=["a"], embeddings=vector, metadatas=[metadata])
        assert info.value.code == INVALID
        assert all(f in info.value.message for f in fragments), info.value.message
        assert len(info.value.message) < 2500
    assert collection.count() == 0
    # The limits are exact: 1 MiB per value is accepted.
    collection.add(ids=["a"], embeddings=vector, metadatas=[{"big": "x" * MiB}])
    assert len(collection.get(ids=["a"])["metadatas"][0]["big"]) == MiB
    with pytest.raises(errors.InvalidArgumentError, match="1048576"):
        client.create_collection(f"{collection_name}-meta", metadata={"big": "x" * (MiB + 1)})
    with pytest.raises(errors.InvalidArgumentError, match="1048576"):
        collection.modify(metadata={"big": "x" * (MiB + 1)})
    assert client.get_collection(collection.name).metadata is None


# ---- where trees, sent as raw protobuf bytes (a nested Where built by hand) --------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _nested_where(levels: int, operator=common_pb2.COMPARISON_OPERATOR_EQ) -> bytes:
    """$and nested `levels` deep: {"$and": [{"n": 1}, {"$and": [{"n": 1}, ...]}]}."""
    value = common_pb2.MetadataValue(int_value=1)
    if operator == common_pb2.COMPARISON_OPERATOR_NIN:
        value = common_pb2.MetadataValue(int_list=common_pb2.IntList(values=[7, 8]))
    leaf = common_pb2.Where(condition=common_pb2.FieldCondition(
        key="n", operator=operator, value=value)).SerializeToString()
    where = leaf
    for _ in range(levels):
        where = _field(1, _field(1, leaf) + _field(1, where))  # Where.all_of = WhereList
    return where


def _get_with_where(channel, collection_id: str, where: bytes):
    request = _field(1, collection_id.encode()) + _field(3, where)
    call = channel.unary_unary("/segmentdb.v1.RecordService/GetRecords",
                               request_serializer=lambda raw: raw,
                               response_deserializer=record_service_pb2.GetRecordsResponse.FromString)
    return call(request, timeout=60)


def test_deep_and_wide_where_trees_are_bounded(collection, stubs):
    *_, channel = stubs
    collection.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]],
                   metadatas=[{"n": 1}, {"n": 2}])
    answer = _get_with_where(channel, str(collection.id), _nested_where(8))
    assert list(answer.records.ids) == ["a"]  # 8 levels of $and: allowed, and answered
    _refused(lambda: _get_with_where(channel, str(collection.id), _nested_where(9)),
             "where", "8 levels")
    # Within the bound but past what SQLite 3.40 parses ($nin nests deeper per level): a
    # clear INVALID_ARGUMENT, not INTERNAL.
    nin = common_pb2.COMPARISON_OPERATOR_NIN
    assert list(_get_with_where(channel, str(collection.id),
                                _nested_where(4, nin)).records.ids) == ["a", "b"]
    deep_nin = _nested_where(8, nin)
    try:
        _get_with_where(channel, str(collection.id), deep_nin)  # a newer SQLite parses it
    except grpc.RpcError as err:
        assert err.code() == INVALID and "too complex for SQLite" in err.details()
    # Deeper than protobuf's own nesting limit: still INVALID_ARGUMENT, not INTERNAL.
    _refused(lambda: _get_with_where(channel, str(collection.id), _nested_where(200)),
             "could not be decoded")
    wide = common_pb2.Where(all_of=common_pb2.WhereList(clauses=[
        common_pb2.Where(condition=common_pb2.FieldCondition(
            key=f"k{i}", operator=common_pb2.COMPARISON_OPERATOR_EQ,
            value=common_pb2.MetadataValue(int_value=i))) for i in range(300)]))
    _refused(lambda: _get_with_where(channel, str(collection.id), wide.SerializeToString()),
             "300 clauses", "256")
    # The SDK refuses a too-deep filter itself, with the same bound.
    deep: dict = {"n": 1}
    for _ in range(9):
        deep = {"$and": [{"n": 1}, deep]}
    with pytest.raises(errors.InvalidArgumentError, match="8 levels"):
        collection.get(where=deep)
    assert collection.count() == 2
