"""The HTTP API's pure parts: Chroma's JSON <-> protobuf (gateway/http/codec.py,
responses.py) as properties with hypothesis, and the error table against the names the
stock chromadb client knows."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.http import codec, http_errors, responses
from segmentdb import errors, vectors
from segmentdb.v1 import common_pb2

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
matrices = st.integers(1, 6).flatmap(
    lambda dim: st.lists(st.lists(finite, min_size=dim, max_size=dim), min_size=1, max_size=8))
scalars = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), finite,
                    st.text(max_size=20))
metadata_values = st.one_of(scalars, st.lists(st.text(max_size=5), min_size=1, max_size=3),
                            st.lists(st.integers(-1000, 1000), min_size=1, max_size=3))
metadatas = st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=8),
                                                 metadata_values, min_size=1, max_size=4))


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_base64_and_arrays_give_the_same_vector_batch(rows):
    array = np.asarray(rows, dtype="<f4")
    as_base64 = [base64.b64encode(row.tobytes()).decode() for row in array]
    from_arrays = codec.embeddings(rows, "embeddings")
    assert codec.embeddings(as_base64, "embeddings") == from_arrays
    assert np.array_equal(vectors.decode(from_arrays), array)


@settings(max_examples=60, deadline=None)
@given(st.data(), matrices)
def test_a_write_body_round_trips_through_get(data, rows):
    n = len(rows)
    ids = data.draw(st.lists(st.text(min_size=1, max_size=6), min_size=n, max_size=n,
                             unique=True))
    documents = data.draw(st.lists(st.one_of(st.none(), st.text(max_size=10)), min_size=n,
                                   max_size=n))
    metas = data.draw(st.lists(metadatas, min_size=n, max_size=n))
    request = codec.write_request("add", "c", {"ids": ids, "embeddings": rows,
                                               "documents": documents, "metadatas": metas})
    # What the metadata worker would hand back for these records:
    batch = common_pb2.RecordBatch(ids=request.ids, documents=request.documents,
                                   metadatas=request.metadatas, embeddings=request.embeddings)
    fields = ["documents", "metadatas", "embeddings"]
    body = responses.get_result(batch, fields)
    assert body["ids"] == ids and body["documents"] == documents
    assert body["metadatas"] == [m or None for m in metas]
    assert np.array_equal(np.asarray(body["embeddings"], dtype="<f4"),
                          np.asarray(rows, dtype="<f4"))
    assert body["uris"] is None and body["include"] == fields


@pytest.mark.parametrize("body, field", [
    ({"ids": "a", "embeddings": [[1.0]]}, "ids"),
    ({"ids": [1], "embeddings": [[1.0]]}, "ids[0]"),
    ({"ids": ["a"], "embeddings": [[1.0, True]]}, "embeddings[0][1]"),
    ({"ids": ["a"], "embeddings": ["AAAA="]}, "embeddings[0]"),
    ({"ids": ["a"], "embeddings": [[1.0], [1.0, 2.0]]}, "embeddings"),
    ({"ids": ["a"], "embeddings": [[1.0]], "documents": ["x", "y"]}, "documents"),
    ({"ids": ["a"], "embeddings": [[1.0]], "uris": ["file:///x"]}, "uris"),
])
def test_malformed_json_names_the_field(body, field):
    with pytest.raises(errors.InvalidArgumentError) as raised:
        codec.write_request("add", "c", body)
    assert raised.value.message.startswith(field)


def test_update_needs_no_embeddings_and_empty_filters_are_none():
    request = codec.write_request("update", "c", {"ids": ["a"], "metadatas": [{"k": None}]})
    assert not request.embeddings.data and request.metadatas[0].fields["k"].HasField(
        "null_value")
    get = codec.get_request("c", {"where": {}, "where_document": {}}, ["documents"])
    assert not get.HasField("where") and not get.HasField("where_document")


def test_every_error_class_maps_to_a_name_the_stock_client_raises():
    from chromadb import errors as chroma_errors  # a dev dependency
    for cls in errors.BY_NAME.values():
        status, name = http_errors.status_of(cls("x"))
        assert name in chroma_errors.error_types, (cls, name)
        assert 400 <= status < 600
    assert http_errors.status_of(errors.NotFoundError("x")) == (404, "NotFoundError")
    assert http_errors.status_of(errors.UniqueConstraintError("x")) == (409, "ChromaError")
    assert http_errors.status_of(errors.InvalidDimensionException("x"))[0] == 400
