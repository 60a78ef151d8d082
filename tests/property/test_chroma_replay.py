"""Property: whatever point Chroma's segments had persisted to, replay finds the final state.

A random history of ADD / UPDATE / UPSERT / DELETE is applied to a model with Chroma's rules
(add ignores existing ids, update ignores unknown ones, upsert inserts or merges, a None
metadata value removes the key, "chroma:document" is the document). Chroma's folder is then
simulated at random persistence points: the metadata segment has applied the first m
entries, the vector segment's index files the first k (or none at all), and the queue holds
the entries from min(k, m) on (Chroma purges below the smallest). `replay` must produce the
model's final records, in insertion order, with the right vectors; deleted records must not
come back from the older index files, which keep them as marked-deleted elements.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentdb.chroma_import import hnsw_files
from segmentdb.chroma_import.chroma_sqlite import (
    ADD, DELETE, DOCUMENT_KEY, UPDATE, UPSERT, ChromaRecord, QueueEntry,
)
from segmentdb.chroma_import.replay import replay
from segmentdb.chroma_import.safe_pickle import IndexMetadata

IDS = ["a", "b", "c", "d", "e"]
_vectors = st.lists(st.integers(-50, 50), min_size=2, max_size=2).map(
    lambda v: np.asarray(v, np.float32) / np.float32(8))
_metadata = st.none() | st.dictionaries(
    st.sampled_from(["k1", "k2", DOCUMENT_KEY]),
    st.none() | st.integers(-3, 3) | st.text("xyz", max_size=2), max_size=3)


@st.composite
def _operation(draw):
    op = draw(st.sampled_from([ADD, UPDATE, UPSERT, DELETE]))
    record_id = draw(st.sampled_from(IDS))
    if op == DELETE:
        return op, record_id, None, None
    vector = draw(_vectors) if op != UPDATE else draw(st.none() | _vectors)
    metadata = draw(_metadata)
    if op == ADD and metadata:
        metadata = {k: v for k, v in metadata.items() if v is not None}
    return op, record_id, vector, metadata


class Model:
    """Chroma's rules, applied entry by entry."""

    def __init__(self):
        self.records: dict[str, dict] = {}   # id -> {"document", "metadata"}, insertion order
        self.vectors: dict[str, np.ndarray] = {}
        self.labels: dict[str, int] = {}     # the index's label of each id, as hnswlib's
        self.elements: list[tuple[int, np.ndarray, bool]] = []  # (label, vector, deleted)
        self.next_label = 1

    @staticmethod
    def _merge(record: dict, metadata) -> None:
        for key, value in (metadata or {}).items():
            if key == DOCUMENT_KEY:
                record["document"] = value
            elif value is None:
                record["metadata"].pop(key, None)
            else:
                record["metadata"][key] = value

    def apply(self, op, record_id, vector, metadata) -> None:
        exists = record_id in self.records
        if op == DELETE:
            self.records.pop(record_id, None)
        elif exists and op in (UPDATE, UPSERT):
            self._merge(self.records[record_id], metadata)
        elif not exists and op in (ADD, UPSERT):
            self.records[record_id] = {"document": None, "metadata": {}}
            self._merge(self.records[record_id], metadata)
        # The vector segment, with its own membership (the same rules).
        present = record_id in self.vectors
        if op == DELETE and present:
            del self.vectors[record_id]
            label = self.labels.pop(record_id)
            self.elements = [(lb, v, d or lb == label) for lb, v, d in self.elements]
        elif vector is not None and (op == UPSERT or (op == ADD and not present)
                                     or (op == UPDATE and present)):
            self.vectors[record_id] = vector
            if record_id in self.labels:  # hnswlib updates the element in place
                label = self.labels[record_id]
                self.elements = [(lb, vector if lb == label else v, d)
                                 for lb, v, d in self.elements]
            else:
                self.labels[record_id] = self.next_label
                self.elements.append((self.next_label, vector, False))
                self.next_label += 1

    def chroma_records(self) -> list[ChromaRecord]:
        return [ChromaRecord(i, r["document"], dict(r["metadata"])) for i, r in self.records.items()]

    def index(self) -> tuple[hnsw_files.IndexFiles, IndexMetadata]:
        header = hnsw_files.Header(len(self.elements) + 8, len(self.elements), 24, 16, 8, 1, 1, 1)
        labels = np.asarray([lb for lb, _, _ in self.elements], np.uint64)
        vectors = np.asarray([v for _, v, _ in self.elements], np.float32).reshape(-1, 2)
        deleted = np.asarray([d for _, _, d in self.elements], bool)
        return (hnsw_files.IndexFiles(header, labels, vectors, deleted),
                IndexMetadata(dict(self.labels), {}, None))


@settings(max_examples=300, deadline=None)
@given(st.lists(_operation(), max_size=30), st.data())
def test_replay_recovers_the_final_state_from_any_persistence_point(history, data):
    n = len(history)
    m = data.draw(st.integers(0, n), label="metadata segment applied through")
    k = data.draw(st.integers(0, n), label="index files persisted through")
    persisted = data.draw(st.booleans(), label="index files exist")
    final, at_m, at_k = Model(), None, None
    for seq, operation in enumerate(history, start=1):
        if seq - 1 == m:
            at_m = final.chroma_records()
        if seq - 1 == k:
            at_k = final.index()
        final.apply(*operation)
    at_m = final.chroma_records() if at_m is None else at_m
    at_k = final.index() if at_k is None else at_k
    start = min(m, k) if persisted else 0
    queue = [QueueEntry(seq, op, record_id, vector, metadata)
             for seq, (op, record_id, vector, metadata) in enumerate(history, start=1)
             if seq >= start]
    index, index_metadata = at_k if persisted else (None, None)
    result = replay("c", at_m, queue, m, index, index_metadata, k if persisted else None)
    assert [r.id for r in result.records] == list(final.records)
    for record in result.records:
        want = final.records[record.id]
        assert record.document == want["document"]
        assert record.metadata == (want["metadata"] or None)
        assert record.vector.tobytes() == final.vectors[record.id].tobytes()
