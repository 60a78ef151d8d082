"""segmentdb.wire: chromadb-style Python values <-> protos, both directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from segmentdb import wire
from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import common_pb2

# ---------------------------------------------------------------- strategies

keys = st.text(min_size=1, max_size=8)
ints = st.integers(min_value=wire.INT64_MIN, max_value=wire.INT64_MAX)
floats = st.floats(allow_nan=False)
scalars = st.one_of(st.text(max_size=10), ints, floats, st.booleans())
lists = st.one_of(*(st.lists(s, min_size=1, max_size=5) for s in (st.text(max_size=5), ints, floats, st.booleans())))
values = st.one_of(scalars, lists)
metadatas = st.dictionaries(keys, values, max_size=6)


def _same_typed(a, b) -> bool:
    """Equal *and* of the same type — True must not come back as 1."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same_typed(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


# ---------------------------------------------------------------- metadata

@given(metadatas)
def test_metadata_round_trip_keeps_values_and_types(metadata):
    back = wire.metadata_from_proto(wire.metadata_to_proto(metadata))
    if not metadata:
        assert back is None  # {} and no metadata are the same
    else:
        assert back.keys() == metadata.keys()
        for key in metadata:
            assert _same_typed(metadata[key], back[key]), key


def test_bool_is_not_sent_as_int():
    proto = wire.metadata_to_proto({"flag": True, "n": 1})
    assert proto.fields["flag"].WhichOneof("kind") == "bool_value"
    assert proto.fields["n"].WhichOneof("kind") == "int_value"
    assert wire.metadata_to_proto({"l": [True, False]}).fields["l"].WhichOneof("kind") == "bool_list"


@pytest.mark.parametrize("bad, message", [
    ({"a": [1, "x"]}, "one type"),
    ({"a": [True, 1]}, "one type"),
    ({"a": []}, "must not be empty"),
    ({"a": {"b": 1}}, "expected str, int, float, bool"),
    ({"a": None}, "None is only allowed"),
    ({"": 1}, "non-empty strings"),
    ({"a": 2**63}, "64 bits"),
    ({"a": [object()]}, "list elements must be"),
])
def test_bad_metadata_names_the_key(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        wire.metadata_to_proto(bad, "metadatas[0]")


def test_none_removes_a_key_only_where_allowed():
    proto = wire.metadata_to_proto({"gone": None}, allow_null=True)
    assert proto.fields["gone"].WhichOneof("kind") == "null_value"


# ---------------------------------------------------------------- where

operators = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
                             "$contains", "$not_contains"])


@st.composite
def conditions(draw):
    op = draw(operators)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        operand = draw(st.one_of(ints, floats))
    elif op in ("$in", "$nin"):
        operand = draw(st.one_of(st.just([]), lists))
    else:
        operand = draw(scalars)
    return {draw(keys.filter(lambda k: not k.startswith("$"))): {op: operand}}


wheres = st.recursive(
    conditions(),
    lambda inner: st.builds(lambda op, clauses: {op: clauses},
                            st.sampled_from(["$and", "$or"]), st.lists(inner, min_size=2, max_size=3)),
    max_leaves=6,
)


@given(wheres)
def test_where_round_trip(where):
    proto = wire.where_to_proto(where)
    back = wire.where_from_proto(proto)
    assert wire.where_to_proto(back) == proto
    assert _normalize(back) == _normalize(where)


def _normalize(where):
    """Compare trees with operand types preserved (True != 1)."""
    (key, value), = where.items()
    if key in ("$and", "$or"):
        return (key, tuple(_normalize(c) for c in value))
    (op, operand), = value.items()
    operand = list(operand) if isinstance(operand, list) else operand
    return (key, op, repr(operand), type(operand).__name__)


def test_shorthand_is_eq():
    assert wire.where_to_proto({"color": "red"}) == wire.where_to_proto({"color": {"$eq": "red"}})


@pytest.mark.parametrize("bad, message", [
    ({}, "exactly one key"),
    ({"a": 1, "b": 2}, r"exactly one key.*\$and"),
    ({"a": {"$foo": 1}}, r"unknown operator '\$foo'; expected one of \$eq, \$ne"),
    ({"a": {"$gt": 1, "$lt": 3}}, "exactly one operator"),
    ({"$and": [{"a": 1}]}, "at least two"),
    ({"$not": [{"a": 1}, {"b": 1}]}, "unknown logical operator"),
    ({"a": {"$gt": True}}, "int or float"),
    ({"a": {"$gt": "x"}}, "int or float"),
    ({"a": {"$in": 3}}, "needs a list"),
    ({"a": {"$in": [1, "x"]}}, "one type"),
    ({"a": {"$eq": [1, 2]}}, "needs a str, int, float or bool"),
    ({"$and": [{"a": 1}, {}]}, r"where.\$and\[1\]"),
])
def test_bad_where_is_rejected_with_its_path(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        wire.where_to_proto(bad)


def test_empty_in_list_is_still_a_list():
    proto = wire.where_to_proto({"a": {"$in": []}})
    assert proto.condition.value.WhichOneof("kind") is not None
    assert wire.where_from_proto(proto) == {"a": {"$in": []}}


# ---------------------------------------------------------------- where_document

document_conditions = st.builds(
    lambda op, text: {op: text},
    st.sampled_from(["$contains", "$not_contains", "$regex", "$not_regex"]), st.text(min_size=1, max_size=10))
where_documents = st.recursive(
    document_conditions,
    lambda inner: st.builds(lambda op, clauses: {op: clauses},
                            st.sampled_from(["$and", "$or"]), st.lists(inner, min_size=2, max_size=3)),
    max_leaves=5,
)


@given(where_documents)
def test_where_document_round_trip(where_document):
    proto = wire.where_document_to_proto(where_document)
    assert wire.where_document_from_proto(proto) == where_document


@pytest.mark.parametrize("bad, message", [
    ({}, "exactly one operator"),
    ({"$like": "x"}, r"unknown operator '\$like'"),
    ({"$contains": 3}, "expected a string"),
])
def test_bad_where_document(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        wire.where_document_to_proto(bad)


# ---------------------------------------------------------------- include

@given(st.lists(st.sampled_from(["documents", "metadatas", "embeddings", "distances"]), unique=True))
def test_include_round_trip(include):
    assert wire.include_from_proto(wire.include_to_proto(include, "query")) == include


@pytest.mark.parametrize("include, operation, message", [
    (["distances"], "get", "not valid in get"),
    (["document"], "query", "'document' is not valid"),
    (["data"], "get", "'data' needs a data loader"),
    ("documents", "get", "list of strings"),
])
def test_bad_include(include, operation, message):
    with pytest.raises(InvalidArgumentError, match=message):
        wire.include_to_proto(include, operation)


@pytest.mark.parametrize("include, operation", [
    (["uris"], "get"), (["uris", "documents"], "query"), (["data"], "query"),
])
def test_uris_and_data_are_accepted_but_never_sent(include, operation):
    # chromadb without a data loader: the SDK answers them itself (records have no URIs).
    proto = wire.include_to_proto(include, operation)
    assert wire.include_from_proto(proto) == [i for i in include if i not in ("uris", "data")]


@pytest.mark.parametrize("op", ["$contains", "$not_contains", "$regex", "$not_regex"])
def test_empty_where_document_pattern_is_rejected(op):
    with pytest.raises(InvalidArgumentError, match=rf"where_document\['\{op}'\]: the pattern is empty"):
        wire.where_document_to_proto({op: ""})
    with pytest.raises(InvalidArgumentError, match=r"where_document.\$and\[1\]"):
        wire.where_document_to_proto({"$and": [{"$contains": "a"}, {op: ""}]})


# ---------------------------------------------------------------- configuration

hnsw_configs = st.fixed_dictionaries({}, optional={
    "space": st.sampled_from(["l2", "ip", "cosine"]),
    "max_neighbors": st.integers(1, 2**32 - 1),
    "ef_construction": st.integers(1, 1000),
    "ef_search": st.integers(1, 1000),
    "num_threads": st.integers(1, 64),
    "resize_factor": st.floats(0.01, 10),
    "sync_threshold": st.integers(1, 10**6),
    "batch_size": st.integers(1, 10**6),
})


@given(hnsw_configs)
def test_configuration_round_trip(hnsw):
    back = wire.configuration_from_proto(wire.configuration_to_proto({"hnsw": hnsw}))
    assert back == {"hnsw": hnsw}


def test_M_is_an_alias_of_max_neighbors():
    proto = wire.configuration_to_proto({"hnsw": {"M": 32}})
    assert proto.hnsw.max_neighbors == 32


def test_chromadb_extra_top_level_keys_are_accepted_when_none():
    proto = wire.configuration_to_proto({"hnsw": {"space": "ip"}, "spann": None, "embedding_function": None})
    assert wire.configuration_from_proto(proto) == {"hnsw": {"space": "ip"}}


@pytest.mark.parametrize("bad, message", [
    ({"hnsw": {"space": "manhattan"}}, "unknown space 'manhattan'"),
    ({"hnsw": {"ef": 10}}, "unknown key 'ef'; expected one of space, max_neighbors"),
    ({"hnsw": {"ef_search": 0}}, "positive integer"),
    ({"hnsw": {"ef_search": True}}, "positive integer"),
    ({"hnsw": {"resize_factor": -1.0}}, "positive number"),
    ({"index": {}}, "unknown key 'index'"),
    ("cosine", "expected a dict"),
])
def test_bad_configuration(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        wire.configuration_to_proto(bad)


# ---------------------------------------------------------------- records

def test_record_batch_columns():
    from segmentdb import vectors

    batch = common_pb2.RecordBatch(
        ids=["a", "b"],
        documents=wire.documents_to_proto(["hello", None]),
        metadatas=[wire.metadata_to_proto({"x": 1}), wire.metadata_to_proto(None)],
        embeddings=vectors.encode([[1.0, 2.0], [3.0, 4.0]]),
        distances=[0.0, 8.0],
    )
    columns = wire.records_from_proto(batch, ["documents", "metadatas", "embeddings", "distances"])
    assert columns["ids"] == ["a", "b"]
    assert columns["documents"] == ["hello", None]
    assert columns["metadatas"] == [{"x": 1}, None]
    assert columns["embeddings"].shape == (2, 2) and columns["embeddings"].flags.writeable
    assert columns["distances"] == [0.0, 8.0]
    assert wire.records_from_proto(batch, [])["documents"] is None


def test_no_records_with_embeddings_is_an_empty_1d_array_like_chromadb():
    from segmentdb import vectors

    empty = common_pb2.RecordBatch(embeddings=vectors.encode(np.zeros((0, 3))))
    embeddings = wire.records_from_proto(empty, ["embeddings"])["embeddings"]
    assert isinstance(embeddings, np.ndarray) and embeddings.shape == (0,)
    assert embeddings.dtype == np.float32
