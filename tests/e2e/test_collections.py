"""Collections through the SDK: create/get/get_or_create/list/count/modify/delete and
the HNSW configuration (both the `configuration=` and the legacy `hnsw:*` metadata way)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from model import CollectionModel, assert_query_matches, typed
from segmentdb.errors import InvalidArgumentError, NotFoundError, UniqueConstraintError


def _hnsw(collection) -> dict:
    return dict(collection.configuration["hnsw"])


def _vector_segment_id(data_path: Path, collection_id) -> str:
    """Read-only look into the metadata worker's SQLite: the collection's VECTOR segment."""
    db = sqlite3.connect(f"file:{data_path / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'",
                          (str(collection_id),)).fetchall()
    finally:
        db.close()
    assert len(rows) == 1, f"expected one VECTOR segment for {collection_id}, found {rows}"
    return rows[0][0]


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_create_then_get_by_name_returns_the_same_collection(client, make_collection):
    created = make_collection(metadata={"owner": "tests", "n": 3})

    fetched = client.get_collection(created.name)

    assert fetched.id == created.id
    assert fetched.name == created.name
    assert typed(fetched.metadata) == typed({"owner": "tests", "n": 3})


def test_a_collection_without_metadata_reports_none(make_collection):
    assert make_collection().metadata is None


def test_get_or_create_returns_the_existing_collection(client, collection_name, make_collection):
    created = make_collection()
    created.add(ids=["a"], embeddings=[[1.0, 2.0]])

    again = client.get_or_create_collection(created.name)
    fresh = client.get_or_create_collection(f"{collection_name}-fresh")
    try:
        assert again.id == created.id and again.count() == 1
        assert fresh.id != created.id and fresh.count() == 0
    finally:
        client.delete_collection(fresh.name)


def test_defaults_are_l2_16_100_100_1000(make_collection):
    hnsw = _hnsw(make_collection())

    assert hnsw["space"] == "l2"
    assert hnsw["max_neighbors"] == 16
    assert hnsw["ef_construction"] == 100
    assert hnsw["ef_search"] == 100
    assert hnsw["sync_threshold"] == 1000
    assert hnsw["resize_factor"] == pytest.approx(1.2)


def test_legacy_metadata_keys_set_the_configuration(make_collection):
    collection = make_collection(metadata={"hnsw:space": "ip", "hnsw:M": 32,
                                           "hnsw:construction_ef": 150, "hnsw:search_ef": 70})

    hnsw = _hnsw(collection)

    assert (hnsw["space"], hnsw["max_neighbors"], hnsw["ef_construction"], hnsw["ef_search"]) \
        == ("ip", 32, 150, 70)


def test_configuration_and_metadata_that_disagree_are_rejected(client, collection_name):
    with pytest.raises(InvalidArgumentError) as info:
        client.create_collection(collection_name, metadata={"hnsw:space": "ip"},
                                 configuration={"hnsw": {"space": "cosine"}})
    assert "space" in str(info.value)
    with pytest.raises(NotFoundError):
        client.get_collection(collection_name)


@pytest.mark.parametrize("how", ["configuration", "metadata"])
@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_space_changes_distances(make_collection, rng, how, space):
    kwargs = ({"configuration": {"hnsw": {"space": space}}} if how == "configuration"
              else {"metadata": {"hnsw:space": space}})
    collection = make_collection(**kwargs)
    vectors = rng.standard_normal((40, 6)).astype(np.float32)
    ids = [f"r{i}" for i in range(40)]
    collection.add(ids=ids, embeddings=vectors)
    model = CollectionModel(space)
    model.add(ids, vectors)
    queries = rng.standard_normal((3, 6)).astype(np.float32)

    result = collection.query(query_embeddings=queries, n_results=7, include=["distances"])

    assert _hnsw(collection)["space"] == space
    for q in range(3):
        assert_query_matches(model, queries[q], result["ids"][q], result["distances"][q], 7)


def test_list_collections_in_creation_order_with_limit_and_offset(client, make_collection):
    names = [make_collection(f"-{i}").name for i in range(4)]

    listed = [c.name for c in client.list_collections()]
    assert [n for n in listed if n in names] == names
    start = listed.index(names[0])
    page = [c.name for c in client.list_collections(limit=2, offset=start + 1)]
    assert page == names[1:3]
    assert [c.name for c in client.list_collections(offset=len(listed))] == []


def test_count_collections_follows_create_and_delete(client, collection_name):
    before = client.count_collections()
    client.create_collection(collection_name)
    assert client.count_collections() == before + 1
    client.delete_collection(collection_name)
    assert client.count_collections() == before


def test_rename_keeps_records_and_frees_the_old_name(client, collection_name, make_collection):
    collection = make_collection()
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["doc"])
    new_name = f"{collection_name}-renamed"

    collection.modify(name=new_name)
    try:
        renamed = client.get_collection(new_name)
        assert renamed.id == collection.id
        assert renamed.get()["documents"] == ["doc"]
        with pytest.raises(NotFoundError):
            client.get_collection(collection_name)
    finally:
        client.delete_collection(new_name)


def test_rename_to_an_existing_name_is_rejected(make_collection):
    first = make_collection("-1")
    second = make_collection("-2")

    with pytest.raises(UniqueConstraintError):
        second.modify(name=first.name)


def test_modify_metadata_replaces_it(client, make_collection):
    collection = make_collection(metadata={"a": 1, "b": "x"})

    collection.modify(metadata={"c": True})

    assert typed(client.get_collection(collection.name).metadata) == typed({"c": True})


def test_modify_metadata_drops_none_valued_keys_like_chromadb(client, make_collection):
    collection = make_collection(metadata={"a": 1})

    collection.modify(metadata={"k": None, "z": 3})

    assert typed(client.get_collection(collection.name).metadata) == typed({"z": 3})
    assert typed(collection.metadata) == typed({"z": 3})
    collection.modify(metadata={"k": None})
    assert client.get_collection(collection.name).metadata is None


def test_modify_ef_search_changes_the_configuration(client, make_collection):
    collection = make_collection()

    collection.modify(configuration={"hnsw": {"ef_search": 42}})

    assert _hnsw(client.get_collection(collection.name))["ef_search"] == 42


@pytest.mark.parametrize("change", [{"space": "cosine"}, {"max_neighbors": 8},
                                    {"ef_construction": 10}])
def test_modifying_an_immutable_parameter_is_rejected(client, make_collection, change):
    collection = make_collection()

    with pytest.raises(InvalidArgumentError) as info:
        collection.modify(configuration={"hnsw": change})

    assert info.value.code.name == "INVALID_ARGUMENT"
    assert next(iter(change)) in str(info.value)
    assert _hnsw(client.get_collection(collection.name))["space"] == "l2"


def test_delete_removes_the_collection_and_its_index_folder(client, service, collection_name,
                                                             rng):
    collection = client.create_collection(collection_name)
    # More than sync_threshold (1000) records, so the vector worker persists the segment.
    n = 1500
    collection.add(ids=[str(i) for i in range(n)],
                   embeddings=rng.standard_normal((n, 4)).astype(np.float32))
    collection.query(query_embeddings=[[0.0] * 4], n_results=1)
    folder = service.path / "index" / _vector_segment_id(service.path, collection.id)
    assert _wait_for(folder.exists), f"{folder} never appeared"

    client.delete_collection(collection_name)

    assert _wait_for(lambda: not folder.exists()), f"{folder} still exists after delete"
    with pytest.raises(NotFoundError):
        client.get_collection(collection_name)
    with pytest.raises(NotFoundError):
        collection.count()
    db = sqlite3.connect(f"file:{service.path / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        left = db.execute("SELECT COUNT(*) FROM segments WHERE collection = ?",
                          (str(collection.id),)).fetchone()[0]
    finally:
        db.close()
    assert left == 0


def test_deleting_an_unknown_collection_is_not_found(client, collection_name):
    with pytest.raises(NotFoundError) as info:
        client.delete_collection(collection_name)
    assert info.value.code.name == "NOT_FOUND"
