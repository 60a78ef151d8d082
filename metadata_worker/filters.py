"""`where` / `where_document` protos -> a parameterized SELECT of the matching labels.

Each condition is a set of labels (domain.Condition): a leaf scans one covering index of
the collection's metadata rows (led by segment_id, ending with the label, migration 0003)
or its records; $and / $or are INTERSECT / UNION; a negation ($ne, $nin, $not_contains) is
the collection's labels EXCEPT the positive set. So a filter never visits a row of
another collection nor looks a label up row by row.

This module is THE validator of filters: the gateway passes them through unchanged, and
every malformed filter raises InvalidArgumentError with a path to the offending part,
e.g. `where.$and[1].age: $gt needs an int or float`.

Semantics (docs/internals.md "Semantics decided"):
- scalar metadata lives in embedding_metadata, list metadata in embedding_metadata_array;
- $eq/$ne/$in/$nin compare scalars only, so a list value is never "equal" (and therefore
  always "not equal"); $ne/$nin/$not_contains also match records lacking the key;
- ints and floats compare with each other (5 == 5.0); bools are stored only in
  bool_value, so a bool never equals an int;
- $contains/$not_contains look inside list values;
- documents: a non-empty pattern; substring (case-sensitive; the FTS5 trigram index pre-filters patterns of
  3+ characters, instr decides) and Python `re.search`; a record without a document
  matches only $not_contains / $not_regex.
Values never enter the SQL text; lists travel as one JSON parameter read by json_each.
"""

from __future__ import annotations

import json
import math
import re

from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import common_pb2

from metadata_worker import regex_dialect
from metadata_worker.domain import SEGMENT, Condition

Op = common_pb2.ComparisonOperator
DocOp = common_pb2.DocumentOperator

_OP_NAMES = {
    Op.COMPARISON_OPERATOR_EQ: "$eq", Op.COMPARISON_OPERATOR_NE: "$ne",
    Op.COMPARISON_OPERATOR_GT: "$gt", Op.COMPARISON_OPERATOR_GTE: "$gte",
    Op.COMPARISON_OPERATOR_LT: "$lt", Op.COMPARISON_OPERATOR_LTE: "$lte",
    Op.COMPARISON_OPERATOR_IN: "$in", Op.COMPARISON_OPERATOR_NIN: "$nin",
    Op.COMPARISON_OPERATOR_CONTAINS: "$contains",
    Op.COMPARISON_OPERATOR_NOT_CONTAINS: "$not_contains",
}
_RANGE_SQL = {
    Op.COMPARISON_OPERATOR_GT: ">", Op.COMPARISON_OPERATOR_GTE: ">=",
    Op.COMPARISON_OPERATOR_LT: "<", Op.COMPARISON_OPERATOR_LTE: "<=",
}
_DOC_OP_NAMES = {
    DocOp.DOCUMENT_OPERATOR_CONTAINS: "$contains",
    DocOp.DOCUMENT_OPERATOR_NOT_CONTAINS: "$not_contains",
    DocOp.DOCUMENT_OPERATOR_REGEX: "$regex",
    DocOp.DOCUMENT_OPERATOR_NOT_REGEX: "$not_regex",
}
# The trigram tokenizer indexes 3-character windows: shorter patterns cannot use it.
FULLTEXT_MIN_PATTERN = 3
_LIST_KINDS = ("string_list", "int_list", "float_list", "bool_list")

# The collection's labels whose scalar (or list element) at `key` passes a test on one column.
_SCALAR_IDS = "SELECT id FROM embedding_metadata WHERE segment_id = ? AND key = ? AND "
# A list may hold a matching value several times; DISTINCT keeps each label once.
_ARRAY_IDS = "SELECT DISTINCT id FROM embedding_metadata_array WHERE segment_id = ? AND key = ? AND "
# Every label of the collection (the covering (segment_id, rowid) index).
ALL_LABELS = Condition("SELECT id FROM embeddings WHERE segment_id = ?", (SEGMENT,))
_RECORDS = "SELECT e.id FROM embeddings e WHERE e.segment_id = ? AND "


def ids_condition(ids: list[str]) -> Condition:
    """The labels of the collection's records with these ids (one probe of the
    UNIQUE (segment_id, embedding_id) index per id)."""
    return Condition("SELECT id FROM embeddings WHERE segment_id = ? "
                     "AND embedding_id IN (SELECT value FROM json_each(?))",
                     (SEGMENT, json.dumps(ids)))


def intersect(parts: list[Condition]) -> Condition:
    """Labels in every part (ALL_LABELS when there are none)."""
    return _join(parts, "INTERSECT") if parts else ALL_LABELS


# -- bounds --------------------------------------------------------------------------------
# A filter is compiled by recursion into nested subqueries: bounded so that no client can
# exhaust the worker's stack or CPU, and within what SQLite parses. Measured with SQLite
# 3.40 (its parser stack is fixed; newer releases grow it): 8 levels of $and/$or over $eq or
# range conditions parse, together with ids; $ne/$not_contains nest one subquery more per
# level, $nin two (5-7 levels parse). What still passes the bound but not SQLite's parser is
# refused as INVALID_ARGUMENT too (store_records._run_selection).
MAX_FILTER_DEPTH = 8        # nested $and/$or levels
MAX_FILTER_CLAUSES = 256    # clauses of one $and/$or
MAX_FILTER_CONDITIONS = 1024  # conditions (leaves) in the whole filter


def check_shape(node, path: str) -> None:
    """InvalidArgumentError when a where / where_document tree passes the bounds above.

    Walks the tree without recursion, so an absurdly deep tree is refused, not followed.
    """
    stack = [(node, path, 0)]
    leaves = 0
    while stack:
        current, where, depth = stack.pop()
        kind = current.WhichOneof("expr")
        if kind not in ("all_of", "any_of"):
            leaves += 1
            if leaves > MAX_FILTER_CONDITIONS:
                raise InvalidArgumentError(
                    f"{path}: more than {MAX_FILTER_CONDITIONS} conditions; simplify the filter "
                    "(e.g. one $in instead of many $eq)")
            continue
        name = "$and" if kind == "all_of" else "$or"
        if depth >= MAX_FILTER_DEPTH:
            raise InvalidArgumentError(
                f"{path}: nested more than {MAX_FILTER_DEPTH} levels of $and/$or (at "
                f"{_short(where)}); flatten the filter")
        clauses = getattr(current, kind).clauses
        if len(clauses) > MAX_FILTER_CLAUSES:
            raise InvalidArgumentError(
                f"{_short(where)}.{name}: {len(clauses)} clauses; at most "
                f"{MAX_FILTER_CLAUSES} per {name} (use $in for many values of one key)")
        for i, clause in enumerate(clauses):
            stack.append((clause, f"{where}.{name}[{i}]", depth + 1))


def _short(path: str, keep: int = 120) -> str:
    return path if len(path) <= keep else f"{path[:keep]}..."


# -- where ---------------------------------------------------------------------------------

def compile_where(where: common_pb2.Where, path: str = "where") -> Condition:
    """The SQL condition a metadata filter stands for; raises InvalidArgumentError."""
    check_shape(where, path)
    return _compile_where(where, path)


def _compile_where(where: common_pb2.Where, path: str) -> Condition:
    if where.WhichOneof("expr") == "all_of" and len(where.all_of.clauses) >= 2:
        return _and_with_merged_ranges(where.all_of.clauses, f"{path}.$and")
    return _compile_tree(
        where, path, _compile_where, _compile_condition,
        "empty filter; give a condition such as {\"key\": value} or combine conditions "
        "with $and / $or (or omit the filter)",
    )


def _compile_tree(node, path: str, compile_node, compile_leaf, empty_hint: str) -> Condition:
    """$and / $or over clauses (at least two, chromadb's rule) or one leaf condition; the
    same shape for where and where_document."""
    kind = node.WhichOneof("expr")
    if kind is None:
        raise InvalidArgumentError(f"{path}: {empty_hint}")
    if kind in ("all_of", "any_of"):
        name = "$and" if kind == "all_of" else "$or"
        clauses = getattr(node, kind).clauses
        if len(clauses) < 2:
            raise InvalidArgumentError(
                f"{path}.{name}: needs at least 2 clauses, got {len(clauses)}; "
                f"use the clause directly instead of a one-element {name}"
            )
        parts = [compile_node(c, f"{path}.{name}[{i}]") for i, c in enumerate(clauses)]
        return _join(parts, "INTERSECT" if kind == "all_of" else "UNION")
    return compile_leaf(node.condition, path)


def _and_with_merged_ranges(clauses, path: str) -> Condition:
    """$and (of 2+ clauses) with two or more range bounds on one key ({"n": {"$gte": 100}},
    {"n": {"$lt": 200}}) as ONE index range per key, instead of intersecting two large label
    sets (64 ms at 100k records before). A record holds at most one scalar per key, so "its
    value passes every bound" is the intersection. Without such bounds: the plain
    INTERSECT of the clauses, compiled once (compiling them again on a plain path made a
    nested $and cost 2^depth compilations)."""
    parts = [_compile_where(clause, f"{path}[{i}]") for i, clause in enumerate(clauses)]
    bounds: dict[str, list[tuple[int, str, float | int]]] = {}
    for i, clause in enumerate(clauses):
        if clause.WhichOneof("expr") != "condition":
            continue
        cond = clause.condition  # validated by _compile_where above
        if cond.operator in _RANGE_SQL:
            value = getattr(cond.value, cond.value.WhichOneof("kind"))
            bounds.setdefault(cond.key, []).append((i, _RANGE_SQL[cond.operator], value))
    merged = {key: found for key, found in bounds.items() if len(found) >= 2}
    if not merged:
        return _join(parts, "INTERSECT")
    replaced = {i for found in merged.values() for i, _, _ in found}
    combined = [part for i, part in enumerate(parts) if i not in replaced]
    for key, found in merged.items():
        test = " AND ".join(f"{{column}} {sym} ?" for _, sym, _ in found)
        values = tuple(value for _, _, value in found)
        combined.append(_matching(_SCALAR_IDS, key, [
            Condition(f"{column} IS NOT NULL AND " + test.format(column=column), values)
            for column in ("int_value", "float_value")]))
    return combined[0] if len(combined) == 1 else _join(combined, "INTERSECT")


def _compile_condition(cond: common_pb2.FieldCondition, path: str) -> Condition:
    if not cond.key:
        raise InvalidArgumentError(f"{path}: the metadata key is empty; name a key")
    where = f"{path}.{cond.key}"
    op = cond.operator
    if op not in _OP_NAMES:
        raise InvalidArgumentError(
            f"{where}: operator {Op.Name(op) if op in Op.values() else op} is not supported; "
            "use one of " + ", ".join(_OP_NAMES.values())
        )
    name = _OP_NAMES[op]
    value = cond.value
    kind = value.WhichOneof("kind")
    if kind is None:
        raise InvalidArgumentError(f"{where}: {name} has no value; give the value to compare")
    if kind == "null_value":
        raise InvalidArgumentError(
            f"{where}: {name} with null is not allowed in a filter; to find records without "
            "the key use $ne/$nin with a value they cannot have"
        )

    if op in (Op.COMPARISON_OPERATOR_IN, Op.COMPARISON_OPERATOR_NIN):
        if kind not in _LIST_KINDS:
            raise InvalidArgumentError(f"{where}: {name} needs a list of str, int, float or bool")
        items = list(getattr(value, kind).values)
        found = _matching(_SCALAR_IDS, cond.key, _scalar_in_tests(kind, items, where))
        return found if op == Op.COMPARISON_OPERATOR_IN else _negate(found)

    if kind in _LIST_KINDS:
        raise InvalidArgumentError(
            f"{where}: {name} needs a single str, int, float or bool, not a list"
            + ("; use $in / $nin to match one of several values" if name in ("$eq", "$ne") else "")
        )
    scalar = getattr(value, kind)

    if op in _RANGE_SQL:
        if kind not in ("int_value", "float_value"):
            raise InvalidArgumentError(f"{where}: {name} needs an int or float")
        _check_finite(scalar, where)
        sym = _RANGE_SQL[op]
        return _matching(_SCALAR_IDS, cond.key, _number_tests(f"{sym} ?", (scalar,)))

    tests = _scalar_eq_tests(kind, scalar, where)
    if op == Op.COMPARISON_OPERATOR_EQ:
        return _matching(_SCALAR_IDS, cond.key, tests)
    if op == Op.COMPARISON_OPERATOR_NE:
        return _negate(_matching(_SCALAR_IDS, cond.key, tests))
    found = _matching(_ARRAY_IDS, cond.key, tests)
    return _negate(found) if op == Op.COMPARISON_OPERATOR_NOT_CONTAINS else found


def _matching(rows_sql: str, key: str, tests: list[Condition]) -> Condition:
    """Labels with a row at `key` passing one of `tests` (each on one value column, so each
    scans that column's index; a row has one value column, so no label comes twice)."""
    return _join([Condition(f"{rows_sql}{t.sql}", (SEGMENT, key, *t.params)) for t in tests],
                 "UNION ALL")


def _negate(found: Condition) -> Condition:
    """The collection's labels not in `found` (records lacking the key included)."""
    return _join([ALL_LABELS, found], "EXCEPT")


# `column IS NOT NULL` lets SQLite use the column's partial index (migration 0003).
def _number_tests(test: str, params: tuple) -> list[Condition]:
    """Ints and floats compare with each other: the same test on both columns."""
    return [Condition(f"int_value IS NOT NULL AND int_value {test}", params),
            Condition(f"float_value IS NOT NULL AND float_value {test}", params)]


def _scalar_eq_tests(kind: str, scalar, where: str) -> list[Condition]:
    """Tests on one metadata row: its value equals `scalar` (ints and floats cross-compare)."""
    if kind == "string_value":
        return [Condition("string_value IS NOT NULL AND string_value = ?", (scalar,))]
    if kind == "bool_value":
        return [Condition("bool_value IS NOT NULL AND bool_value = ?", (int(scalar),))]
    _check_finite(scalar, where)
    return _number_tests("= ?", (scalar,))


def _scalar_in_tests(kind: str, items: list, where: str) -> list[Condition]:
    """Tests on one metadata row: its value is one of `items` (one JSON parameter)."""
    one_of = "IN (SELECT value FROM json_each(?))"
    if kind == "string_list":
        return [Condition(f"string_value IS NOT NULL AND string_value {one_of}",
                          (json.dumps(items),))]
    if kind == "bool_list":
        return [Condition(f"bool_value IS NOT NULL AND bool_value {one_of}",
                          (json.dumps([int(b) for b in items]),))]
    for item in items:
        _check_finite(item, where)
    return _number_tests(one_of, (json.dumps(items),))


def _check_finite(number, where: str) -> None:
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidArgumentError(f"{where}: NaN and infinity cannot be compared; give a finite number")


# -- where_document --------------------------------------------------------------------------

def compile_where_document(doc: common_pb2.WhereDocument, path: str = "where_document") -> Condition:
    """The SQL condition a document filter stands for; raises InvalidArgumentError."""
    check_shape(doc, path)
    return _compile_document(doc, path)


def _compile_document(doc: common_pb2.WhereDocument, path: str) -> Condition:
    return _compile_tree(
        doc, path, _compile_document, _compile_document_condition,
        "empty document filter; give e.g. {\"$contains\": \"text\"} (or omit the filter)",
    )


def _compile_document_condition(cond: common_pb2.DocumentCondition, path: str) -> Condition:
    op = cond.operator
    if op not in _DOC_OP_NAMES:
        raise InvalidArgumentError(
            f"{path}: document operator "
            f"{DocOp.Name(op) if op in DocOp.values() else op} is not supported; use one of "
            + ", ".join(_DOC_OP_NAMES.values())
        )
    where = f"{path}.{_DOC_OP_NAMES[op]}"
    pattern = cond.pattern
    if not pattern:
        # chromadb rejects it too; an empty pattern would match (or exclude) every document.
        raise InvalidArgumentError(
            f"{where}: the pattern is empty; give a non-empty string (or omit the filter)"
        )
    test = _document_test(op, pattern, where)
    return Condition(_RECORDS + test.sql, (SEGMENT, *test.params))


def _document_test(op, pattern: str, where: str) -> Condition:
    """A boolean expression over the record `e` testing its document."""
    if op == DocOp.DOCUMENT_OPERATOR_CONTAINS:
        if len(pattern) >= FULLTEXT_MIN_PATTERN:
            # The trigram index narrows the candidates; instr keeps the answer exact.
            return Condition(
                "(e.document IS NOT NULL AND e.id IN (SELECT rowid FROM embedding_fulltext_search"
                " WHERE embedding_fulltext_search MATCH ?) AND instr(e.document, ?) > 0)",
                (_fts_phrase(pattern), pattern),
            )
        return Condition("(e.document IS NOT NULL AND instr(e.document, ?) > 0)", (pattern,))
    if op == DocOp.DOCUMENT_OPERATOR_NOT_CONTAINS:
        return Condition("(e.document IS NULL OR instr(e.document, ?) = 0)", (pattern,))
    try:
        regex_dialect.compile_pattern(pattern)
    except re.error as exc:
        raise InvalidArgumentError(
            f"{where}: invalid regular expression {pattern!r}: {exc}; use Python re syntax"
        ) from None
    if op == DocOp.DOCUMENT_OPERATOR_REGEX:
        return Condition("(e.document IS NOT NULL AND e.document REGEXP ?)", (pattern,))
    return Condition("(e.document IS NULL OR NOT (e.document REGEXP ?))", (pattern,))


def _fts_phrase(pattern: str) -> str:
    """An FTS5 phrase query matching `pattern` literally (quotes doubled)."""
    return '"' + pattern.replace('"', '""') + '"'


def _join(parts: list[Condition], operator: str) -> Condition:
    """One label set from several by a compound operator (INTERSECT, UNION, UNION ALL,
    EXCEPT); each part is wrapped as a subquery, so nesting needs no precedence rules."""
    if len(parts) == 1:
        return parts[0]
    sql = f" {operator} ".join(f"SELECT id FROM ({p.sql})" for p in parts)
    params: tuple = ()
    for p in parts:
        params += p.params
    return Condition(sql, params)
