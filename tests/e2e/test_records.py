"""Records through the SDK: add/get/peek/query/update/upsert/delete/count, checked against
the reference model (tests/model.py) and chromadb 1.x's result shapes."""

from __future__ import annotations

import numpy as np
import pytest

from model import CollectionModel, assert_query_matches, typed

GET_KEYS = {"ids", "embeddings", "documents", "uris", "data", "metadatas", "included"}
QUERY_KEYS = GET_KEYS | {"distances"}


def _records(n: int, dim: int, rng) -> dict:
    return {
        "ids": [f"id{i}" for i in range(n)],
        "embeddings": rng.standard_normal((n, dim)).astype(np.float32),
        "documents": [f"document number {i}" for i in range(n)],
        "metadatas": [{"i": i, "even": i % 2 == 0, "half": i / 2, "name": f"n{i}",
                       "tags": [f"t{i % 3}", "all"]} for i in range(n)],
    }


def test_add_then_get_returns_every_field_as_added(collection, rng):
    data = _records(7, 5, rng)
    collection.add(**data)

    got = collection.get(include=["embeddings", "documents", "metadatas"])

    assert set(got.keys()) >= GET_KEYS
    assert got["ids"] == data["ids"]
    assert got["documents"] == data["documents"]
    assert typed(got["metadatas"]) == typed(data["metadatas"])
    assert isinstance(got["embeddings"], np.ndarray)
    assert got["embeddings"].dtype == np.float32
    assert got["embeddings"].shape == (7, 5)
    np.testing.assert_array_equal(got["embeddings"], data["embeddings"])
    assert sorted(got["included"]) == ["documents", "embeddings", "metadatas"]


def test_get_default_include_is_documents_and_metadatas(collection, rng):
    data = _records(3, 4, rng)
    collection.add(**data)

    got = collection.get()

    assert got["ids"] == data["ids"]
    assert got["embeddings"] is None
    assert got["documents"] == data["documents"]
    assert typed(got["metadatas"]) == typed(data["metadatas"])
    assert sorted(got["included"]) == ["documents", "metadatas"]


def test_get_with_empty_include_returns_ids_only(collection, rng):
    collection.add(**_records(3, 4, rng))

    got = collection.get(include=[])

    assert got["ids"] == ["id0", "id1", "id2"]
    assert got["embeddings"] is None and got["documents"] is None and got["metadatas"] is None


def test_get_by_ids_with_unknown_ids_returns_the_known_ones(collection, rng):
    collection.add(**_records(5, 4, rng))

    got = collection.get(ids=["id3", "nope", "id1"])

    assert sorted(got["ids"]) == ["id1", "id3"]


def test_records_without_document_or_metadata_return_none(collection):
    collection.add(ids=["a", "b"], embeddings=[[1, 2], [3, 4]])
    collection.add(ids=["c"], embeddings=[[5, 6]], metadatas=[{}], documents=["doc"])

    got = collection.get()

    assert got["documents"] == [None, None, "doc"]
    assert got["metadatas"] == [None, None, None]


def test_metadata_value_types_round_trip_exactly(collection):
    metadata = {"s": "text", "i": 7, "f": 2.5, "whole_float": 3.0, "t": True, "false": False,
                "big": 2**53 + 1, "neg": -12, "sl": ["a", "b"], "il": [1, 2, 3],
                "fl": [0.5, 1.5], "bl": [True, False], "unicode": "héllo ✓"}
    collection.add(ids=["x"], embeddings=[[0.0, 1.0]], metadatas=[metadata])

    got = collection.get(ids=["x"])

    assert typed(got["metadatas"][0]) == typed(metadata)


def test_get_limit_and_offset_apply_after_filtering(collection, rng):
    data = _records(20, 3, rng)
    collection.add(**data)
    even = [f"id{i}" for i in range(0, 20, 2)]

    got = collection.get(where={"even": True}, limit=3, offset=2, include=[])

    assert got["ids"] == even[2:5]
    assert collection.get(offset=18, include=[])["ids"] == ["id18", "id19"]
    assert collection.get(offset=100, include=[])["ids"] == []


def test_peek_returns_the_first_records_with_embeddings(collection, rng):
    data = _records(15, 3, rng)
    collection.add(**data)

    peeked = collection.peek(limit=4)

    assert peeked["ids"] == data["ids"][:4]
    np.testing.assert_array_equal(peeked["embeddings"], data["embeddings"][:4])
    assert peeked["documents"] == data["documents"][:4]
    assert len(collection.peek()["ids"]) == 10


def _empty_1d(embeddings) -> bool:
    return isinstance(embeddings, np.ndarray) and embeddings.shape == (0,)


def test_no_records_with_embeddings_is_an_empty_1d_array_like_chromadb(collection):
    assert _empty_1d(collection.peek()["embeddings"])
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], metadatas=[{"k": 1}])

    assert _empty_1d(collection.get(ids=["zz"], include=["embeddings"])["embeddings"])
    assert _empty_1d(collection.get(where={"k": 2}, include=["embeddings"])["embeddings"])
    result = collection.query(query_embeddings=[[1.0, 2.0], [0.0, 0.0]], where={"k": 2},
                              include=["embeddings"])
    assert result["ids"] == [[], []] and all(_empty_1d(e) for e in result["embeddings"])
    assert collection.get(include=["embeddings"])["embeddings"].shape == (1, 2)


def test_include_uris_and_data_answer_like_chromadb_without_a_data_loader(collection):
    collection.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]])

    got = collection.get(include=["uris"])
    assert got["uris"] == [None, None] and got["data"] is None and got["documents"] is None

    result = collection.query(query_embeddings=[[1.0, 2.0]], n_results=2, include=["uris"])
    assert result["uris"] == [[None, None]] and result["data"] is None
    result = collection.query(query_embeddings=[[1.0, 2.0]], n_results=1, include=["data"])
    assert result["data"] is None and result["uris"] == [[None]]
    assert result["included"] == ["data", "uris"]


def test_update_with_embeddings_and_a_none_document_keeps_the_document(collection):
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]], documents=["kept"])

    collection.update(ids=["a"], embeddings=[[3.0, 4.0]], documents=[None])

    got = collection.get(include=["documents", "embeddings"])
    assert got["documents"] == ["kept"] and got["embeddings"].tolist() == [[3.0, 4.0]]


def test_count_follows_adds_and_deletes(collection, rng):
    assert collection.count() == 0
    collection.add(**_records(6, 3, rng))
    assert collection.count() == 6
    collection.delete(ids=["id0", "id1"])
    assert collection.count() == 4


def test_query_matches_the_exact_model_and_has_chromadb_shape(collection, rng):
    data = _records(50, 8, rng)
    collection.add(**data)
    model = CollectionModel("l2")
    model.add(data["ids"], data["embeddings"], data["documents"], data["metadatas"])
    queries = rng.standard_normal((3, 8)).astype(np.float32)

    result = collection.query(query_embeddings=queries, n_results=5)

    assert set(result.keys()) >= QUERY_KEYS
    assert len(result["ids"]) == 3
    assert result["embeddings"] is None
    assert sorted(result["included"]) == ["distances", "documents", "metadatas"]
    for q in range(3):
        assert_query_matches(model, queries[q], result["ids"][q], result["distances"][q], 5)
        for j, id_ in enumerate(result["ids"][q]):
            assert result["documents"][q][j] == model.records[id_].document
            assert typed(result["metadatas"][q][j]) == typed(model.metadata_of(id_))


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_query_works_with_and_without_a_client_deadline(service, collection, timeout):
    import segmentdb

    collection.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [5.0, 5.0]])
    with segmentdb.Client(service.address, timeout=timeout) as client:
        result = client.get_collection(collection.name).query(query_embeddings=[[1.0, 2.0]],
                                                              n_results=1)
    assert result["ids"] == [["a"]]


def test_query_include_embeddings_returns_arrays_per_query(collection, rng):
    data = _records(10, 4, rng)
    collection.add(**data)

    result = collection.query(query_embeddings=[data["embeddings"][2].tolist()], n_results=3,
                              include=["embeddings", "distances"])

    assert result["ids"][0][0] == "id2"
    assert result["distances"][0][0] == pytest.approx(0.0, abs=1e-5)
    assert result["documents"] is None and result["metadatas"] is None
    first = np.asarray(result["embeddings"][0])
    assert first.dtype == np.float32 and first.shape == (3, 4)
    np.testing.assert_array_equal(first[0], data["embeddings"][2])


def test_query_with_more_results_than_records_returns_fewer(collection, rng):
    collection.add(**_records(4, 3, rng))

    result = collection.query(query_embeddings=[[0.0, 0.0, 0.0]], n_results=50)

    assert sorted(result["ids"][0]) == ["id0", "id1", "id2", "id3"]
    assert len(result["distances"][0]) == 4


def test_query_on_an_empty_collection_returns_no_results(collection):
    collection.add(ids=["a"], embeddings=[[1.0, 2.0]])
    collection.delete(ids=["a"])

    result = collection.query(query_embeddings=[[1.0, 2.0]], n_results=3)

    assert result["ids"] == [[]]


def test_query_ties_are_broken_by_insertion_order(collection):
    # Integer vectors: squared l2 distances are exact in float32, so these are true ties.
    collection.add(ids=["z", "y", "x", "w"],
                   embeddings=[[1, 0], [0, 1], [-1, 0], [0, -1]])
    collection.add(ids=["v"], embeddings=[[1, 0]])

    result = collection.query(query_embeddings=[[0, 0]], n_results=5)

    assert result["ids"][0] == ["z", "y", "x", "w", "v"]
    assert result["distances"][0] == pytest.approx([1.0] * 5)


def test_query_restricted_to_ids_and_filters(collection, rng):
    data = _records(30, 4, rng)
    collection.add(**data)
    model = CollectionModel("l2")
    model.add(data["ids"], data["embeddings"], data["documents"], data["metadatas"])
    q = rng.standard_normal(4).astype(np.float32)
    subset = ["id1", "id5", "id7", "id20", "id21"]

    by_ids = collection.query(query_embeddings=[q], n_results=3, ids=subset)
    by_where = collection.query(query_embeddings=[q], n_results=4, where={"i": {"$lt": 10}},
                                where_document={"$contains": "number 1"})

    assert_query_matches(model, q, by_ids["ids"][0], by_ids["distances"][0], 3, ids=subset)
    assert_query_matches(model, q, by_where["ids"][0], by_where["distances"][0], 4,
                         where={"i": {"$lt": 10}}, where_document={"$contains": "number 1"})
    assert by_where["ids"][0] == ["id1"]  # "number 1" and i < 10


def test_update_merges_metadata_key_by_key_and_none_removes(collection):
    collection.add(ids=["a", "b"], embeddings=[[1, 1], [2, 2]], documents=["da", "db"],
                   metadatas=[{"k": 1, "keep": "yes"}, {"k": 2}])

    collection.update(ids=["a", "ghost"], metadatas=[{"k": 10, "keep": None, "new": True},
                                                     {"k": 99}])

    got = collection.get(ids=["a", "b", "ghost"], include=["metadatas", "documents",
                                                           "embeddings"])
    assert got["ids"] == ["a", "b"]
    assert typed(got["metadatas"]) == typed([{"k": 10, "new": True}, {"k": 2}])
    assert got["documents"] == ["da", "db"]
    np.testing.assert_array_equal(got["embeddings"], np.array([[1, 1], [2, 2]], np.float32))
    assert collection.count() == 2


def test_update_removing_every_key_leaves_no_metadata(collection):
    collection.add(ids=["a"], embeddings=[[1, 1]], metadatas=[{"k": 1}])

    collection.update(ids=["a"], metadatas=[{"k": None}])

    assert collection.get(ids=["a"])["metadatas"] == [None]


def test_update_embeddings_and_documents_changes_query_results(collection):
    collection.add(ids=["a", "b"], embeddings=[[0, 0], [10, 10]], documents=["old a", "old b"])

    collection.update(ids=["b"], embeddings=[[0.5, 0.5]], documents=["new b"])

    result = collection.query(query_embeddings=[[1, 1]], n_results=1)
    assert result["ids"] == [["b"]]
    assert result["documents"] == [["new b"]]
    assert result["distances"][0][0] == pytest.approx(0.5)


def test_upsert_inserts_new_and_updates_existing_in_place(collection):
    collection.add(ids=["a", "b", "c"], embeddings=[[1, 0], [2, 0], [3, 0]],
                   documents=["da", "db", "dc"], metadatas=[{"x": 1}, {"x": 2}, {"x": 3}])

    collection.upsert(ids=["b", "d"], embeddings=[[20, 0], [4, 0]],
                      documents=["db2", "dd"], metadatas=[{"y": "new"}, {"x": 4}])

    got = collection.get(include=["metadatas", "documents", "embeddings"])
    assert got["ids"] == ["a", "b", "c", "d"]  # the upserted "b" keeps its position
    assert got["documents"] == ["da", "db2", "dc", "dd"]
    assert typed(got["metadatas"]) == typed([{"x": 1}, {"x": 2, "y": "new"}, {"x": 3},
                                             {"x": 4}])
    np.testing.assert_array_equal(got["embeddings"][1], np.array([20, 0], np.float32))
    assert collection.count() == 4


def test_upsert_without_documents_keeps_documents(collection):
    collection.add(ids=["a"], embeddings=[[1, 0]], documents=["kept"], metadatas=[{"m": 1}])

    collection.upsert(ids=["a"], embeddings=[[2, 0]])

    got = collection.get(ids=["a"])
    assert got["documents"] == ["kept"]
    assert typed(got["metadatas"]) == typed([{"m": 1}])


def test_delete_returns_the_number_deleted(collection, rng):
    collection.add(**_records(10, 3, rng))

    assert collection.delete(ids=["id0", "id1", "missing"]) == {"deleted": 2}
    assert collection.delete(where={"i": {"$gte": 8}})["deleted"] == 2
    assert collection.delete(where_document={"$contains": "number 5"})["deleted"] == 1
    assert collection.delete(ids=["id2", "id3"], where={"i": 3})["deleted"] == 1  # ids AND where
    assert collection.get(include=[])["ids"] == ["id2", "id4", "id6", "id7"]
    assert collection.count() == 4


def test_deleted_ids_can_be_added_again_at_the_end(collection):
    collection.add(ids=["a", "b", "c"], embeddings=[[1, 0], [2, 0], [3, 0]])
    collection.delete(ids=["a"])

    collection.add(ids=["a"], embeddings=[[9, 9]])

    got = collection.get(include=["embeddings"])
    assert got["ids"] == ["b", "c", "a"]
    np.testing.assert_array_equal(got["embeddings"][2], np.array([9, 9], np.float32))
    result = collection.query(query_embeddings=[[9, 9]], n_results=1)
    assert result["ids"] == [["a"]]


def test_the_first_write_fixes_the_dimension(make_collection):
    from segmentdb.errors import InvalidDimensionException

    first = make_collection("-a")
    second = make_collection("-b")
    first.add(ids=["a"], embeddings=[[1.0, 2.0, 3.0]])
    second.add(ids=["a"], embeddings=[[1.0] * 7])  # each collection has its own dimension

    with pytest.raises(InvalidDimensionException):
        first.add(ids=["b"], embeddings=[[1.0] * 7])
    with pytest.raises(InvalidDimensionException):
        second.query(query_embeddings=[[1.0, 2.0, 3.0]], n_results=1)
    assert first.count() == 1 and second.count() == 1


def test_numpy_and_list_embeddings_are_the_same(make_collection):
    as_list = make_collection("-l")
    as_numpy = make_collection("-n")
    vectors = [[0.1, 0.2, 0.3], [1e-8, -3.5, 1e6]]

    as_list.add(ids=["a", "b"], embeddings=vectors)
    as_numpy.add(ids=["a", "b"], embeddings=np.array(vectors, dtype=np.float64))

    expected = np.array(vectors, dtype=np.float32)
    np.testing.assert_array_equal(as_list.get(include=["embeddings"])["embeddings"], expected)
    np.testing.assert_array_equal(as_numpy.get(include=["embeddings"])["embeddings"], expected)
