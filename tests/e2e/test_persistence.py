"""Persistence: stop the service, copy the data folder, start on the copy — same answers
(the seed's "move"); and the seed's exercise of reading chroma.sqlite3 directly."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import numpy as np
import pytest

import segmentdb
from model import typed


def _fill(client, rng) -> None:
    small = client.create_collection("small", metadata={"kind": "small"})
    small.add(ids=[f"s{i}" for i in range(30)],
              embeddings=rng.standard_normal((30, 5)).astype(np.float32),
              documents=[f"small doc {i}" for i in range(30)],
              metadatas=[{"i": i, "f": i / 4, "b": i % 3 == 0, "s": f"v{i % 4}",
                          "l": [i, i + 1]} for i in range(30)])
    small.update(ids=["s3"], metadatas=[{"s": None}])
    small.delete(ids=["s4"])
    cosine = client.create_collection("cosine", configuration={"hnsw": {"space": "cosine"}})
    # Enough records that the vector worker persists an HNSW segment and answers with it.
    cosine.add(ids=[f"c{i}" for i in range(5000)],
               embeddings=rng.standard_normal((5000, 8)).astype(np.float32))


def _answers(client, queries_5, queries_8) -> dict:
    small = client.get_collection("small")
    cosine = client.get_collection("cosine")
    got = small.get(include=["embeddings", "documents", "metadatas"])
    return {
        "collections": [c.name for c in client.list_collections()],
        "small.metadata": typed(small.metadata),
        "cosine.space": cosine.configuration["hnsw"]["space"],
        "small.get": (got["ids"], got["documents"], typed(got["metadatas"]),
                      np.asarray(got["embeddings"]).tobytes()),
        "small.where": small.get(where={"$and": [{"i": {"$gte": 10}},
                                                 {"l": {"$contains": 12}}]})["ids"],
        "small.query": small.query(query_embeddings=queries_5, n_results=4)["ids"],
        "cosine.count": cosine.count(),
        "cosine.query": cosine.query(query_embeddings=queries_8, n_results=10,
                                     include=["distances"]),
    }


def test_a_copied_data_folder_serves_the_same_answers(tmp_path, rng, lifecycle):
    start_service, stop_service = lifecycle.start_service, lifecycle.stop_service
    original = start_service(tmp_path / "original")
    try:
        with closing(segmentdb.Client(original.address)) as client:
            _fill(client, rng)
            queries_5 = rng.standard_normal((3, 5)).astype(np.float32)
            queries_8 = rng.standard_normal((3, 8)).astype(np.float32)
            before = _answers(client, queries_5, queries_8)
    finally:
        code = stop_service(original)
    assert code == 0, original.log()

    shutil.copytree(original.path, tmp_path / "copy")
    shutil.rmtree(original.path)  # the copy must not lean on the original in any way
    copy = start_service(tmp_path / "copy")
    try:
        with closing(segmentdb.Client(copy.address)) as client:
            after = _answers(client, queries_5, queries_8)
    finally:
        code = stop_service(copy)
    assert code == 0, copy.log()

    before_query, after_query = before.pop("cosine.query"), after.pop("cosine.query")
    assert after == before
    assert after_query["ids"] == before_query["ids"]
    np.testing.assert_allclose(after_query["distances"], before_query["distances"], atol=1e-6)


def test_a_restarted_service_keeps_every_acknowledged_write(tmp_path, rng, lifecycle):
    start_service, stop_service = lifecycle.start_service, lifecycle.stop_service
    running = start_service(tmp_path / "data")
    with closing(segmentdb.Client(running.address)) as client:
        collection = client.create_collection("kept")
        for batch in range(5):
            collection.add(ids=[f"{batch}-{i}" for i in range(300)],
                           embeddings=rng.standard_normal((300, 4)).astype(np.float32))
        probe = collection.get(ids=["4-299"], include=["embeddings"])["embeddings"]
    assert stop_service(running) == 0, running.log()

    restarted = start_service(tmp_path / "data")
    try:
        with closing(segmentdb.Client(restarted.address)) as client:
            collection = client.get_collection("kept")
            assert collection.count() == 1500
            result = collection.query(query_embeddings=probe, n_results=1)
            assert result["ids"] == [["4-299"]]
    finally:
        assert stop_service(restarted) == 0, restarted.log()


def test_embedding_metadata_is_readable_with_plain_sqlite(client, service, collection):
    collection.add(ids=["a", "b"], embeddings=[[1.0, 2.0], [3.0, 4.0]],
                   metadatas=[{"colour": "red", "size": 3, "weight": 1.5, "ok": True},
                              {"colour": "blue"}])

    db = sqlite3.connect(f"file:{service.path / 'chroma.sqlite3'}?mode=ro", uri=True)
    try:
        cursor = db.execute("SELECT * FROM embedding_metadata LIMIT 10")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
        mine = db.execute(
            "SELECT m.key, m.string_value, m.int_value, m.float_value, m.bool_value "
            "FROM embedding_metadata m JOIN embeddings e ON e.id = m.id "
            "JOIN segments s ON s.id = e.segment_id "
            "WHERE s.collection = ? AND e.embedding_id = 'a' ORDER BY m.key",
            (str(collection.id),)).fetchall()
    finally:
        db.close()

    assert {"id", "key", "string_value", "int_value", "float_value", "bool_value"} \
        <= set(columns)
    assert rows, "SELECT * FROM embedding_metadata LIMIT 10 returned no rows"
    assert mine == [("colour", "red", None, None, None), ("ok", None, None, None, 1),
                    ("size", None, 3, None, None), ("weight", None, None, 1.5, None)]


@pytest.fixture()
def rng():
    return np.random.default_rng(7)
