"""An in-memory reference model of one segmentdb collection.

The property and end-to-end tests run the same operations against a live collection and
this model and compare. It implements the rules of docs/internals.md ("Semantics decided")
as literally as possible and nothing else, in plain Python, so a disagreement points at
either the service or a rule we misread — never at shared code.

Records keep a *label* (the HNSW label, i.e. embeddings.id): assigned on first insert from
a counter that is never reused, kept by upserts/updates, so "insertion order" and "ties
broken by label" are the same order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

SCALAR_TYPES = (str, int, float, bool)


class ModelError(ValueError):
    """A request the rules reject (the service must answer INVALID_ARGUMENT)."""


@dataclass
class Record:
    label: int
    vector: np.ndarray  # float32, shape (d,)
    document: str | None
    metadata: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# where / where_document evaluation


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scalar_equal(a: Any, b: Any) -> bool:
    """Equality of two scalars: int and float compare (5 == 5.0); bool never equals int."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _check_scalar(value: Any, op: str, key: str) -> None:
    if not isinstance(value, SCALAR_TYPES):
        raise ModelError(f"where[{key!r}][{op}]: expected a str, int, float or bool")


def _check_homogeneous_list(value: Any, op: str, key: str) -> None:
    if not isinstance(value, list):
        raise ModelError(f"where[{key!r}][{op}]: expected a list")
    if value:
        for item in value:
            _check_scalar(item, op, key)
        if len({type(item) for item in value}) != 1:
            raise ModelError(f"where[{key!r}][{op}]: list values must have one type")


def _condition(metadata: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    is_list = isinstance(value, list)
    if op == "$eq":
        _check_scalar(operand, op, key)
        return present and not is_list and scalar_equal(value, operand)
    if op == "$ne":
        _check_scalar(operand, op, key)
        return not (present and not is_list and scalar_equal(value, operand))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_number(operand):
            raise ModelError(f"where[{key!r}][{op}]: expected an int or float")
        if not present or is_list or not _is_number(value):
            return False
        return {
            "$gt": value > operand,
            "$gte": value >= operand,
            "$lt": value < operand,
            "$lte": value <= operand,
        }[op]
    if op in ("$in", "$nin"):
        _check_homogeneous_list(operand, op, key)
        inside = present and not is_list and any(scalar_equal(value, o) for o in operand)
        return inside if op == "$in" else not inside
    if op in ("$contains", "$not_contains"):
        _check_scalar(operand, op, key)
        contains = present and is_list and any(scalar_equal(item, operand) for item in value)
        return contains if op == "$contains" else not contains
    raise ModelError(f"where[{key!r}]: unknown operator {op!r}")


def validate_where(where: Any) -> None:
    """Raise ModelError for every where the service must reject (evaluates on nothing)."""
    matches_where({}, where)


def matches_where(metadata: dict[str, Any] | None, where: Any) -> bool:
    metadata = metadata or {}
    if not isinstance(where, dict) or len(where) != 1:
        raise ModelError("where: expected exactly one key per level (use $and/$or)")
    (key, operand), = where.items()
    if key in ("$and", "$or"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise ModelError(f"where[{key}]: expected a list of at least two clauses")
        # Evaluate every clause so a malformed clause is rejected even when short-circuit
        # evaluation would never reach it (the service validates the whole tree).
        results = [matches_where(metadata, clause) for clause in operand]
        return all(results) if key == "$and" else any(results)
    if key.startswith("$"):
        raise ModelError(f"where: unknown operator {key!r}")
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise ModelError(f"where[{key!r}]: expected exactly one operator")
        (op, value), = operand.items()
        return _condition(metadata, key, op, value)
    return _condition(metadata, key, "$eq", operand)


def matches_where_document(document: str | None, where_document: Any) -> bool:
    if not isinstance(where_document, dict) or len(where_document) != 1:
        raise ModelError("where_document: expected exactly one operator per level")
    (op, operand), = where_document.items()
    if op in ("$and", "$or"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise ModelError(f"where_document[{op}]: expected at least two clauses")
        results = [matches_where_document(document, clause) for clause in operand]
        return all(results) if op == "$and" else any(results)
    if not isinstance(operand, str):
        raise ModelError(f"where_document[{op}]: expected a string")
    if not operand:
        raise ModelError(f"where_document[{op}]: the pattern is empty")
    if op == "$contains":
        return document is not None and operand in document
    if op == "$not_contains":
        return document is None or operand not in document
    if op == "$regex":
        return document is not None and re.search(operand, document) is not None
    if op == "$not_regex":
        return document is None or re.search(operand, document) is None
    raise ModelError(f"where_document: unknown operator {op!r}")


# ---------------------------------------------------------------------------------------
# distances


def distances(space: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Exact distances in float64 from float32 inputs, in the collection's space."""
    q = np.asarray(query, dtype=np.float32).astype(np.float64)
    x = np.asarray(vectors, dtype=np.float32).astype(np.float64).reshape(-1, q.shape[0])
    if space == "l2":
        diff = x - q
        return np.einsum("ij,ij->i", diff, diff)
    if space == "ip":
        return 1.0 - x @ q
    if space == "cosine":
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(q)
        return 1.0 - (x @ q) / norms
    raise ValueError(f"unknown space {space!r}")


# ---------------------------------------------------------------------------------------
# the collection


class CollectionModel:
    def __init__(self, space: str = "l2"):
        self.space = space
        self.records: dict[str, Record] = {}  # dict order is irrelevant; sort by label
        self.dimension: int | None = None
        self._next_label = 1

    # -- helpers ---------------------------------------------------------------------
    def _vectors(self, embeddings: Any, n: int) -> list[np.ndarray] | None:
        if embeddings is None:
            return None
        array = np.asarray(embeddings, dtype=np.float32).reshape(n, -1)
        return [row.copy() for row in array]

    def _fix_dimension(self, vectors: list[np.ndarray] | None) -> None:
        if vectors:
            d = vectors[0].shape[0]
            if self.dimension is None:
                self.dimension = d
            elif d != self.dimension:
                raise ModelError(f"dimension {d} != {self.dimension}")

    def _insert(self, id_: str, vector: np.ndarray, document: str | None,
                metadata: dict[str, Any] | None) -> None:
        self.records[id_] = Record(self._next_label, vector, document,
                                   {k: v for k, v in (metadata or {}).items() if v is not None})
        self._next_label += 1

    @staticmethod
    def _merge(record: Record, metadata: dict[str, Any] | None) -> None:
        for key, value in (metadata or {}).items():
            if value is None:
                record.metadata.pop(key, None)
            else:
                record.metadata[key] = value

    @staticmethod
    def _column(values: Sequence[Any] | None, i: int) -> Any:
        return None if values is None else values[i]

    def ordered(self) -> list[tuple[str, Record]]:
        return sorted(self.records.items(), key=lambda item: item[1].label)

    # -- writes ----------------------------------------------------------------------
    def add(self, ids: Sequence[str], embeddings: Any,
            documents: Sequence[str | None] | None = None,
            metadatas: Sequence[dict | None] | None = None) -> int:
        vectors = self._vectors(embeddings, len(ids))
        self._fix_dimension(vectors)
        inserted = 0
        for i, id_ in enumerate(ids):
            if id_ in self.records:
                continue  # add leaves existing records unchanged
            self._insert(id_, vectors[i], self._column(documents, i), self._column(metadatas, i))
            inserted += 1
        return inserted

    def upsert(self, ids: Sequence[str], embeddings: Any,
               documents: Sequence[str | None] | None = None,
               metadatas: Sequence[dict | None] | None = None) -> None:
        vectors = self._vectors(embeddings, len(ids))
        self._fix_dimension(vectors)
        for i, id_ in enumerate(ids):
            document = self._column(documents, i)
            metadata = self._column(metadatas, i)
            record = self.records.get(id_)
            if record is None:
                self._insert(id_, vectors[i], document, metadata)
            else:
                self._update_record(record, vectors[i], document, metadata)

    def update(self, ids: Sequence[str], embeddings: Any = None,
               documents: Sequence[str | None] | None = None,
               metadatas: Sequence[dict | None] | None = None) -> int:
        if embeddings is None and documents is not None and None in documents:
            # chromadb: a document may be None only when embeddings come with it.
            raise ModelError("documents: None without embeddings")
        vectors = self._vectors(embeddings, len(ids))
        self._fix_dimension(vectors)
        updated = 0
        for i, id_ in enumerate(ids):
            record = self.records.get(id_)
            if record is None:
                continue  # unknown ids are ignored
            self._update_record(record, self._column(vectors, i), self._column(documents, i),
                                self._column(metadatas, i))
            updated += 1
        return updated

    def _update_record(self, record: Record, vector: np.ndarray | None, document: str | None,
                       metadata: dict[str, Any] | None) -> None:
        if vector is not None:
            record.vector = vector
        if document is not None:
            record.document = document
        self._merge(record, metadata)

    def delete(self, ids: Sequence[str] | None = None, where: Any = None,
               where_document: Any = None) -> int:
        doomed = [id_ for id_, _ in self._select(ids, where, where_document)]
        for id_ in doomed:
            del self.records[id_]
        return len(doomed)

    # -- reads -----------------------------------------------------------------------
    def _select(self, ids: Sequence[str] | None, where: Any, where_document: Any
                ) -> list[tuple[str, Record]]:
        if where is not None:
            validate_where(where)
        if where_document is not None:
            matches_where_document(None, where_document)  # validates
        wanted = None if ids is None else set(ids)
        out = []
        for id_, record in self.ordered():
            if wanted is not None and id_ not in wanted:
                continue
            if where is not None and not matches_where(record.metadata, where):
                continue
            if where_document is not None and not matches_where_document(record.document,
                                                                           where_document):
                continue
            out.append((id_, record))
        return out

    def get(self, ids: Sequence[str] | None = None, where: Any = None, where_document: Any = None,
            limit: int | None = None, offset: int = 0) -> list[str]:
        """Matching ids in insertion order, limit/offset applied after filtering."""
        selected = [id_ for id_, _ in self._select(ids, where, where_document)]
        end = None if limit is None else offset + limit
        return selected[offset:end]

    def count(self) -> int:
        return len(self.records)

    def metadata_of(self, id_: str) -> dict[str, Any] | None:
        """As returned by the service: `{}` is reported as None."""
        return dict(self.records[id_].metadata) or None

    def query(self, query: Any, n_results: int, where: Any = None, where_document: Any = None,
              ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Exact k nearest (id, distance), nearest first, ties by label."""
        if n_results <= 0:
            raise ModelError("n_results must be >= 1")
        candidates = self._select(ids, where, where_document)
        if not candidates:
            return []
        vectors = np.stack([record.vector for _, record in candidates])
        dists = distances(self.space, np.asarray(query), vectors)
        order = sorted(range(len(candidates)), key=lambda i: (dists[i], candidates[i][1].label))
        return [(candidates[i][0], float(dists[i])) for i in order[:n_results]]

    def distances_by_id(self, query: Any, ids: Iterable[str]) -> dict[str, float]:
        ids = list(ids)
        vectors = np.stack([self.records[i].vector for i in ids])
        return dict(zip(ids, map(float, distances(self.space, np.asarray(query), vectors))))


# ---------------------------------------------------------------------------------------
# comparing service answers with the model


def typed(value: Any) -> Any:
    """A value with its type made part of equality (True != 1), int and float kept apart."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def close(a: float, b: float, rel: float = 1e-4) -> bool:
    """Distances agree: relative tolerance, absolute near zero (float32 service math)."""
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def assert_query_matches(model: CollectionModel, query: Any, got_ids: Sequence[str],
                         got_distances: Sequence[float], n_results: int, where: Any = None,
                         where_document: Any = None, ids: Sequence[str] | None = None,
                         tie: float = 1e-5) -> None:
    """The service's exact answer equals the model's, up to the order of distance ties.

    Position i of the service's answer must be a record whose model distance equals the
    model's i-th smallest distance (within `tie`): this allows swapping records whose
    distances tie — including across the k boundary — and nothing else.
    """
    expected = model.query(query, n_results, where, where_document, ids)
    got_ids = list(got_ids)
    assert len(got_ids) == len(expected), (
        f"expected {len(expected)} results, got {len(got_ids)}: {got_ids} vs {expected}")
    assert len(set(got_ids)) == len(got_ids), f"duplicate ids in a result: {got_ids}"
    allowed = set(model.get(ids, where, where_document))
    assert set(got_ids) <= allowed, f"ids outside the filter: {set(got_ids) - allowed}"
    if not got_ids:
        return
    true = model.distances_by_id(query, got_ids)
    for i, id_ in enumerate(got_ids):
        want_id, want_distance = expected[i]
        assert close(got_distances[i], true[id_]), (
            f"result {i} ({id_}): distance {got_distances[i]} but the model says {true[id_]}")
        if id_ != want_id:
            assert close(true[id_], want_distance, tie), (
                f"result {i}: got {id_} (distance {true[id_]}), expected {want_id} "
                f"(distance {want_distance}); full expected {expected}, got {got_ids}")
