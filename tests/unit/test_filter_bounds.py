"""Bounds on filter trees (metadata_worker.filters.check_shape) and the cost of compiling a
nested $and: linear in its size (it was 2^depth: every $and level compiled its clauses twice)."""

from __future__ import annotations

import time

import pytest

from metadata_worker import filters
from segmentdb import wire
from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import common_pb2


def _leaf(key: str = "n", value: int = 1) -> common_pb2.Where:
    return common_pb2.Where(condition=common_pb2.FieldCondition(
        key=key, operator=common_pb2.COMPARISON_OPERATOR_EQ,
        value=common_pb2.MetadataValue(int_value=value)))


def _nested(levels: int, kind: str = "all_of") -> common_pb2.Where:
    where = _leaf()
    for _ in range(levels):
        outer = common_pb2.Where()
        getattr(outer, kind).clauses.extend([_leaf("m"), where])
        where = outer
    return where


def test_a_nested_and_compiles_in_linear_time():
    # Past the bound on purpose (the compiler itself, without check_shape): at 2^depth this
    # took minutes.
    started = time.perf_counter()
    condition = filters._compile_where(_nested(25), "where")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"compiling 25 nested $and took {elapsed:.1f}s"
    assert condition.sql.count("INTERSECT") == 25


@pytest.mark.parametrize("kind", ["all_of", "any_of"])
def test_deeper_than_the_bound_is_refused_naming_it(kind):
    filters.compile_where(_nested(filters.MAX_FILTER_DEPTH, kind))
    with pytest.raises(InvalidArgumentError,
                       match=f"nested more than {filters.MAX_FILTER_DEPTH} levels"):
        filters.compile_where(_nested(filters.MAX_FILTER_DEPTH + 1, kind))


def test_where_document_depth_is_bounded_too():
    leaf = common_pb2.WhereDocument(condition=common_pb2.DocumentCondition(
        operator=common_pb2.DOCUMENT_OPERATOR_CONTAINS, pattern="abc"))
    doc = leaf
    for _ in range(filters.MAX_FILTER_DEPTH + 1):
        outer = common_pb2.WhereDocument()
        outer.any_of.clauses.extend([leaf, doc])
        doc = outer
    with pytest.raises(InvalidArgumentError, match="where_document: nested more than 8"):
        filters.compile_where_document(doc)


def test_wide_and_large_filters_are_refused():
    wide = common_pb2.Where()
    wide.all_of.clauses.extend(_leaf(f"k{i}") for i in range(filters.MAX_FILTER_CLAUSES + 1))
    with pytest.raises(InvalidArgumentError, match="257 clauses; at most 256"):
        filters.compile_where(wide)
    # 8 x 200 leaves: each list is within bounds, the whole is not.
    large = common_pb2.Where()
    for group in range(8):
        part = large.any_of.clauses.add()
        part.all_of.clauses.extend(_leaf(f"g{group}k{i}") for i in range(200))
    with pytest.raises(InvalidArgumentError, match="more than 1024 conditions"):
        filters.compile_where(large)


def test_the_sdk_applies_the_same_depth_bound():
    assert wire.MAX_FILTER_DEPTH == filters.MAX_FILTER_DEPTH
    deep: dict = {"n": 1}
    for _ in range(wire.MAX_FILTER_DEPTH):
        deep = {"$or": [{"m": 1}, deep]}
    assert filters.compile_where(wire.where_to_proto(deep))  # exactly the bound: fine
    with pytest.raises(InvalidArgumentError, match="8 levels"):
        wire.where_to_proto({"$and": [{"m": 1}, deep]})
