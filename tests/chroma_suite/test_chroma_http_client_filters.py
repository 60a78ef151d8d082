"""A filter-heavy workload through the stock chromadb.HttpClient, compared with the gRPC SDK.

A few hundred records with typed metadata (int, float, str, bool, a list of str; some records
without a key, some without metadata or document) are written over HTTP. Hypothesis then
generates where / where_document filters; every get and query runs over both transports on the
same service and must agree: equal ids in equal order, distances within float tolerance, equal
documents and metadatas. get's ids must also be the ones tests/model.py's evaluator selects,
so two transports agreeing on a wrong answer still fails.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model import close, matches_where, matches_where_document, typed

COUNT = 300
DIMENSION = 6
WORDS = ["apple", "banana", "cherry", "delta", "echo", "foxtrot", "golf", "hotel"]
TOPICS = ["red", "green", "blue", "ochre"]
TAGS = ["t1", "t2", "t3", "t4"]


def _corpus():
    rng = np.random.default_rng(424242)
    ids, documents, metadatas = [], [], []
    for n in range(COUNT):
        ids.append(f"r{n:04d}")
        words = rng.choice(WORDS, size=int(rng.integers(1, 5)), replace=False)
        documents.append(None if n % 23 == 0 else " ".join(words))
        if n % 31 == 0:
            metadatas.append(None)
            continue
        metadata = {"i": int(rng.integers(-20, 21)), "f": float(np.round(rng.normal(0, 10), 3)),
                    "topic": str(rng.choice(TOPICS)), "flag": bool(n % 3 == 0)}
        if n % 5 == 0:
            del metadata["i"]  # key missing: $ne and $nin match it, comparisons do not
        if n % 4 == 0:
            metadata["tags"] = sorted({str(t) for t in rng.choice(TAGS, size=2)})
        metadatas.append(metadata)
    embeddings = rng.random((COUNT, DIMENSION), dtype=np.float32)
    return ids, documents, metadatas, embeddings


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


@pytest.fixture(scope="module")
def collections(chroma_service, corpus):
    """The same collection seen by both clients, written once over HTTP."""
    import chromadb
    import segmentdb
    from chromadb.config import Settings

    http = chromadb.HttpClient(host=chroma_service.http_host, port=chroma_service.http_port,
                               settings=Settings(anonymized_telemetry=False))
    sdk = segmentdb.Client(chroma_service.grpc_address)
    name = "filter-workload"
    try:
        http.delete_collection(name)
    except Exception:  # noqa: BLE001 - absent is fine; anything else shows up in create
        pass
    ids, documents, metadatas, embeddings = corpus
    over_http = http.create_collection(name, configuration={"hnsw": {"space": "l2"}})
    # documents=None rows: chroma wants a list; a None document is allowed per record.
    for start in range(0, COUNT, 100):
        part = slice(start, start + 100)
        over_http.add(ids=ids[part], embeddings=embeddings[part], documents=documents[part],
                      metadatas=metadatas[part])
    yield over_http, sdk.get_collection(name)
    http.delete_collection(name)
    sdk.close()


# ------------------------------------------------------------------- filter strategies

# Operands drawn mostly from the stored values, so $gte/$lte/$eq hit their boundaries.
_STORED_F = sorted({m["f"] for m in _corpus()[2] if m})


def _leaf():
    ints = st.integers(-22, 22)
    floats = st.one_of(st.sampled_from(_STORED_F),
                       st.floats(-30, 30, allow_nan=False).map(lambda x: round(x, 2)))
    comparisons = st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"])
    return st.one_of(
        # the shorthand {key: value} is $eq
        st.builds(lambda v: {"i": v}, ints),
        st.builds(lambda v: {"topic": v}, st.sampled_from(TOPICS)),
        st.builds(lambda v: {"flag": v}, st.booleans()),
        st.builds(lambda op, v: {"i": {op: v}}, comparisons, ints),
        st.builds(lambda op, v: {"f": {op: v}}, comparisons, floats),
        st.builds(lambda op, v: {"i": {op: v}}, st.sampled_from(["$gt", "$lt"]), floats),
        st.builds(lambda op, v: {"topic": {op: v}}, st.sampled_from(["$eq", "$ne"]),
                  st.sampled_from(TOPICS + ["none-such"])),
        st.builds(lambda op, v: {"flag": {op: v}}, st.sampled_from(["$eq", "$ne"]), st.booleans()),
        st.builds(lambda op, v: {"i": {op: v}}, st.sampled_from(["$in", "$nin"]),
                  st.lists(ints, min_size=1, max_size=4)),
        st.builds(lambda op, v: {"topic": {op: v}}, st.sampled_from(["$in", "$nin"]),
                  st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3)),
        st.builds(lambda op, v: {"tags": {op: v}}, st.sampled_from(["$contains", "$not_contains"]),
                  st.sampled_from(TAGS)),
    )


wheres = st.recursive(
    _leaf(),
    lambda children: st.builds(lambda op, clauses: {op: clauses}, st.sampled_from(["$and", "$or"]),
                               st.lists(children, min_size=2, max_size=3)),
    max_leaves=5,
)

where_documents = st.recursive(
    st.builds(lambda op, word: {op: word}, st.sampled_from(["$contains", "$not_contains"]),
              st.sampled_from(WORDS + ["ana", "zulu"])),
    lambda children: st.builds(lambda op, clauses: {op: clauses}, st.sampled_from(["$and", "$or"]),
                               st.lists(children, min_size=2, max_size=3)),
    max_leaves=3,
)

WORKLOAD = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _typed_list(values):
    return [typed(v) for v in values]


@WORKLOAD
@given(where=st.one_of(st.none(), wheres), where_document=st.one_of(st.none(), where_documents))
def test_get_with_filters_agrees_over_http_and_grpc(collections, corpus, where, where_document):
    over_http, over_grpc = collections
    ids, documents, metadatas, _ = corpus
    include = ["documents", "metadatas"]
    got_http = over_http.get(where=where, where_document=where_document, include=include)
    got_grpc = over_grpc.get(where=where, where_document=where_document, include=include)

    expected = [i for i, d, m in zip(ids, documents, metadatas)
                if (where is None or matches_where(m, where))
                and (where_document is None or matches_where_document(d, where_document))]
    assert sorted(got_grpc["ids"]) == expected, (where, where_document)
    assert list(got_http["ids"]) == list(got_grpc["ids"])
    assert list(got_http["documents"]) == list(got_grpc["documents"])
    assert _typed_list(got_http["metadatas"]) == _typed_list(got_grpc["metadatas"])


@WORKLOAD
@given(where=st.one_of(st.none(), wheres), where_document=st.one_of(st.none(), where_documents),
       query_rows=st.lists(st.integers(0, COUNT - 1), min_size=1, max_size=3),
       n_results=st.integers(1, 12))
def test_query_with_filters_agrees_over_http_and_grpc(collections, corpus, where, where_document,
                                                      query_rows, n_results):
    over_http, over_grpc = collections
    _, _, _, embeddings = corpus
    queries = embeddings[query_rows] + np.float32(0.01)
    include = ["documents", "metadatas", "distances"]
    got_http = over_http.query(query_embeddings=queries, n_results=n_results, where=where,
                               where_document=where_document, include=include)
    got_grpc = over_grpc.query(query_embeddings=queries, n_results=n_results, where=where,
                               where_document=where_document, include=include)
    assert len(got_http["ids"]) == len(got_grpc["ids"]) == len(query_rows)
    for row in range(len(query_rows)):
        assert list(got_http["ids"][row]) == list(got_grpc["ids"][row]), (where, where_document)
        assert len(got_grpc["ids"][row]) <= n_results
        assert all(close(a, b) for a, b in zip(got_http["distances"][row],
                                                got_grpc["distances"][row]))
        assert list(got_http["documents"][row]) == list(got_grpc["documents"][row])
        assert (_typed_list(got_http["metadatas"][row])
                == _typed_list(got_grpc["metadatas"][row]))
