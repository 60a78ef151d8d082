"""Tenants, databases, collections and HNSW configuration in the metadata worker's store."""

from __future__ import annotations

import os

import numpy as np
import pytest

from segmentdb import errors

from metadata_worker import collection_config, store_collections as sc, store_records
from metadata_worker.domain import DEFAULT_DATABASE_ID, RecordWrite
from metadata_worker.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def create(store, name, tenant="", database="", metadata=None, hnsw=None, get_or_create=False):
    resolved = collection_config.resolve_create(hnsw or {}, metadata)
    return store.write(sc.create_collection, tenant, database, name, metadata, resolved,
                       get_or_create)


def test_defaults_exist(store):
    assert store.read(sc.get_tenant, "") == "default_tenant"
    db = store.read(sc.get_database, "", "")
    assert (db.id, db.name, db.tenant) == (DEFAULT_DATABASE_ID, "default_database", "default_tenant")


def test_tenants_and_databases(store):
    store.write(sc.create_tenant, "acme")
    with pytest.raises(errors.UniqueConstraintError, match="tenant 'acme' already exists"):
        store.write(sc.create_tenant, "acme")
    with pytest.raises(errors.NotFoundError, match="tenant 'nope' does not exist"):
        store.read(sc.get_tenant, "nope")
    with pytest.raises(errors.NotFoundError, match="tenant 'nope'"):
        store.write(sc.create_database, "nope", "db")
    made = [store.write(sc.create_database, "acme", n) for n in ("one", "two", "three")]
    with pytest.raises(errors.UniqueConstraintError):
        store.write(sc.create_database, "acme", "two")
    assert [d.name for d in store.read(sc.list_databases, "acme", 0, 0)] == ["one", "two", "three"]
    assert [d.name for d in store.read(sc.list_databases, "acme", 1, 1)] == ["two"]
    assert store.read(sc.get_database, "acme", "two") == made[1]
    with pytest.raises(errors.NotFoundError, match="database 'zz' does not exist in tenant 'acme'"):
        store.read(sc.get_database, "acme", "zz")


def test_create_get_or_create_and_duplicates(store):
    made, created = create(store, "docs", metadata={"topic": "x"})
    assert created and made.metadata == {"topic": "x"} and made.dimension is None
    again, created = create(store, "docs", metadata={"other": 1}, get_or_create=True)
    assert not created and again == made
    with pytest.raises(errors.UniqueConstraintError, match="collection 'docs' already exists"):
        create(store, "docs")
    assert store.read(sc.get_collection_by_name, "", "", "docs") == made
    assert store.read(sc.get_collection_by_id, made.id) == made
    segments = store.read(lambda c: c.execute(
        "SELECT scope, type FROM segments WHERE collection = ? ORDER BY scope", (made.id,)
    ).fetchall())
    assert segments == [("METADATA", "urn:chroma:segment/metadata/sqlite"),
                        ("VECTOR", "urn:chroma:segment/vector/hnsw-local-persisted")]


def test_list_collections_in_creation_order(store):
    for name in ("zeta", "alpha", "mid"):
        create(store, name)
    names = [c.name for c in store.read(sc.list_collections, "", "", 0, 0)]
    assert names == ["zeta", "alpha", "mid"]
    assert [c.name for c in store.read(sc.list_collections, "", "", 2, 1)] == ["alpha", "mid"]
    assert store.read(sc.count_collections, "", "") == 3
    with pytest.raises(errors.NotFoundError):
        store.read(sc.list_collections, "", "missing", 0, 0)


def test_modify_collection(store):
    made, _ = create(store, "old", metadata={"a": 1})
    create(store, "taken")
    with pytest.raises(errors.UniqueConstraintError, match="new_name: collection 'taken'"):
        store.write(sc.modify_collection, made.id, "taken", None, False, {})
    changed = store.write(sc.modify_collection, made.id, "new", {"b": 2}, True,
                          {"ef_search": 55, "batch_size": 10})
    assert (changed.name, changed.metadata) == ("new", {"b": 2})
    assert changed.hnsw["ef_search"] == 55 and changed.hnsw["batch_size"] == 10
    with pytest.raises(errors.InvalidArgumentError, match="new_configuration.hnsw.space: cannot be changed"):
        store.write(sc.modify_collection, made.id, None, None, False, {"space": "ip"})
    cleared = store.write(sc.modify_collection, made.id, None, None, True, {})
    assert cleared.metadata is None and cleared.name == "new"
    with pytest.raises(errors.NotFoundError):
        store.write(sc.modify_collection, "nope", "x", None, False, {})


def test_delete_collection_removes_everything_and_returns_its_vector_segment(store):
    made, _ = create(store, "gone")
    keep, _ = create(store, "kept")
    for cid in (made.id, keep.id):
        store.write(store_records.add, cid, RecordWrite(
            ["a", "b"], np.ones((2, 2), np.float32), ["doc a", "doc b"],
            [{"k": 1, "l": [1, 2]}, None]))
    removed = store.write(sc.delete_collection, "", "", "gone")
    assert removed == [made.vector_segment_id]
    counts = store.read(lambda c: [c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in (
        "embeddings", "embedding_metadata", "embedding_metadata_array",
        "embedding_fulltext_search", "embeddings_log", "segments", "collection_metadata")])
    assert counts == [2, 1, 2, 2, 2, 2, 0]
    with pytest.raises(errors.NotFoundError):
        store.write(sc.delete_collection, "", "", "gone")


def test_delete_database_returns_every_vector_segment(store):
    store.write(sc.create_database, "", "scratch")
    one, _ = create(store, "one", database="scratch")
    two, _ = create(store, "two", database="scratch")
    other, _ = create(store, "one")
    removed = store.write(sc.delete_database, "", "scratch")
    assert removed == [one.vector_segment_id, two.vector_segment_id]
    with pytest.raises(errors.NotFoundError):
        store.read(sc.get_database, "", "scratch")
    assert store.read(sc.get_collection_by_id, other.id) == other


# -- configuration ------------------------------------------------------------------------------

def test_defaults_resolve_fully():
    resolved = collection_config.resolve_create({}, None)
    assert resolved == {"space": "l2", "max_neighbors": 16, "ef_construction": 100,
                        "ef_search": 100, "num_threads": os.cpu_count(), "resize_factor": 1.2,
                        "sync_threshold": 1000, "batch_size": 100}


def test_legacy_metadata_keys_set_the_configuration():
    resolved = collection_config.resolve_create({"ef_search": 20}, {
        "hnsw:space": "cosine", "hnsw:M": 32, "hnsw:construction_ef": 200,
        "hnsw:num_threads": 1, "hnsw:resize_factor": 2, "hnsw:sync_threshold": 50,
        "hnsw:batch_size": 5, "hnsw:search_ef": 20, "other": "x"})
    assert resolved == {"space": "cosine", "max_neighbors": 32, "ef_construction": 200,
                        "ef_search": 20, "num_threads": 1, "resize_factor": 2.0,
                        "sync_threshold": 50, "batch_size": 5}


@pytest.mark.parametrize("requested, metadata, message", [
    ({"space": "ip"}, {"hnsw:space": "l2"}, "configuration.hnsw.space: 'ip' conflicts with metadata key hnsw:space"),
    ({"space": "SPACE_UNSPECIFIED"}, None, "configuration.hnsw.space: 'SPACE_UNSPECIFIED' is not a known space"),
    ({}, {"hnsw:space": "manhattan"}, "'manhattan' is not a known space"),
    ({"max_neighbors": 1}, None, "configuration.hnsw.max_neighbors: must be >= 2"),
    ({"ef_construction": 0}, None, "ef_construction: must be >= 1"),
    ({"ef_search": 0}, None, "ef_search: must be >= 1"),
    ({"num_threads": 0}, None, "num_threads: must be >= 1"),
    ({"resize_factor": 0.5}, None, "resize_factor: must be >= 1.0"),
    ({"sync_threshold": 1}, None, "sync_threshold: must be >= 2"),
    ({"batch_size": 1}, None, "batch_size: must be >= 2"),
    ({}, {"hnsw:M": "16"}, "metadata.hnsw:M: must be an integer"),
    ({}, {"hnsw:M": True}, "metadata.hnsw:M: must be an integer"),
])
def test_invalid_configuration(requested, metadata, message):
    with pytest.raises(errors.InvalidArgumentError) as info:
        collection_config.resolve_create(requested, metadata)
    assert message in str(info.value)


def test_modify_changes_only_mutable_parameters():
    current = collection_config.resolve_create({"space": "ip"}, None)
    changed = collection_config.resolve_modify(current, {"ef_search": 7, "space": "ip"}, None)
    assert changed == {**current, "ef_search": 7}
    for name, value in [("space", "l2"), ("max_neighbors", 8), ("ef_construction", 10)]:
        with pytest.raises(errors.InvalidArgumentError, match=f"hnsw.{name}: cannot be changed"):
            collection_config.resolve_modify(current, {name: value}, None)
    with pytest.raises(errors.InvalidArgumentError, match="ef_search: must be >= 1"):
        collection_config.resolve_modify(current, {"ef_search": 0}, None)
