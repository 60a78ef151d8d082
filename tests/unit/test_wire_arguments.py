"""The SDK's argument handling: chromadb's OneOrMany, numpy inputs, and errors raised
before any call is made (the client points at a port where nothing listens, so a call
that did go out would fail with UnavailableError instead)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

import segmentdb
from segmentdb import collection as collection_module
from segmentdb.errors import DuplicateIDError, InvalidArgumentError, UnavailableError
from segmentdb.v1 import collection_pb2, record_service_pb2 as rec_pb


@pytest.fixture()
def offline():
    client = segmentdb.Client("127.0.0.1:1", timeout=2)
    proto = collection_pb2.Collection(id=str(uuid.uuid4()), name="docs", tenant="default_tenant",
                                      database="default_database")
    yield segmentdb.Collection(client, proto)
    client.close()


def _add_request(col, **kwargs) -> rec_pb.AddRecordsRequest:
    request = rec_pb.AddRecordsRequest(collection_id=col._model.id)
    col._fill_write(request, "add", kwargs.pop("ids"), kwargs.pop("embeddings", None),
                    kwargs.pop("metadatas", None), kwargs.pop("documents", None), None, None)
    return request


def test_a_single_id_vector_document_and_metadata(offline):
    request = _add_request(offline, ids="a", embeddings=[1, 2, 3], documents="doc", metadatas={"k": 1})
    assert list(request.ids) == ["a"]
    assert request.embeddings.dimension == 3 and len(request.embeddings.data) == 12
    assert request.documents[0].value == "doc"
    assert request.metadatas[0].fields["k"].int_value == 1


@pytest.mark.parametrize("embeddings", [
    [[1.0, 2.0], [3.0, 4.0]],
    np.array([[1.0, 2.0], [3.0, 4.0]]),
    [np.array([1.0, 2.0]), np.array([3.0, 4.0])],
    np.array([[1, 2], [3, 4]], dtype=np.int32),
])
def test_many_vectors_in_any_chromadb_form(offline, embeddings):
    request = _add_request(offline, ids=["a", "b"], embeddings=embeddings, documents=["x", None])
    decoded = segmentdb.vectors.decode(request.embeddings)
    assert decoded.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert not request.documents[1].HasField("value")


def test_a_one_dimensional_numpy_vector_is_one_record(offline):
    request = _add_request(offline, ids=["a"], embeddings=np.arange(4, dtype=np.float32))
    assert request.embeddings.dimension == 4


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(ids=[]), InvalidArgumentError, "non-empty list"),
    (dict(ids=["a", "a"], embeddings=[[1], [2]]), DuplicateIDError, "duplicated"),
    (dict(ids=["a", 3], embeddings=[[1], [2]]), InvalidArgumentError, r"ids\[1\]"),
    (dict(ids=["a"]), InvalidArgumentError, "give embeddings=..., or documents=..."),
    (dict(ids=["a", "b"], embeddings=[[1, 2]]), InvalidArgumentError, "1 vectors for 2 ids"),
    (dict(ids=["a"], embeddings=[[1, 2]], documents=["x", "y"]), InvalidArgumentError, "documents: got 2 for 1"),
    (dict(ids=["a"], embeddings=[[1, 2]], metadatas=[{"k": None}]), InvalidArgumentError, "None is only allowed"),
    (dict(ids=["a"], embeddings=[[np.nan, 2]]), InvalidArgumentError, "NaN"),
    (dict(ids=["a", "b"], embeddings=[[1, 2], [1]]), InvalidArgumentError, "different lengths"),
    (dict(ids=["a"], embeddings=["abc"]), InvalidArgumentError, r"embeddings\[0\]"),
    (dict(ids=["a"], embeddings=[[1]], images=["x"]), InvalidArgumentError, "not supported"),
])
def test_add_rejects_before_any_call(offline, kwargs, error, message):
    with pytest.raises(error, match=message):
        offline.add(**kwargs)


@pytest.mark.parametrize("call, message", [
    (lambda c: c.get(where={}), "exactly one key"),
    (lambda c: c.get(include=["distances"]), "not valid in get"),
    (lambda c: c.get(limit=-1), "limit"),
    (lambda c: c.query(query_embeddings=[[1.0]], n_results=0), "n_results"),
    (lambda c: c.query(), "exactly one of query_embeddings or query_texts"),
    (lambda c: c.query(query_texts=[]), "at least one query text"),
    (lambda c: c.query(query_texts=["x", 3]), r"query_texts\[1\]: expected a string"),
    (lambda c: c.delete(), "at least one of ids, where or where_document"),
    (lambda c: c.delete(where={"a": {"$regex": "x"}}), r"unknown operator '\$regex'"),
    (lambda c: c.modify(configuration={"hnsw": {"space": "hamming"}}), "unknown space"),
])
def test_reads_reject_before_any_call(offline, call, message):
    with pytest.raises(InvalidArgumentError, match=message):
        call(offline)


@pytest.mark.parametrize("call", [
    lambda c: c.update(ids=["a"], documents=[None]),
    lambda c: c.update(ids=["a", "b"], documents=["x", None]),
    lambda c: c.upsert(ids=["a"], documents=[None]),
    lambda c: c.add(ids="a", documents=[None]),
])
def test_a_none_document_without_embeddings_is_rejected(offline, call):
    # chromadb: documents may hold None only when embeddings come in the same call.
    with pytest.raises(InvalidArgumentError, match=r"documents\[\d\]: expected a string, got None"):
        call(offline)


@pytest.mark.parametrize("call", [
    lambda c: c.update(ids=["a"], embeddings=[[1.0]], documents=[None]),
    lambda c: c.upsert(ids=["a"], embeddings=[[1.0]], documents=[None]),
    lambda c: c.get(include=["uris"]),
    lambda c: c.query(query_embeddings=[[1.0]], include=["uris", "data"]),
])
def test_none_documents_with_embeddings_and_uris_include_are_sent(offline, call):
    with pytest.raises(UnavailableError):
        call(offline)


def test_get_include_data_is_rejected_like_chromadb_without_a_data_loader(offline):
    with pytest.raises(InvalidArgumentError, match="data loader"):
        offline.get(include=["data"])


def test_a_valid_call_does_reach_the_network(offline):
    # The counterpart of the tests above: valid arguments get as far as the (dead) server.
    with pytest.raises(UnavailableError):
        offline.add(ids=["a"], embeddings=[[1.0, 2.0]])


@pytest.mark.parametrize("call", [
    lambda c: c.add(ids=["a"], documents=["only a document"]),
    lambda c: c.upsert(ids=["a"], documents=["only a document"]),
    lambda c: c.query(query_texts=["a text"]),
])
def test_texts_without_a_client_function_go_to_the_server(offline, call):
    # Without embedding_function=... the server embeds: the call is sent as it is.
    with pytest.raises(UnavailableError):
        call(offline)


def test_texts_are_sent_unembedded_without_a_client_function(offline):
    request = rec_pb.AddRecordsRequest()
    offline._fill_write(request, "add", ["a"], None, None, ["some text"], None, None)
    assert not request.embeddings.data and request.documents[0].value == "some text"


def test_embedding_function_fills_in_embeddings(offline):
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    col = segmentdb.Collection(offline._client, offline._model, embedding_function=embed)
    request = rec_pb.AddRecordsRequest()
    col._fill_write(request, "add", ["a", "b"], None, None, ["xy", "xyz"], None, None)
    assert calls == [["xy", "xyz"]]
    assert segmentdb.vectors.decode(request.embeddings).tolist() == [[2.0, 1.0], [3.0, 1.0]]


def test_collection_properties(offline):
    assert isinstance(offline.id, uuid.UUID)
    assert offline.name == "docs" and repr(offline) == "Collection(name=docs)"
    assert offline.metadata is None and offline.dimension is None
    assert offline.configuration == {"hnsw": {}}


def test_client_rejects_bad_arguments_offline():
    with segmentdb.Client("127.0.0.1:1") as client:
        with pytest.raises(InvalidArgumentError, match="limit"):
            client.list_collections(limit=-1)
        with pytest.raises(InvalidArgumentError, match="configuration.hnsw"):
            client.create_collection("docs", configuration={"hnsw": {"nope": 1}})
    with pytest.raises(segmentdb.errors.FailedPreconditionError, match="closed"):
        client.heartbeat()


def test_helpers_are_chromadb_one_or_many():
    assert collection_module._ids("a", required=True) == ["a"]
    assert collection_module._one_or_many({"k": 1}, "metadatas", collection_module.Mapping, 1) == [{"k": 1}]
    assert collection_module._one_or_many("d", "documents", str, None) == ["d"]


def test_empty_id_lists_match_nothing_without_a_call(offline):
    # On the wire an empty id list means "no restriction"; in chromadb it means "no records".
    assert offline.get(ids=[])["ids"] == []
    assert offline.delete(ids=[]) == {"deleted": 0}
    result = offline.query(query_embeddings=[[1.0], [2.0]], ids=[], include=["distances"])
    assert result["ids"] == [[], []] and result["distances"] == [[], []]
