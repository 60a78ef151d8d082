"""A hypothesis state machine: any sequence of upserts, deletes and (filtered) searches on a
Segment answers like a numpy model of {label: vector} (small segments: exact search)."""

from __future__ import annotations

import numpy as np
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from vector_worker.convert import SegmentParams
from vector_worker.segment import Segment

DIM = 3
LABELS = st.integers(min_value=0, max_value=40)
# Small integers: ties are frequent, which is what we want to exercise.
VECTOR = st.lists(st.integers(min_value=-3, max_value=3), min_size=DIM, max_size=DIM)


def hnswlib_normalized(x: np.ndarray) -> np.ndarray:
    """What hnswlib stores for cosine: float32, x * (1 / (sqrt(sum x^2) + 1e-30)).

    The model must round like the index does, or exact mathematical ties (e.g. cos = 1/sqrt(2)
    for both [0,0,1] and [2,1,2] against [0,1,1]) split differently in the last bit."""
    sumsq = np.zeros(len(x), dtype=np.float32)
    for column in x.T:  # hnswlib sums sequentially
        sumsq += column * column
    inv = np.float32(1.0) / (np.sqrt(sumsq) + np.float32(1e-30))
    return x * inv[:, None]


def model_search(space, model: dict[int, np.ndarray], query, k, allowed=None):
    labels = sorted(l for l in model if allowed is None or l in allowed)
    if not labels:
        return [], []
    x = np.array([model[l] for l in labels], dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    if space == "l2":
        d = ((x - q) ** 2).sum(1)
    elif space == "ip":
        d = 1.0 - x @ q
    else:
        xn = hnswlib_normalized(x.astype(np.float32)).astype(np.float64)
        d = 1.0 - (q / (np.linalg.norm(q) + 1e-30))[None, :] @ xn.T
        d = d[0]
    d = d.astype(np.float32)  # ties are decided on what the caller sees
    order = np.lexsort((labels, d))[:k]
    return [labels[i] for i in order], d[order].tolist()


class SegmentMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.space = None
        self.segment = None
        self.model: dict[int, np.ndarray] = {}

    @rule(space=st.sampled_from(["l2", "ip", "cosine"]))
    def create(self, space):
        if self.segment is None:
            self.space = space
            self.segment = Segment.create(SegmentParams(
                "seg", "col", DIM, space, 4, 20, ef_search=10, num_threads=1,
                resize_factor=1.3), capacity=2)

    @rule(items=st.lists(st.tuples(LABELS, VECTOR), max_size=8))
    def upsert(self, items):
        if self.segment is None or not items:
            return
        labels = [l for l, _ in items]
        vectors = np.array([v for _, v in items], dtype=np.float32)
        self.segment.apply(labels, vectors)
        for label, vector in items:
            self.model[label] = np.array(vector, dtype=np.float32)

    @rule(labels=st.lists(LABELS, max_size=6))
    def delete(self, labels):
        if self.segment is None:
            return
        self.segment.apply(delete_labels=labels)
        for label in labels:
            self.model.pop(label, None)

    @rule(query=VECTOR, k=st.integers(1, 50),
          allowed=st.none() | st.sets(LABELS, max_size=10))
    def search(self, query, k, allowed):
        if self.segment is None:
            return
        labels, dists = self.segment.search(np.array([query], dtype=np.float32), k, allowed)[0]
        want_labels, want_dists = model_search(self.space, self.model, query, k, allowed)
        assert labels.tolist() == want_labels
        np.testing.assert_allclose(dists, want_dists, rtol=1e-4, atol=1e-5)

    @invariant()
    def counts_agree(self):
        if self.segment is not None:
            assert self.segment.live_count == len(self.model)
            assert self.segment.live_labels().tolist() == sorted(self.model)
            assert self.segment.capacity >= len(self.model)


SegmentMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                            deadline=None)
TestSegmentModel = SegmentMachine.TestCase
