"""The seed's export/import example (section 5) with the stock chromadb.HttpClient.

The seed exports a collection to a DataFrame and a CSV file, then imports the DataFrame into a
new collection. Chroma's default embedding function would download a model (no internet here),
so embeddings travel explicitly, as the seed's `include=[..., 'embeddings']` already fetches
them. The result is read back over HTTP and over gRPC (segmentdb.Client) and must match.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _records(count: int, dimension: int, seed: int = 20261202):
    rng = np.random.default_rng(seed)
    ids = [f"doc-{i:03d}" for i in range(count)]
    documents = [f"document number {i} about {['cats', 'dogs', 'fish'][i % 3]}" for i in range(count)]
    metadatas = [{"topic": ["cats", "dogs", "fish"][i % 3], "rank": i, "score": i / 7,
                  "even": i % 2 == 0} for i in range(count)]
    embeddings = rng.random((count, dimension), dtype=np.float32)
    return ids, documents, metadatas, embeddings


def test_the_seed_export_import_example_runs_over_chromas_http_client(
        chroma_http_client, sdk_client, collection_name, tmp_path):
    ids, documents, metadatas, embeddings = _records(60, 8)
    source = chroma_http_client.create_collection(f"{collection_name}my_data")
    source.add(ids=ids, documents=documents, metadatas=metadatas, embeddings=embeddings)

    # --- the seed, as written (get with embeddings, DataFrame, CSV) ---
    collection = chroma_http_client.get_collection(f"{collection_name}my_data")
    data = collection.get(include=["documents", "metadatas", "embeddings"])
    df = pd.DataFrame({"ids": data["ids"], "documents": data["documents"],
                       "metadatas": data["metadatas"]})
    df.to_csv(tmp_path / "my_export.csv", index=False)

    new_coll = chroma_http_client.create_collection(f"{collection_name}restored_data")
    new_coll.add(ids=df["ids"].tolist(), documents=df["documents"].tolist(),
                 metadatas=df["metadatas"].tolist(), embeddings=data["embeddings"])

    # The export holds what was added.
    assert sorted(data["ids"]) == ids
    by_id = {i: n for n, i in enumerate(ids)}
    order = [by_id[i] for i in data["ids"]]
    assert data["documents"] == [documents[n] for n in order]
    assert data["metadatas"] == [metadatas[n] for n in order]
    np.testing.assert_array_equal(np.asarray(data["embeddings"], dtype=np.float32), embeddings[order])
    # The CSV file is a real one: pandas reads the ids and documents back.
    written = pd.read_csv(tmp_path / "my_export.csv")
    assert written["ids"].tolist() == data["ids"]
    assert written["documents"].tolist() == data["documents"]

    # The restored collection, read over HTTP and over gRPC, equals the source.
    assert new_coll.count() == len(ids)
    over_http = new_coll.get(include=["documents", "metadatas", "embeddings"])
    over_grpc = sdk_client.get_collection(f"{collection_name}restored_data").get(
        include=["documents", "metadatas", "embeddings"])
    for restored in (over_http, over_grpc):
        assert list(restored["ids"]) == list(data["ids"])
        assert list(restored["documents"]) == list(data["documents"])
        assert list(restored["metadatas"]) == list(data["metadatas"])
        np.testing.assert_array_equal(np.asarray(restored["embeddings"], dtype=np.float32),
                                      np.asarray(data["embeddings"], dtype=np.float32))

    # A query over HTTP finds each restored record nearest to its own vector.
    hits = new_coll.query(query_embeddings=embeddings[:5], n_results=1, include=["distances"])
    assert [row[0] for row in hits["ids"]] == ids[:5]
    assert all(abs(row[0]) < 1e-5 for row in hits["distances"])

    chroma_http_client.delete_collection(f"{collection_name}my_data")
    chroma_http_client.delete_collection(f"{collection_name}restored_data")
