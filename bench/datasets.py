"""Seeded, embedding-like datasets with exact ground truth, cached under bench/.cache/.

Vectors are drawn around 100 gaussian cluster centres and normalized, so neighbourhoods are
lumpy like real embeddings (uniform random vectors make every HNSW look perfect). Metadata:
`category` is "ten" for 10% of records and "one" for 1% (the filtered-query selectivities),
otherwise "rest"; `rank` is an int, `score` a float. Ground truth is exact cosine top-k by numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"
DIM = 384
K = 10
CLUSTERS = 100
# The two filtered queries the bench measures: where-clause name -> (where, selectivity).
FILTERS = {"10%": {"category": "ten"}, "1%": {"category": "one"}}


@dataclass
class Dataset:
    name: str
    vectors: np.ndarray          # (n, DIM) float32, unit length
    categories: np.ndarray       # (n,) str: "ten" | "one" | "rest"
    ranks: np.ndarray            # (n,) int64
    scores: np.ndarray           # (n,) float64
    queries: np.ndarray          # (q, DIM) float32, held out (not in vectors)
    truth: dict[str, np.ndarray]  # "all" and each FILTERS key -> (q, K) int indices

    @property
    def size(self) -> int:
        return len(self.vectors)

    def ids(self, start: int = 0, stop: Optional[int] = None) -> list[str]:
        return [f"r{i}" for i in range(start, self.size if stop is None else stop)]

    def metadatas(self, start: int, stop: int) -> list[dict]:
        return [{"category": str(self.categories[i]), "rank": int(self.ranks[i]),
                 "score": float(self.scores[i])} for i in range(start, stop)]

    def mask(self, filter_name: str) -> np.ndarray:
        return self.categories == FILTERS[filter_name]["category"]


def _clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    labels = rng.integers(0, len(centres), size=n)
    points = centres[labels] + rng.normal(0, 0.6 / np.sqrt(DIM), size=(n, DIM)) * 2.5
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = K,
                mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices (into `vectors`) of each query's k most cosine-similar rows (unit vectors)."""
    candidates = np.arange(len(vectors)) if mask is None else np.flatnonzero(mask)
    # Fewer candidates than k (tiny smoke datasets): the missing slots are -1.
    out = np.full((len(queries), k), -1, dtype=np.int64)
    have = min(k, len(candidates))
    if have == 0:
        return out
    for start in range(0, len(queries), 256):  # bounded memory for 1M x 256 similarity blocks
        sims = queries[start:start + 256] @ vectors[candidates].T
        top = np.argpartition(-sims, have - 1, axis=1)[:, :have]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
        out[start:start + 256, :have] = candidates[np.take_along_axis(top, order, axis=1)]
    return out


def generate(size: int, queries: int, seed: int = 4) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = _clustered(rng, size, centres)
    held_out = _clustered(rng, queries, centres)
    draw = rng.random(size)
    categories = np.where(draw < 0.01, "one", np.where(draw < 0.11, "ten", "rest"))
    ranks = rng.integers(0, 1000, size=size)
    scores = rng.random(size)
    truth = {"all": exact_top_k(vectors, held_out)}
    data = Dataset(f"clustered-{size}", vectors, categories, ranks, scores, held_out, truth)
    for name in FILTERS:
        truth[name] = exact_top_k(vectors, held_out, mask=data.mask(name))
    return data


def load(size: int, queries: int, seed: int = 4, cache: Path = CACHE) -> Dataset:
    """The dataset for (size, queries, seed), generated once and then read from the cache."""
    path = cache / f"clustered-{size}-q{queries}-s{seed}.npz"
    if path.exists():
        z = np.load(path)
        truth = {"all": z["truth_all"], **{n: z[f"truth_{n}"] for n in FILTERS}}
        return Dataset(f"clustered-{size}", z["vectors"], z["categories"], z["ranks"],
                       z["scores"], z["queries"], truth)
    data = generate(size, queries, seed)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=data.vectors, categories=data.categories, ranks=data.ranks,
             scores=data.scores, queries=data.queries, truth_all=data.truth["all"],
             **{f"truth_{n}": data.truth[n] for n in FILTERS})
    tmp.replace(path)  # atomic: a killed run never leaves a half-written cache entry
    return data


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean fraction of each query's true top-k present in what a system returned."""
    hits = sum(len(set(f[:truth.shape[1]]) & set(t[t >= 0].tolist())) for f, t in zip(found, truth))
    return hits / max(1, int((truth >= 0).sum()))
