"""Assembling query results from a search and a fetch (pure proto in, proto out)."""

from __future__ import annotations

import numpy as np

from gateway.query import assemble
from segmentdb import vectors
from segmentdb.internal.v1 import metadata_service_pb2 as ms, vector_service_pb2 as vs
from segmentdb.v1 import common_pb2

DOCS, METAS, EMBS, DISTS = (common_pb2.INCLUDE_FIELD_DOCUMENTS, common_pb2.INCLUDE_FIELD_METADATAS,
                            common_pb2.INCLUDE_FIELD_EMBEDDINGS, common_pb2.INCLUDE_FIELD_DISTANCES)

STORED = np.arange(12, dtype=np.float32).reshape(4, 3)  # rows for labels 10, 20, 30, 40


def search(*per_query):
    return vs.SearchResponse(results=[
        vs.Neighbors(labels=[label for label, _ in found], distances=[d for _, d in found])
        for found in per_query])


def fetched(labels):
    """What FetchRecords returns for `labels` (a subset of 10..40, in request order)."""
    rows = [label // 10 - 1 for label in labels]
    records = common_pb2.RecordBatch(
        ids=[f"id{label}" for label in labels],
        documents=[common_pb2.OptionalString(value=f"doc{label}") for label in labels],
        metadatas=[common_pb2.Metadata(fields={"n": common_pb2.MetadataValue(int_value=label)})
                   for label in labels],
        embeddings=vectors.encode(STORED[rows]))
    return ms.FetchRecordsResponse(labels=labels, records=records)


def test_each_query_keeps_its_nearest_first_order():
    response = assemble(search([(30, 0.1), (10, 0.5)], [(10, 0.2), (20, 0.3), (30, 0.9)]),
                        fetched([30, 10, 20]), frozenset({DOCS, METAS, EMBS, DISTS}))
    first, second = response.results
    assert list(first.ids) == ["id30", "id10"]
    assert [d.value for d in first.documents] == ["doc30", "doc10"]
    assert [m.fields["n"].int_value for m in first.metadatas] == [30, 10]
    np.testing.assert_array_equal(vectors.decode(first.embeddings), STORED[[2, 0]])
    assert np.allclose(first.distances, [0.1, 0.5])
    assert list(second.ids) == ["id10", "id20", "id30"]
    np.testing.assert_array_equal(vectors.decode(second.embeddings), STORED[[0, 1, 2]])


def test_labels_deleted_before_the_fetch_are_dropped():
    response = assemble(search([(10, 0.1), (20, 0.2), (30, 0.3)]), fetched([10, 30]),
                        frozenset({DOCS, DISTS}))
    (only,) = response.results
    assert list(only.ids) == ["id10", "id30"]
    assert [d.value for d in only.documents] == ["doc10", "doc30"]
    assert np.allclose(only.distances, [0.1, 0.3])


def test_columns_not_included_stay_empty():
    response = assemble(search([(20, 0.4)]), fetched([20]), frozenset())
    (only,) = response.results
    assert list(only.ids) == ["id20"]
    assert not only.documents and not only.metadatas and not only.distances
    assert not only.embeddings.data


def test_a_query_whose_labels_all_vanished_gives_an_empty_batch():
    response = assemble(search([(40, 0.1)], [(10, 0.2)]), fetched([10]),
                        frozenset({DISTS, EMBS}))
    assert list(response.results[0].ids) == []
    assert not response.results[0].embeddings.data
    assert list(response.results[1].ids) == ["id10"]
