"""Hypothesis strategies shared by the property tests: metadata, where and where_document
trees (depth <= 3), vectors. Small value pools on purpose, so filters actually match and
int/float/bool/list collisions (5 vs 5.0, True vs 1) happen often."""

from __future__ import annotations

from typing import Sequence

from hypothesis import strategies as st

STRINGS = ["apple", "banana", "cherry", "", "Apple", "1"]
FLOATS = [0.5, 2.0, 3.0, -1.25, 4.5]
WORDS = ["alpha", "beta", "gamma", "delta", "Alpha", "eps", "zeta"]

scalars = st.one_of(st.integers(-2, 9), st.sampled_from(FLOATS), st.sampled_from(STRINGS),
                    st.booleans())
numbers = st.one_of(st.integers(-2, 10), st.sampled_from(FLOATS + [9.5]))
scalar_lists = st.one_of(
    st.lists(st.integers(-2, 9), min_size=1, max_size=3),
    st.lists(st.sampled_from(FLOATS), min_size=1, max_size=3),
    st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=2),
)
# $in / $nin operands: one scalar type, possibly empty.
operand_lists = st.one_of(
    st.lists(st.integers(-2, 9), max_size=3),
    st.lists(st.sampled_from(FLOATS), max_size=3),
    st.lists(st.sampled_from(STRINGS), max_size=3),
    st.lists(st.booleans(), max_size=2),
)
metadata_values = st.one_of(scalars, scalar_lists)
documents = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)


def metadatas(keys: Sequence[str], removable: bool = False):
    """A metadata dict (maybe empty); with `removable`, values may be None (delete key)."""
    values = st.one_of(metadata_values, st.none()) if removable else metadata_values
    return st.dictionaries(st.sampled_from(list(keys)), values, max_size=len(keys))


def _depth(tree) -> int:
    (key, value), = tree.items()
    if key in ("$and", "$or"):
        return 1 + max(_depth(c) for c in value)
    return 1


def _trees(leaves, max_leaves: int):
    return st.recursive(
        leaves,
        lambda children: st.builds(lambda op, clauses: {op: clauses},
                                   st.sampled_from(["$and", "$or"]),
                                   st.lists(children, min_size=2, max_size=3)),
        max_leaves=max_leaves,
    ).filter(lambda tree: _depth(tree) <= 3)


def where_conditions(keys: Sequence[str]):
    @st.composite
    def condition(draw):
        key = draw(st.sampled_from(list(keys)))
        op = draw(st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin",
                                   "$contains", "$not_contains", "shorthand"]))
        if op == "shorthand":
            return {key: draw(scalars)}
        if op in ("$gt", "$gte", "$lt", "$lte"):
            return {key: {op: draw(numbers)}}
        if op in ("$in", "$nin"):
            return {key: {op: draw(operand_lists)}}
        return {key: {op: draw(scalars)}}

    return condition()


def wheres(keys: Sequence[str], max_leaves: int = 6):
    """Valid where trees of depth <= 3 over `keys`."""
    return _trees(where_conditions(keys), max_leaves)


def where_documents(patterns: Sequence[str] = tuple(WORDS) + ("a", "ta", " ", "^b", "a$",
                                                              "[ez]e", "l+p")):
    leaf = st.builds(lambda op, pattern: {op: pattern},
                     st.sampled_from(["$contains", "$not_contains", "$regex", "$not_regex"]),
                     st.sampled_from(list(patterns)))
    return _trees(leaf, 4)


def vectors(dim: int, nonzero: bool = True):
    """One float32-representable vector; nonzero so cosine distances are defined.

    Half-integers make exact distance ties (and so the tie-break by label) common.
    """
    element = st.one_of(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),
                        st.floats(-10, 10, width=32))
    vector = st.lists(element, min_size=dim, max_size=dim)
    return vector.filter(lambda v: any(x != 0 for x in v)) if nonzero else vector
