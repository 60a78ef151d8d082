"""where / where_document against the reference model, on one fixed seeded dataset that has
missing keys, int/float mixes, bools, lists, keys whose type differs between records, and
records without documents: one test per operator, then random filter trees (hypothesis)."""

from __future__ import annotations

import os
import random
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies
from model import CollectionModel, assert_query_matches

DIM = 4
WORDS = strategies.WORDS
STRINGS = ["apple", "banana", "cherry", "", "Apple"]


def _dataset(seed: int = 1234, n: int = 80) -> dict:
    r = random.Random(seed)
    ids, metadatas, documents = [], [], []
    for i in range(n):
        m: dict = {}
        if r.random() < 0.8:
            m["n"] = r.choice([r.randint(0, 9), r.randint(0, 9) + 0.5, float(r.randint(0, 9))])
        if r.random() < 0.7:
            m["s"] = r.choice(STRINGS)
        if r.random() < 0.6:
            m["b"] = r.random() < 0.5
        if r.random() < 0.8:  # one key, many types: type mismatches must not match
            m["mixed"] = r.choice([1, 0, 1.0, "1", True, False, [1, 2], ["1"], [True]])
        if r.random() < 0.6:
            m["tags"] = r.sample(STRINGS[:3], r.randint(1, 3))
        if r.random() < 0.6:
            m["nums"] = r.choice([[r.randint(0, 5) for _ in range(r.randint(1, 3))],
                                  [r.randint(0, 5) + 0.5, float(r.randint(0, 5))]])
        if r.random() < 0.4:
            m["flags"] = [r.random() < 0.5 for _ in range(r.randint(1, 2))]
        ids.append(f"r{i:03d}")
        metadatas.append(m or None)
        documents.append(" ".join(r.sample(WORDS, r.randint(1, 4))) if r.random() < 0.85
                         else None)
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return {"ids": ids, "embeddings": vectors, "metadatas": metadatas, "documents": documents}


@pytest.fixture(scope="module")
def filtered(module_client):
    """(live collection, model) holding the same dataset."""
    name = f"filters{os.getpid() % 1000}x{time.monotonic_ns() % 100000}"
    collection = module_client.create_collection(name)
    data = _dataset()
    collection.add(**data)
    model = CollectionModel("l2")
    model.add(data["ids"], data["embeddings"], data["documents"], data["metadatas"])
    yield collection, model
    module_client.delete_collection(name)


def _check_get(filtered, where=None, where_document=None) -> list[str]:
    collection, model = filtered
    expected = model.get(where=where, where_document=where_document)
    got = collection.get(where=where, where_document=where_document, include=[])["ids"]
    assert got == expected, f"where={where!r} where_document={where_document!r}"
    return got


def test_the_dataset_exercises_every_case(filtered):
    _, model = filtered
    values = [r.metadata for r in model.records.values()]
    assert any("n" not in m for m in values) and any(isinstance(m.get("n"), float)
                                                     for m in values)
    assert any(m.get("mixed") is True for m in values) and any(m.get("mixed") == 1 and
                                                               type(m["mixed"]) is int
                                                               for m in values)
    assert any(r.document is None for r in model.records.values())


@pytest.mark.parametrize("operand", [3, 3.0, 3.5, "apple", "", True, False, 1, "1"])
@pytest.mark.parametrize("key", ["n", "s", "b", "mixed", "tags", "absent"])
def test_eq(filtered, key, operand):
    _check_get(filtered, {key: {"$eq": operand}})
    _check_get(filtered, {key: operand})  # the shorthand


@pytest.mark.parametrize("operand", [3, 3.0, "apple", True, 1])
@pytest.mark.parametrize("key", ["n", "s", "b", "mixed", "tags", "absent"])
def test_ne(filtered, key, operand):
    _check_get(filtered, {key: {"$ne": operand}})


@pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
@pytest.mark.parametrize("operand", [0, 3, 3.0, 4.5, 9, -1])
@pytest.mark.parametrize("key", ["n", "mixed", "s", "nums"])
def test_ordering_operators(filtered, key, op, operand):
    _check_get(filtered, {key: {op: operand}})


@pytest.mark.parametrize("op", ["$in", "$nin"])
@pytest.mark.parametrize("operand", [[1, 3, 5], [3.0, 4.5], ["apple", ""], [True], [False],
                                     ["1"], []])
@pytest.mark.parametrize("key", ["n", "s", "b", "mixed", "tags", "absent"])
def test_in_and_nin(filtered, key, op, operand):
    _check_get(filtered, {key: {op: operand}})


@pytest.mark.parametrize("op", ["$contains", "$not_contains"])
@pytest.mark.parametrize("operand", ["apple", "", 2, 2.0, 2.5, True, 1])
@pytest.mark.parametrize("key", ["tags", "nums", "flags", "mixed", "s", "absent"])
def test_list_contains(filtered, key, op, operand):
    _check_get(filtered, {key: {op: operand}})


def test_and(filtered):
    _check_get(filtered, {"$and": [{"n": {"$gte": 2}}, {"n": {"$lt": 7}}]})
    _check_get(filtered, {"$and": [{"s": "apple"}, {"b": True}, {"tags": {"$contains": "cherry"}}]})


def test_or(filtered):
    _check_get(filtered, {"$or": [{"n": 3}, {"s": "banana"}]})
    _check_get(filtered, {"$or": [{"absent": 1}, {"b": {"$ne": True}}, {"mixed": "1"}]})


def test_nested_and_or(filtered):
    _check_get(filtered, {"$or": [{"$and": [{"n": {"$gt": 1}}, {"b": False}]},
                                  {"$and": [{"s": {"$in": ["apple", "cherry"]}},
                                            {"nums": {"$not_contains": 2}}]}]})


@pytest.mark.parametrize("op", ["$contains", "$not_contains"])
@pytest.mark.parametrize("pattern", ["alpha", "Alpha", "pha", "a b", "zeta", " ", "missing"])
def test_where_document_substring(filtered, op, pattern):
    _check_get(filtered, where_document={op: pattern})


@pytest.mark.parametrize("op", ["$regex", "$not_regex"])
@pytest.mark.parametrize("pattern", ["^alpha", "a$", "[AB]", r"\beps\b", "gam+a", "e.a", ".*",
                                     "(?i)ALPHA", "x|zeta"])
def test_where_document_regex(filtered, op, pattern):
    _check_get(filtered, where_document={op: pattern})


def test_where_document_and_or(filtered):
    _check_get(filtered, where_document={"$and": [{"$contains": "alpha"},
                                                  {"$not_contains": "beta"}]})
    _check_get(filtered, where_document={"$or": [{"$regex": "^zeta"},
                                                 {"$contains": "Alpha"}]})


def test_where_and_where_document_together(filtered):
    _check_get(filtered, where={"n": {"$lte": 5}}, where_document={"$contains": "a"})


# ---------------------------------------------------------------------------------------
# random filter trees

KEYS = ["n", "s", "b", "mixed", "tags", "nums", "flags", "absent"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(where=st.one_of(st.none(), strategies.wheres(KEYS)),
       where_document=st.one_of(st.none(), strategies.where_documents()),
       n_results=st.integers(1, 12),
       query=st.lists(st.floats(-2, 2, width=32), min_size=DIM, max_size=DIM))
def test_random_filters_in_get_and_query(filtered, where, where_document, n_results, query):
    if where is None and where_document is None:
        where = {"n": {"$gte": 0}}
    collection, model = filtered

    _check_get(filtered, where, where_document)
    result = collection.query(query_embeddings=[query], n_results=n_results, where=where,
                              where_document=where_document, include=["distances"])
    assert_query_matches(model, query, result["ids"][0], result["distances"][0], n_results,
                         where=where, where_document=where_document)
