"""The stock `chromadb.HttpClient` (chromadb 1.5.9) against a real `segmentdb serve
--http-port auto`: every collection and record operation, tenants and databases, the
exception types Chroma's own server makes it raise, and results equal to the gRPC SDK's on
the same data."""

from __future__ import annotations

import chromadb  # a dev dependency (pyproject.toml)
import numpy as np
import pytest
from chromadb import errors as chroma_errors
from chromadb.config import Settings

import segmentdb
from http_api import start_http_service, stop

DIM = 8


@pytest.fixture(scope="module")
def service(tmp_path_factory, lifecycle):
    running, base = start_http_service(lifecycle, tmp_path_factory.mktemp("http-client") / "data",
                                       extra=["--allow-reset"])
    yield running, int(base.rsplit(":", 1)[1])
    stop(lifecycle, running)


def _client(port: int, **kwargs):
    return chromadb.HttpClient(host="127.0.0.1", port=port,
                               settings=Settings(anonymized_telemetry=False, allow_reset=True),
                               **kwargs)


@pytest.fixture()
def client(service):
    return _client(service[1])


@pytest.fixture()
def grpc_client(service):
    with segmentdb.Client(service[0].address) as c:
        yield c


def _rows(n: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).random((n, DIM)).astype("float32")


def test_records_round_trip_through_every_operation(client, collection_name):
    books = client.create_collection(collection_name, metadata={"kind": "books"})
    rows = _rows(5)
    books.add(ids=[f"b{i}" for i in range(5)], embeddings=rows,
              documents=[f"book number {i}" for i in range(5)],
              metadatas=[{"year": 1850 + i, "tags": ["classic"], "rating": i / 2}
                         for i in range(5)])
    assert books.count() == 5
    got = books.get(ids=["b1", "b3"], include=["embeddings", "documents", "metadatas"])
    assert got["ids"] == ["b1", "b3"] and got["documents"] == ["book number 1", "book number 3"]
    assert np.array_equal(np.asarray(got["embeddings"]), rows[[1, 3]])  # float32 exact
    assert got["metadatas"][0] == {"year": 1851, "tags": ["classic"], "rating": 0.5}
    # (documents without embeddings would make the client embed them itself, with its
    # default embedding function's model: pass the vector)
    books.update(ids=["b1"], metadatas=[{"year": 2000}], documents=["rewritten"],
                 embeddings=rows[1:2])
    books.upsert(ids=["b1", "b9"], embeddings=rows[:2], metadatas=[{"rating": None}, {"n": 9}])
    got = books.get(ids=["b1", "b9"])
    assert got["documents"] == ["rewritten", None]
    assert got["metadatas"] == [{"year": 2000, "tags": ["classic"]}, {"n": 9}]
    hits = books.query(query_embeddings=rows[2:3], n_results=3,
                       where={"year": {"$gte": 1852}}, include=["distances", "metadatas"])
    assert hits["ids"][0][0] == "b2" and hits["distances"][0][0] == pytest.approx(0, abs=1e-5)
    assert all(m["year"] >= 1852 for m in hits["metadatas"][0])
    assert books.delete(where={"year": {"$lt": 1853}}) is not None
    assert sorted(books.get()["ids"]) == ["b1", "b3", "b4", "b9"]
    assert books.peek(2)["ids"] == books.get(limit=2)["ids"]
    books.modify(name=f"{collection_name}x", metadata={"kind": "novels"})
    renamed = client.get_collection(f"{collection_name}x")
    assert renamed.id == books.id and renamed.metadata == {"kind": "novels"}
    assert renamed.configuration_json["hnsw"]["space"] == "l2"
    client.delete_collection(f"{collection_name}x")
    with pytest.raises(chroma_errors.NotFoundError):
        client.get_collection(f"{collection_name}x")


def test_collections_tenants_and_databases(service, client, collection_name):
    port = service[1]
    admin = chromadb.AdminClient(Settings(
        chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host="127.0.0.1",
        chroma_server_http_port=port, anonymized_telemetry=False))
    tenant = f"t{collection_name[-12:]}"
    admin.create_tenant(tenant)
    admin.create_database("analytics", tenant=tenant)
    assert admin.get_tenant(tenant)["name"] == tenant
    assert [d["name"] for d in admin.list_databases(tenant=tenant)] == ["analytics"]
    scoped = _client(port, tenant=tenant, database="analytics")
    first = scoped.get_or_create_collection("an1", configuration={"hnsw": {"space": "cosine"}})
    again = scoped.get_or_create_collection("an1")
    assert first.id == again.id and again.configuration_json["hnsw"]["space"] == "cosine"
    scoped.create_collection("an2")
    assert scoped.count_collections() == 2
    assert [c.name for c in scoped.list_collections(limit=1, offset=1)] == ["an2"]
    with pytest.raises(chroma_errors.NotFoundError):
        client.get_collection("an1")  # another tenant's: not in the default database
    with pytest.raises(chroma_errors.ChromaError, match="already exists"):
        admin.create_tenant(tenant)
    with pytest.raises(chroma_errors.ChromaError, match="already exists"):
        scoped.create_collection("an1")
    admin.delete_database("analytics", tenant=tenant)
    with pytest.raises(chroma_errors.NotFoundError):
        admin.get_database("analytics", tenant=tenant)


def test_errors_are_chromas_exception_types(client, collection_name):
    docs = client.create_collection(collection_name)
    docs.add(ids=["a"], embeddings=_rows(1))
    with pytest.raises(chroma_errors.InvalidArgumentError, match="dimension"):
        docs.add(ids=["b"], embeddings=[[1.0, 2.0]])
    with pytest.raises(chroma_errors.NotFoundError):
        client.get_collection("no-such-collection")
    with pytest.raises(chroma_errors.NotFoundError):
        client.delete_collection("no-such-collection")
    with pytest.raises(chroma_errors.InvalidArgumentError):
        client.create_collection("x")  # segmentdb's name rule: 3-512 characters
    client.delete_collection(collection_name)
    with pytest.raises(chroma_errors.NotFoundError):
        docs.count()  # the handle of a deleted collection


def test_results_equal_the_grpc_sdks(client, grpc_client, collection_name):
    rows = _rows(200, seed=11)
    meta = [{"group": f"g{i % 5}", "n": i, "even": i % 2 == 0} for i in range(200)]
    via_http = client.create_collection(collection_name)
    via_http.add(ids=[f"r{i}" for i in range(200)], embeddings=rows,
                 documents=[f"record {i} of group g{i % 5}" for i in range(200)], metadatas=meta)
    via_grpc = grpc_client.get_collection(collection_name)
    queries = _rows(4, seed=12)
    filters = [
        ({"group": "g1"}, None),
        ({"$and": [{"n": {"$gte": 50}}, {"even": True}]}, None),
        ({"$or": [{"group": {"$in": ["g2", "g3"]}}, {"n": {"$lt": 10}}]},
         {"$contains": "record"}),
        (None, {"$not_contains": "g4"}),
    ]
    for where, where_document in filters:
        a = via_http.query(query_embeddings=queries, n_results=7, where=where,
                           where_document=where_document,
                           include=["distances", "metadatas", "documents"])
        b = via_grpc.query(query_embeddings=queries, n_results=7, where=where,
                           where_document=where_document,
                           include=["distances", "metadatas", "documents"])
        assert a["ids"] == b["ids"] and a["metadatas"] == b["metadatas"]
        assert a["documents"] == b["documents"]
        assert np.allclose(a["distances"], b["distances"])
        got_a = via_http.get(where=where, where_document=where_document, limit=20, offset=3)
        got_b = via_grpc.get(where=where, where_document=where_document, limit=20, offset=3)
        assert got_a["ids"] == got_b["ids"] and got_a["metadatas"] == got_b["metadatas"]


def test_reset(service, client):
    client.create_collection("reset-me")
    assert client.reset() is True
    assert client.list_collections() == []
