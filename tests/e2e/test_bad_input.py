"""Bad input: each case raises the chromadb-named class with its gRPC code and a message
naming the field, writes NOTHING, and leaves the service serving."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from model import typed
from segmentdb.errors import (DuplicateIDError, InvalidArgumentError,
                              InvalidDimensionException, NotFoundError, UniqueConstraintError)


def _snapshot(collection) -> tuple:
    got = collection.get(include=["embeddings", "documents", "metadatas"])
    embeddings = got["embeddings"]
    return (collection.count(), got["ids"], got["documents"], typed(got["metadatas"]),
            None if embeddings is None else np.asarray(embeddings).tobytes())


@pytest.fixture()
def seeded(collection):
    collection.add(ids=["a", "b", "c"], embeddings=[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0],
                                                    [7.0, 8.0, 9.0]],
                   documents=["doc a", "doc b", None],
                   metadatas=[{"n": 1, "s": "x"}, {"n": 2}, None])
    return collection


def _assert_rejected(collection, call, error: type, code: grpc.StatusCode, *names: str):
    before = _snapshot(collection)
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code, f"{type(info.value).__name__} carries {info.value.code}"
    message = str(info.value)
    assert any(name in message for name in names), f"{message!r} names none of {names}"
    assert _snapshot(collection) == before, "a rejected request changed the collection"
    # ...and the service still serves.
    assert collection.query(query_embeddings=[[1.0, 2.0, 3.0]], n_results=1)["ids"] == [["a"]]
    return info.value


INVALID = grpc.StatusCode.INVALID_ARGUMENT

BAD_WRITES = {
    "wrong dimension": (dict(ids=["d"], embeddings=[[1.0, 2.0]]), InvalidDimensionException,
                        ("dimension", "embeddings")),
    "nan": (dict(ids=["d", "e"], embeddings=[[1.0, 2.0, 3.0], [1.0, math.nan, 3.0]]),
            InvalidArgumentError, ("embeddings",)),
    "inf": (dict(ids=["d"], embeddings=[[math.inf, 2.0, 3.0]]), InvalidArgumentError,
            ("embeddings",)),
    "empty id": (dict(ids=["d", ""], embeddings=[[1.0, 2.0, 3.0]] * 2), InvalidArgumentError,
                 ("ids",)),
    "duplicate ids": (dict(ids=["d", "e", "d"], embeddings=[[1.0, 2.0, 3.0]] * 3),
                      DuplicateIDError, ("ids", "'d'", '"d"')),
    "ragged embeddings": (dict(ids=["d", "e"], embeddings=[[1.0, 2.0, 3.0], [1.0, 2.0]]),
                          InvalidArgumentError, ("embeddings",)),
    "fewer embeddings than ids": (dict(ids=["d", "e"], embeddings=[[1.0, 2.0, 3.0]]),
                                  InvalidArgumentError, ("embeddings",)),
    "fewer documents than ids": (dict(ids=["d", "e"], embeddings=[[1.0, 2.0, 3.0]] * 2,
                                      documents=["one"]), InvalidArgumentError, ("documents",)),
    "nested metadata": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                             metadatas=[{"k": {"nested": 1}}]), InvalidArgumentError,
                        ("metadata",)),
    "empty metadata list": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                                 metadatas=[{"k": []}]), InvalidArgumentError, ("metadata",)),
    "mixed metadata list": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                                 metadatas=[{"k": [1, "x"]}]), InvalidArgumentError,
                            ("metadata",)),
    "empty metadata key": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                                metadatas=[{"": 1}]), InvalidArgumentError, ("metadata",)),
    "reserved # key": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                            metadatas=[{"#document": "x"}]), InvalidArgumentError,
                       ("'#document'",)),
    "reserved $ key": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                            metadatas=[{"$k": 1}]), InvalidArgumentError, ("'$k'",)),
    "reserved chroma:document key": (dict(ids=["d"], embeddings=[[1.0, 2.0, 3.0]],
                                          metadatas=[{"chroma:document": "x"}]),
                                     InvalidArgumentError, ("'chroma:document'",)),
}


@pytest.mark.parametrize("method", ["add", "upsert"])
@pytest.mark.parametrize("case", list(BAD_WRITES))
def test_bad_writes_are_rejected_and_write_nothing(seeded, method, case):
    kwargs, error, names = BAD_WRITES[case]

    _assert_rejected(seeded, lambda: getattr(seeded, method)(**kwargs), error, INVALID, *names)


def test_one_bad_row_rejects_the_whole_batch(seeded):
    rows = [[float(i), 0.0, 1.0] for i in range(100)]
    rows[77][1] = math.nan

    _assert_rejected(seeded, lambda: seeded.add(ids=[f"n{i}" for i in range(100)],
                                                embeddings=rows),
                     InvalidArgumentError, INVALID, "embeddings")


def test_update_with_wrong_dimension_is_rejected(seeded):
    _assert_rejected(seeded, lambda: seeded.update(ids=["a"], embeddings=[[1.0, 2.0]]),
                     InvalidDimensionException, INVALID, "dimension", "embeddings")


@pytest.mark.parametrize("documents", [[None], ["x", None]])
def test_update_with_a_none_document_and_no_embeddings_is_rejected(seeded, documents):
    ids = ["a", "b"][:len(documents)]
    _assert_rejected(seeded, lambda: seeded.update(ids=ids, documents=documents),
                     InvalidArgumentError, INVALID, f"documents[{len(documents) - 1}]")


def test_update_with_duplicate_ids_is_rejected(seeded):
    _assert_rejected(seeded, lambda: seeded.update(ids=["a", "a"], documents=["x", "y"]),
                     DuplicateIDError, INVALID, "ids", "'a'")


def test_query_with_wrong_dimension_is_rejected(seeded):
    _assert_rejected(seeded, lambda: seeded.query(query_embeddings=[[1.0, 2.0]], n_results=1),
                     InvalidDimensionException, INVALID, "dimension", "embeddings")


@pytest.mark.parametrize("n_results", [0, -1])
def test_n_results_below_one_is_rejected(seeded, n_results):
    _assert_rejected(seeded, lambda: seeded.query(query_embeddings=[[1.0, 2.0, 3.0]],
                                                  n_results=n_results),
                     InvalidArgumentError, INVALID, "n_results")


BAD_WHERES = {
    "unknown operator": {"n": {"$foo": 1}},
    "unknown top-level operator": {"$nor": [{"n": 1}, {"n": 2}]},
    "$gt with a string": {"s": {"$gt": "x"}},
    "$lt with a bool": {"n": {"$lt": True}},
    "empty where": {},
    "two keys at one level": {"n": 1, "s": "x"},
    "$and with one clause": {"$and": [{"n": 1}]},
    "$in with mixed types": {"n": {"$in": [1, "x"]}},
    "$in with a scalar": {"n": {"$in": 1}},
    "$contains with a list": {"n": {"$contains": [1]}},
    "two operators": {"n": {"$gt": 1, "$lt": 5}},
}


@pytest.mark.parametrize("case", list(BAD_WHERES))
def test_bad_where_is_rejected_by_get_query_and_delete(seeded, case):
    where = BAD_WHERES[case]

    _assert_rejected(seeded, lambda: seeded.get(where=where), InvalidArgumentError, INVALID,
                     "where")
    _assert_rejected(seeded, lambda: seeded.query(query_embeddings=[[1.0, 2.0, 3.0]],
                                                  where=where),
                     InvalidArgumentError, INVALID, "where")
    _assert_rejected(seeded, lambda: seeded.delete(where=where), InvalidArgumentError, INVALID,
                     "where")


@pytest.mark.parametrize("where_document", [{}, {"$foo": "x"}, {"$contains": 3},
                                            {"$regex": "("}, {"$and": [{"$contains": "a"}]},
                                            {"$contains": ""}, {"$not_contains": ""},
                                            {"$regex": ""}, {"$not_regex": ""}])
def test_bad_where_document_is_rejected(seeded, where_document):
    _assert_rejected(seeded, lambda: seeded.delete(where_document=where_document),
                     InvalidArgumentError, INVALID, "where_document")


def test_delete_without_any_selector_is_rejected(seeded):
    _assert_rejected(seeded, lambda: seeded.delete(), InvalidArgumentError, INVALID,
                     "ids", "where")


def test_add_of_an_existing_id_leaves_the_record_unchanged(seeded):
    before = _snapshot(seeded)

    seeded.add(ids=["a", "new"], embeddings=[[9.0, 9.0, 9.0], [0.0, 0.0, 1.0]],
               documents=["changed", "fresh"], metadatas=[{"n": 100}, {"n": 5}])

    got = seeded.get(ids=["a"], include=["embeddings", "documents", "metadatas"])
    assert got["documents"] == ["doc a"]
    assert typed(got["metadatas"]) == typed([{"n": 1, "s": "x"}])
    np.testing.assert_array_equal(got["embeddings"], np.array([[1.0, 2.0, 3.0]], np.float32))
    assert seeded.count() == before[0] + 1


def test_unknown_collection_is_not_found(client, collection_name):
    with pytest.raises(NotFoundError) as info:
        client.get_collection(collection_name)
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert collection_name in str(info.value)


def test_a_deleted_collection_handle_is_not_found(client, collection_name):
    handle = client.create_collection(collection_name)
    client.delete_collection(collection_name)

    for call in (handle.count, lambda: handle.add(ids=["a"], embeddings=[[1.0]]),
                 lambda: handle.get(), lambda: handle.query(query_embeddings=[[1.0]])):
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.code == grpc.StatusCode.NOT_FOUND


BAD_NAMES = {
    "too short": "ab",
    "too long": "a" * 513,
    "bad characters": "bad name!",
    "slash": "bad/name",
    "two dots": "abc..def",
    "leading dash": "-abc",
    "trailing dot": "abc.",
    "empty": "",
    "an IPv4 address": "1.2.3.4",
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_invalid_collection_names_are_rejected(client, case):
    name = BAD_NAMES[case]
    before = client.count_collections()

    with pytest.raises(InvalidArgumentError) as info:
        client.create_collection(name)

    assert info.value.code == INVALID
    assert "name" in str(info.value)
    assert client.count_collections() == before


@pytest.mark.parametrize("name", ["abc", "a" * 512, "A.b-c_d.9", "0x0", "256.1.1.1"])
def test_valid_edge_case_names_are_accepted(client, name):
    try:
        created = client.create_collection(name)
        assert created.name == name
    finally:
        try:
            client.delete_collection(name)
        except NotFoundError:
            pass


def test_creating_an_existing_collection_is_a_unique_constraint_error(client, collection):
    collection.add(ids=["a"], embeddings=[[1.0]])

    with pytest.raises(UniqueConstraintError) as info:
        client.create_collection(collection.name)

    assert info.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert collection.name in str(info.value)
    assert client.get_collection(collection.name).count() == 1


@pytest.mark.parametrize("key", ["#x", "$x"])
def test_reserved_collection_metadata_keys_are_rejected(client, collection_name, key):
    before = client.count_collections()

    with pytest.raises(InvalidArgumentError) as info:
        client.create_collection(collection_name, metadata={key: 1})

    assert info.value.code == INVALID and repr(key) in str(info.value)
    assert client.count_collections() == before
