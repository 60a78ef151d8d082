"""The truth, read straight from `<data>/chroma.sqlite3` (read-only), and exact search over it.

Schema: docs/internals.md "SQLite". A collection's records are the `embeddings` rows of its
METADATA segment; `embeddings.id` is the HNSW label; vectors are little-endian float32 blobs.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class StoredCollection:
    collection_id: str
    vector_segment_id: str
    dimension: int
    ids: list[str]  # user ids, in label order
    labels: np.ndarray  # int64, embeddings.id
    vectors: np.ndarray  # (n, dimension) float32
    documents: list[str | None]
    metadatas: list[dict | None]
    duplicate_ids: list[str]  # user ids held by more than one row (must stay empty)
    fulltext_rows: int  # rows of embedding_fulltext_search for this collection's records

    def record(self, user_id: str) -> tuple[np.ndarray, str | None, dict | None]:
        i = self.ids.index(user_id)
        return self.vectors[i], self.documents[i], self.metadatas[i]

    def by_id(self) -> dict[str, tuple[np.ndarray, str | None, dict | None]]:
        return {uid: (self.vectors[i], self.documents[i], self.metadatas[i])
                for i, uid in enumerate(self.ids)}


def connect_read_only(data: Path) -> sqlite3.Connection:
    db = Path(data) / "chroma.sqlite3"
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)


def _value(string_value, int_value, float_value, bool_value):
    if string_value is not None:
        return string_value
    if int_value is not None:
        return int(int_value)
    if float_value is not None:
        return float(float_value)
    if bool_value is not None:
        return bool(bool_value)
    return None


def read_collection(data: Path, name: str, database: str = "default_database") -> StoredCollection:
    with closing(connect_read_only(data)) as db:
        row = db.execute(
            "SELECT c.id, c.dimension FROM collections c JOIN databases d ON c.database_id = d.id "
            "WHERE c.name = ? AND d.name = ?", (name, database)).fetchone()
        assert row is not None, f"collection {name!r} is not in SQLite"
        collection_id, dimension = row[0], int(row[1] or 0)
        segments = dict(db.execute("SELECT scope, id FROM segments WHERE collection = ?",
                                   (collection_id,)).fetchall())
        metadata_segment = segments["METADATA"]
        rows = db.execute("SELECT id, embedding_id, document, vector FROM embeddings "
                          "WHERE segment_id = ? ORDER BY id", (metadata_segment,)).fetchall()
        metadata: dict[int, dict] = {}
        for label, key, s, i, f, b in db.execute(
                "SELECT m.id, m.key, m.string_value, m.int_value, m.float_value, m.bool_value "
                "FROM embedding_metadata m JOIN embeddings e ON e.id = m.id WHERE e.segment_id = ?",
                (metadata_segment,)):
            metadata.setdefault(label, {})[key] = _value(s, i, f, b)
        duplicates = [uid for (uid,) in db.execute(
            "SELECT embedding_id FROM embeddings WHERE segment_id = ? "
            "GROUP BY embedding_id HAVING COUNT(*) > 1", (metadata_segment,))]
        fulltext = db.execute(
            "SELECT COUNT(*) FROM embedding_fulltext_search WHERE rowid IN "
            "(SELECT id FROM embeddings WHERE segment_id = ?)", (metadata_segment,)).fetchone()[0]
    labels = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = (np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4").reshape(len(rows), dimension)
               if rows else np.zeros((0, dimension), dtype=np.float32))
    return StoredCollection(
        collection_id=collection_id, vector_segment_id=segments["VECTOR"], dimension=dimension,
        ids=[r[1] for r in rows], labels=labels, vectors=vectors,
        documents=[r[2] for r in rows], metadatas=[metadata.get(r[0]) for r in rows],
        duplicate_ids=duplicates, fulltext_rows=int(fulltext))


def exact_l2(vectors: np.ndarray, ids: list[str], queries: np.ndarray, k: int
             ) -> tuple[list[list[str]], np.ndarray]:
    """Exact k nearest (squared l2, float64) of each query: (ids per query, distances)."""
    v = vectors.astype(np.float64)
    q = queries.astype(np.float64)
    dist = (q * q).sum(1)[:, None] + (v * v).sum(1)[None, :] - 2.0 * q @ v.T
    np.maximum(dist, 0.0, out=dist)
    k = min(k, len(ids))
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return ([[ids[j] for j in row] for row in order], np.take_along_axis(dist, order, axis=1))


def assert_exact_answers(got: dict, stored: StoredCollection, queries: np.ndarray, k: int) -> None:
    """A query result (include distances) equals exact search over what SQLite holds."""
    want_ids, want_dist = exact_l2(stored.vectors, stored.ids, queries, k)
    for q in range(len(queries)):
        got_ids, got_dist = got["ids"][q], np.asarray(got["distances"][q])
        # Equal-distance neighbours may come in either order: compare ids where distances
        # are clearly separated, distances everywhere.
        np.testing.assert_allclose(got_dist, want_dist[q], rtol=1e-4, atol=1e-4,
                                   err_msg=f"query {q}: distances differ from exact search")
        assert sorted(got_ids) == sorted(want_ids[q]) or _same_up_to_ties(
            got_ids, want_ids[q], want_dist[q]), (
            f"query {q}: got ids {got_ids}, exact search over SQLite says {want_ids[q]}")


def _same_up_to_ties(got: list[str], want: list[str], dist: np.ndarray) -> bool:
    """Differences only among neighbours tied (within 1e-5) with the k-th distance."""
    boundary = dist[-1]
    firm = {uid for uid, d in zip(want, dist) if d < boundary - 1e-5}
    return len(got) == len(want) and firm <= set(got)


def recall(got_ids: list[list[str]], want_ids: list[list[str]]) -> float:
    hits = sum(len(set(g) & set(w)) for g, w in zip(got_ids, want_ids))
    return hits / max(1, sum(len(w) for w in want_ids))
