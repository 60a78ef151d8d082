"""metadata_worker.filters against hand-computed expectations, on a real SQLite file.

Each case is a chromadb-style filter dict, turned into the segmentdb.v1 proto, compiled
to SQL and run by the store; the expected ids were worked out by hand from RECORDS.
"""

from __future__ import annotations

import numpy as np
import pytest

from segmentdb import errors
from segmentdb.v1 import common_pb2 as pb

from metadata_worker import collection_config, filters
from metadata_worker import store_collections, store_records
from metadata_worker.domain import Include, RecordSelection, RecordWrite
from metadata_worker.store import Store

OPS = {
    "$eq": pb.COMPARISON_OPERATOR_EQ, "$ne": pb.COMPARISON_OPERATOR_NE,
    "$gt": pb.COMPARISON_OPERATOR_GT, "$gte": pb.COMPARISON_OPERATOR_GTE,
    "$lt": pb.COMPARISON_OPERATOR_LT, "$lte": pb.COMPARISON_OPERATOR_LTE,
    "$in": pb.COMPARISON_OPERATOR_IN, "$nin": pb.COMPARISON_OPERATOR_NIN,
    "$contains": pb.COMPARISON_OPERATOR_CONTAINS,
    "$not_contains": pb.COMPARISON_OPERATOR_NOT_CONTAINS,
}
DOC_OPS = {
    "$contains": pb.DOCUMENT_OPERATOR_CONTAINS, "$not_contains": pb.DOCUMENT_OPERATOR_NOT_CONTAINS,
    "$regex": pb.DOCUMENT_OPERATOR_REGEX, "$not_regex": pb.DOCUMENT_OPERATOR_NOT_REGEX,
}


def value(v) -> pb.MetadataValue:
    if v is None:
        return pb.MetadataValue(null_value=0)
    if isinstance(v, bool):
        return pb.MetadataValue(bool_value=v)
    if isinstance(v, int):
        return pb.MetadataValue(int_value=v)
    if isinstance(v, float):
        return pb.MetadataValue(float_value=v)
    if isinstance(v, str):
        return pb.MetadataValue(string_value=v)
    first = v[0] if v else ""
    if isinstance(first, bool):
        return pb.MetadataValue(bool_list=pb.BoolList(values=v))
    if isinstance(first, int):
        return pb.MetadataValue(int_list=pb.IntList(values=v))
    if isinstance(first, float):
        return pb.MetadataValue(float_list=pb.FloatList(values=v))
    return pb.MetadataValue(string_list=pb.StringList(values=v))


def where(d: dict) -> pb.Where:
    (key, v), = d.items()
    if key in ("$and", "$or"):
        clauses = pb.WhereList(clauses=[where(c) for c in v])
        return pb.Where(all_of=clauses) if key == "$and" else pb.Where(any_of=clauses)
    op, operand = next(iter(v.items())) if isinstance(v, dict) else ("$eq", v)
    return pb.Where(condition=pb.FieldCondition(key=key, operator=OPS[op], value=value(operand)))


def where_document(d: dict) -> pb.WhereDocument:
    (key, v), = d.items()
    if key in ("$and", "$or"):
        clauses = pb.WhereDocumentList(clauses=[where_document(c) for c in v])
        return (pb.WhereDocument(all_of=clauses) if key == "$and"
                else pb.WhereDocument(any_of=clauses))
    return pb.WhereDocument(condition=pb.DocumentCondition(operator=DOC_OPS[key], pattern=v))


# (id, document, metadata)
RECORDS = [
    ("r1", "Hello World", {"age": 30, "name": "ann", "score": 1.5, "ok": True, "tags": ["a", "b"]}),
    ("r2", "hello there", {"age": 5.0, "name": "bob", "ok": False, "tags": [1, 2]}),
    ("r3", None, {"age": True, "name": "cat"}),
    ("r4", "abc 123", None),
    ("r5", "xyz", {"age": "30", "nums": [1.5, 2.0], "flags": [True]}),
    ("r6", "World peace", {"age": 5, "tags": ["b"]}),
    ("r7", None, {"age": 1}),
]
ALL = [r[0] for r in RECORDS]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("filters"))
    collection, _ = store.write(store_collections.create_collection, "", "", "filters", None,
                                collection_config.resolve_create({}, None), False)
    batch = RecordWrite(
        ids=ALL,
        vectors=np.arange(len(RECORDS) * 2, dtype=np.float32).reshape(-1, 2),
        documents=[r[1] for r in RECORDS],
        metadatas=[r[2] for r in RECORDS],
    )
    store.write(store_records.add, collection.id, batch)
    yield store, collection.id
    store.close()


def run(db, w: dict | None = None, wd: dict | None = None) -> list[str]:
    store, collection_id = db
    selection = RecordSelection()
    if w is not None:
        selection.conditions.append(filters.compile_where(where(w)))
    if wd is not None:
        selection.conditions.append(filters.compile_where_document(where_document(wd)))
    found = store.read(store_records.get, collection_id, selection, None, 0,
                       Include(documents=False, metadatas=False))
    return found.ids


def without(*ids: str) -> list[str]:
    return [i for i in ALL if i not in ids]


@pytest.mark.parametrize("w, expected", [
    # $eq: ints and floats cross-compare; a bool is not an int; strings are not numbers.
    ({"age": 5}, ["r2", "r6"]),
    ({"age": 5.0}, ["r2", "r6"]),
    ({"age": {"$eq": 30}}, ["r1"]),
    ({"age": "30"}, ["r5"]),
    ({"age": True}, ["r3"]),
    ({"age": 1}, ["r7"]),
    ({"ok": False}, ["r2"]),
    ({"name": "ann"}, ["r1"]),
    ({"missing": "x"}, []),
    # a list value is never equal to a scalar
    ({"tags": "b"}, []),
    # $ne matches records lacking the key, other types and list values
    ({"age": {"$ne": 5}}, without("r2", "r6")),
    ({"age": {"$ne": True}}, without("r3")),
    ({"tags": {"$ne": "b"}}, ALL),
    # ranges: numbers only (int/float mixed); bools and strings never match
    ({"age": {"$gt": 4}}, ["r1", "r2", "r6"]),
    ({"age": {"$gte": 5.0}}, ["r1", "r2", "r6"]),
    ({"age": {"$lt": 5}}, ["r7"]),
    ({"age": {"$lte": 5}}, ["r2", "r6", "r7"]),
    ({"score": {"$gt": 1.4}}, ["r1"]),
    ({"score": {"$lt": 2}}, ["r1"]),
    # $in / $nin
    ({"age": {"$in": [5, 30]}}, ["r1", "r2", "r6"]),
    ({"age": {"$in": [30.0]}}, ["r1"]),
    ({"age": {"$in": ["30"]}}, ["r5"]),
    ({"age": {"$in": [True]}}, ["r3"]),
    ({"age": {"$in": []}}, []),
    ({"age": {"$nin": [5, 30]}}, ["r3", "r4", "r5", "r7"]),
    ({"age": {"$nin": []}}, ALL),
    ({"tags": {"$nin": ["b"]}}, ALL),
    # $contains / $not_contains look inside lists only
    ({"tags": {"$contains": "b"}}, ["r1", "r6"]),
    ({"tags": {"$contains": 1}}, ["r2"]),
    ({"tags": {"$contains": 1.0}}, ["r2"]),
    ({"nums": {"$contains": 2}}, ["r5"]),
    ({"flags": {"$contains": True}}, ["r5"]),
    ({"flags": {"$contains": 1}}, []),
    ({"name": {"$contains": "ann"}}, []),
    ({"tags": {"$not_contains": "b"}}, without("r1", "r6")),
    # $and / $or, nested
    ({"$and": [{"name": "ann"}, {"age": {"$gt": 1}}]}, ["r1"]),
    ({"$or": [{"name": "bob"}, {"ok": True}]}, ["r1", "r2"]),
    ({"$and": [{"$or": [{"age": 5}, {"age": 30}]}, {"tags": {"$contains": "b"}}]}, ["r1", "r6"]),
    ({"$or": [{"age": {"$lt": 2}}, {"$and": [{"ok": False}, {"name": "bob"}]}]}, ["r2", "r7"]),
    # two or more bounds on one key in an $and are one range (same answers as intersecting)
    ({"$and": [{"age": {"$gte": 5}}, {"age": {"$lt": 30}}]}, ["r2", "r6"]),
    ({"$and": [{"age": {"$gt": 1}}, {"age": {"$lte": 30.0}}, {"name": "ann"}]}, ["r1"]),
    ({"$and": [{"age": {"$gt": 1}}, {"age": {"$lt": 1}}]}, []),
    ({"$and": [{"age": {"$gte": 1}}, {"score": {"$lt": 2}}, {"age": {"$lt": 6}}]}, []),
    ({"$and": [{"age": {"$gte": 1}}, {"age": {"$lt": 6}}, {"age": {"$ne": 5}}]}, ["r7"]),
])
def test_where(db, w, expected):
    assert run(db, w=w) == expected


@pytest.mark.parametrize("wd, expected", [
    ({"$contains": "World"}, ["r1", "r6"]),          # case-sensitive, uses the trigram index
    ({"$contains": "hello"}, ["r2"]),
    ({"$contains": "ab"}, ["r4"]),                   # shorter than a trigram: instr only
    ({"$contains": "o"}, ["r1", "r2", "r6"]),
    ({"$contains": "nowhere"}, []),
    ({"$not_contains": "World"}, without("r1", "r6")),  # records without a document match
    ({"$regex": "^[Hh]ello"}, ["r1", "r2"]),
    ({"$regex": r"\d+"}, ["r4"]),
    ({"$regex": "world"}, []),                       # case-sensitive
    ({"$not_regex": "^[Hh]ello"}, without("r1", "r2")),
    ({"$and": [{"$contains": "o"}, {"$not_contains": "peace"}]}, ["r1", "r2"]),
    ({"$or": [{"$contains": "xyz"}, {"$regex": "^abc"}]}, ["r4", "r5"]),
])
def test_where_document(db, wd, expected):
    assert run(db, wd=wd) == expected


def test_where_and_where_document_combine(db):
    assert run(db, w={"age": {"$gte": 5}}, wd={"$contains": "World"}) == ["r1", "r6"]


def test_contains_with_quotes_in_pattern_is_literal(db):
    assert run(db, wd={"$contains": 'o"r'}) == []


@pytest.mark.parametrize("w, message", [
    ({"$and": [{"a": 1}, {"age": {"$gt": "x"}}]}, "where.$and[1].age: $gt needs an int or float"),
    ({"age": {"$lt": True}}, "where.age: $lt needs an int or float"),
    ({"$and": [{"a": 1}]}, "where.$and: needs at least 2 clauses, got 1"),
    ({"$or": []}, "where.$or: needs at least 2 clauses, got 0"),
    ({"age": {"$in": 5}}, "where.age: $in needs a list"),
    ({"age": {"$nin": "x"}}, "where.age: $nin needs a list"),
    ({"tags": {"$contains": ["a"]}}, "where.tags: $contains needs a single"),
    ({"age": {"$eq": [1, 2]}}, "where.age: $eq needs a single"),
    ({"age": None}, "where.age: $eq with null is not allowed"),
    ({"": 1}, "where: the metadata key is empty"),
    ({"$or": [{"a": 1}, {"b": {"$gt": float("nan")}}]}, "where.$or[1].b: NaN"),
])
def test_invalid_where(w, message):
    with pytest.raises(errors.InvalidArgumentError) as info:
        filters.compile_where(where(w))
    assert message in str(info.value)


def test_empty_where_is_invalid():
    with pytest.raises(errors.InvalidArgumentError, match="where: empty filter"):
        filters.compile_where(pb.Where())
    nested = pb.Where(all_of=pb.WhereList(clauses=[where({"a": 1}), pb.Where()]))
    with pytest.raises(errors.InvalidArgumentError, match=r"where\.\$and\[1\]: empty filter"):
        filters.compile_where(nested)


@pytest.mark.parametrize("operator", [pb.COMPARISON_OPERATOR_UNSPECIFIED, 99])
def test_unspecified_or_unknown_operator_is_invalid(operator):
    w = pb.Where(condition=pb.FieldCondition(key="a", operator=operator, value=value(1)))
    with pytest.raises(errors.InvalidArgumentError, match="where.a: operator .* is not supported"):
        filters.compile_where(w)


def test_condition_without_value_is_invalid():
    w = pb.Where(condition=pb.FieldCondition(key="a", operator=pb.COMPARISON_OPERATOR_EQ))
    with pytest.raises(errors.InvalidArgumentError, match="where.a: \\$eq has no value"):
        filters.compile_where(w)


@pytest.mark.parametrize("wd, message", [
    ({"$regex": "("}, "where_document.$regex: invalid regular expression"),
    ({"$and": [{"$contains": "a"}]}, "where_document.$and: needs at least 2 clauses"),
    ({"$or": [{"$contains": "a"}, {"$not_regex": "[z"}]}, "where_document.$or[1].$not_regex"),
])
def test_invalid_where_document(wd, message):
    with pytest.raises(errors.InvalidArgumentError) as info:
        filters.compile_where_document(where_document(wd))
    assert message in str(info.value)


@pytest.mark.parametrize("op", ["$contains", "$not_contains", "$regex", "$not_regex"])
def test_empty_where_document_pattern_is_invalid(op):
    # chromadb rejects it; here the one validator rejects it for every client.
    with pytest.raises(errors.InvalidArgumentError) as info:
        filters.compile_where_document(where_document({op: ""}))
    assert f"where_document.{op}: the pattern is empty" in str(info.value)
    nested = where_document({"$or": [{"$contains": "a"}, {op: ""}]})
    with pytest.raises(errors.InvalidArgumentError, match=r"where_document\.\$or\[1\]"):
        filters.compile_where_document(nested)


def test_empty_or_unspecified_where_document_is_invalid():
    with pytest.raises(errors.InvalidArgumentError, match="where_document: empty"):
        filters.compile_where_document(pb.WhereDocument())
    unspecified = pb.WhereDocument(condition=pb.DocumentCondition(pattern="x"))
    with pytest.raises(errors.InvalidArgumentError, match="not supported"):
        filters.compile_where_document(unspecified)


def test_values_never_enter_the_sql_text():
    condition = filters.compile_where(where({"$and": [{"k'; DROP": "x'--"}, {"n": {"$in": [1]}}]}))
    assert "DROP" not in condition.sql and "x'--" not in condition.sql
    assert "k'; DROP" in condition.params


def test_bounds_on_one_key_compile_to_one_range_scan():
    """{"$and": [{n >= 100}, {n < 200}]} reads one index range per value column instead of
    intersecting two large label sets."""
    merged = filters.compile_where(where({"$and": [{"n": {"$gte": 100}}, {"n": {"$lt": 200}}]}))
    assert "INTERSECT" not in merged.sql
    assert merged.sql.count("int_value >= ? AND int_value < ?") == 1
    assert merged.sql.count("float_value >= ? AND float_value < ?") == 1
    other_keys = filters.compile_where(where({"$and": [{"n": {"$gte": 100}}, {"m": {"$lt": 2}}]}))
    assert "INTERSECT" in other_keys.sql  # nothing to merge across keys
