"""Read-your-writes across gateway replicas, and the log purge seen from outside.

Two gateways share one metadata worker and one vector worker: a write acknowledged by gateway A
must be visible to a query sent to gateway B right after, because every query carries the
collection's log position, whichever replica took the write.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import segmentdb
from processes import start


@pytest.fixture(scope="module")
def two_gateways(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two-gateways")
    data = folder / "data"
    started = []
    try:
        metadata = start("metadata_worker", folder, "metadata", "--path", str(data))
        started.append(metadata)
        vector = start("vector_worker", folder, "vector", "--path", str(data),
                       "--metadata", metadata.address)
        started.append(vector)
        for name in ("gateway-a", "gateway-b"):
            started.append(start("gateway", folder, name, "--metadata", metadata.address,
                                 "--vector-workers", vector.address))
        yield started[2].address, started[3].address
    finally:
        codes = {p.name: p.stop() for p in reversed(started)}
        assert all(code == 0 for code in codes.values()), codes


def test_a_write_on_one_gateway_is_seen_by_a_query_on_the_other(two_gateways):
    a, b = (segmentdb.Client(address) for address in two_gateways)
    writer = a.create_collection("ryw-across-replicas")
    reader = b.get_collection("ryw-across-replicas")
    rng = np.random.default_rng(7)
    # The segment is loaded (and kept loaded) by the first query; every later write must be
    # caught up before the next query on the other replica answers.
    for step in range(150):
        vector = rng.normal(size=(1, 16)).astype(np.float32)
        writer.add(ids=[f"r{step}"], embeddings=vector)
        found = reader.query(query_embeddings=vector, n_results=1, include=["distances"])
        assert found["ids"] == [[f"r{step}"]], f"step {step}: {found['ids']}"
        assert found["distances"][0][0] == pytest.approx(0.0, abs=1e-5)
        if step % 10 == 9:
            writer.delete(ids=[f"r{step}"])
            gone = reader.query(query_embeddings=vector, n_results=1)
            assert gone["ids"][0] != [f"r{step}"], f"step {step}: deleted record still found"
    assert reader.count() == 150 - 15
    a.close()
    b.close()


def test_log_is_purged_once_segments_are_saved(two_gateways):
    client = segmentdb.Client(two_gateways[0])
    # Other tests' collections share the log; their entries stay until their segments save.
    others = client.stats()["storage"]["log_entries"]
    collection = client.create_collection(
        "purge-seen-from-outside", configuration={"hnsw": {"sync_threshold": 50}})
    rng = np.random.default_rng(8)
    for batch in range(20):
        ids = [f"p{batch}-{i}" for i in range(50)]
        collection.add(ids=ids, embeddings=rng.normal(size=(50, 8)).astype(np.float32))
    # No query: the gateway's write hints have a vector worker load the segment and apply
    # the log as it grows; it saves every 50 records (sync_threshold) and reports each save,
    # and the metadata worker purges what was saved. Fewer than 50 unsaved entries remain.
    deadline = time.monotonic() + 30
    while (client.stats()["storage"]["log_entries"] - others >= 50
           and time.monotonic() < deadline):
        time.sleep(0.2)
    assert client.stats()["storage"]["log_entries"] - others < 50
    found = collection.query(query_embeddings=rng.normal(size=(1, 8)), n_results=3)
    assert len(found["ids"][0]) == 3
    assert collection.count() == 1000
    client.close()
