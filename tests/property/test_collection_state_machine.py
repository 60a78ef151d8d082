"""A hypothesis state machine: random add/upsert/update/delete/get/query/count against one
live collection and the reference model (Chroma's own approach to testing a collection).

Collections here stay far below EXACT_SEARCH_MAX (4096 records), so the service answers
queries exactly and must agree with the model's brute force up to distance ties.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule, run_state_machine_as_test)

import strategies
from model import CollectionModel, assert_query_matches, typed
from segmentdb.errors import InvalidDimensionException

IDS = [f"id{i}" for i in range(10)] + ["ü-ñ", "a" * 40]
KEYS = ["a", "b", "c", "d"]
_names = itertools.count()


@st.composite
def batches(draw, dim: int, removable: bool = False, vectors_optional: bool = False,
            max_size: int = 6):
    """ids (unique) with columns; documents/metadatas columns are sometimes absent."""
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=max_size, unique=True))
    n = len(ids)
    batch = {"ids": ids}
    if not vectors_optional or draw(st.booleans()):
        batch["embeddings"] = draw(st.lists(strategies.vectors(dim), min_size=n, max_size=n))
    if draw(st.booleans()):
        document = st.one_of(st.none(), strategies.documents)
        batch["documents"] = draw(st.lists(document, min_size=n, max_size=n))
    if draw(st.booleans()):
        metadata = st.one_of(st.none(), strategies.metadatas(KEYS, removable))
        batch["metadatas"] = draw(st.lists(metadata, min_size=n, max_size=n))
    return batch


class CollectionMachine(RuleBasedStateMachine):
    def __init__(self, client):
        super().__init__()
        self.client = client
        self.collection = None
        self.model: CollectionModel | None = None
        self.dim = 0

    @initialize(space=st.sampled_from(["l2", "ip", "cosine"]), dim=st.integers(4, 8))
    def create(self, space, dim):
        self.name = f"sm{os.getpid() % 1000}x{next(_names)}"
        # embedding_function=None (chromadb's idiom): every vector comes from the test, and
        # an update of documents keeps it, as the model expects.
        self.collection = self.client.create_collection(
            self.name, configuration={"hnsw": {"space": space}}, embedding_function=None)
        self.model = CollectionModel(space)
        self.dim = dim

    def teardown(self):
        if self.collection is not None:
            self.client.delete_collection(self.name)

    # -- writes ----------------------------------------------------------------------
    @rule(data=st.data())
    def add(self, data):
        batch = data.draw(batches(self.dim))
        self.collection.add(**batch)
        self.model.add(batch["ids"], batch["embeddings"], batch.get("documents"),
                       batch.get("metadatas"))

    @rule(data=st.data())
    def upsert(self, data):
        batch = data.draw(batches(self.dim))
        self.collection.upsert(**batch)
        self.model.upsert(batch["ids"], batch["embeddings"], batch.get("documents"),
                          batch.get("metadatas"))

    @precondition(lambda self: self.model.dimension is not None)
    @rule(data=st.data())
    def update(self, data):
        # chromadb: a None document needs embeddings in the same call (else an error).
        batch = data.draw(batches(self.dim, removable=True, vectors_optional=True).filter(
            lambda b: len(b) > 1 and ("embeddings" in b or None not in b.get("documents", []))))
        self.collection.update(**batch)
        self.model.update(batch["ids"], batch.get("embeddings"), batch.get("documents"),
                          batch.get("metadatas"))

    @rule(ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True))
    def delete_ids(self, ids):
        deleted = self.collection.delete(ids=ids)["deleted"]
        assert deleted == self.model.delete(ids=ids)

    @rule(where=strategies.wheres(KEYS, max_leaves=3))
    def delete_where(self, where):
        deleted = self.collection.delete(where=where)["deleted"]
        assert deleted == self.model.delete(where=where)

    @precondition(lambda self: self.model.dimension is not None)
    @rule(data=st.data())
    def add_with_the_wrong_dimension_writes_nothing(self, data):
        wrong = data.draw(st.sampled_from([self.dim - 1, self.dim + 1]))
        batch = data.draw(batches(wrong))
        with pytest.raises(InvalidDimensionException):
            self.collection.add(**batch)

    # -- reads -----------------------------------------------------------------------
    @rule(ids=st.one_of(st.none(), st.lists(st.sampled_from(IDS), max_size=4, unique=True)),
          where=st.one_of(st.none(), strategies.wheres(KEYS, max_leaves=4)),
          where_document=st.one_of(st.none(), strategies.where_documents()),
          limit=st.one_of(st.none(), st.integers(1, 8)), offset=st.integers(0, 4))
    def get(self, ids, where, where_document, limit, offset):
        got = self.collection.get(ids=ids, where=where, where_document=where_document,
                                  limit=limit, offset=offset, include=["metadatas",
                                                                       "documents"])
        expected = self.model.get(ids, where, where_document, limit, offset)
        assert got["ids"] == expected
        assert got["documents"] == [self.model.records[i].document for i in expected]
        assert typed(got["metadatas"]) == typed([self.model.metadata_of(i) for i in expected])

    @precondition(lambda self: self.model.dimension is not None)
    @rule(data=st.data(), n_results=st.integers(1, 15),
          where=st.one_of(st.none(), strategies.wheres(KEYS, max_leaves=3)))
    def query(self, data, n_results, where):
        query = data.draw(strategies.vectors(self.dim))
        result = self.collection.query(query_embeddings=[query], n_results=n_results,
                                       where=where, include=["distances", "documents"])
        assert_query_matches(self.model, query, result["ids"][0], result["distances"][0],
                             n_results, where=where)
        assert result["documents"][0] == [self.model.records[i].document
                                          for i in result["ids"][0]]

    @invariant()
    def count_matches(self):
        if self.collection is not None:
            assert self.collection.count() == self.model.count()

    @invariant()
    def every_record_matches(self):
        if self.collection is None:
            return
        got = self.collection.get(include=["embeddings", "documents", "metadatas"])
        expected = self.model.ordered()
        assert got["ids"] == [id_ for id_, _ in expected]
        assert got["documents"] == [record.document for _, record in expected]
        assert typed(got["metadatas"]) == typed([self.model.metadata_of(id_)
                                                 for id_, _ in expected])
        if expected:
            want = np.stack([record.vector for _, record in expected])
            np.testing.assert_array_equal(np.asarray(got["embeddings"]), want)


def test_collection_behaves_like_the_model(module_client):
    run_state_machine_as_test(
        lambda: CollectionMachine(module_client),
        settings=settings(max_examples=40, stateful_step_count=20, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much]),
    )
