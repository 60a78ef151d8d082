"""A restarted service reloads the segments its vector workers held, before any query
(vector_worker/working_set.py), and skips what was deleted meanwhile."""

from __future__ import annotations

import time

import numpy as np

import segmentdb


def _loaded(client) -> dict[str, int]:
    """collection id -> live count of every loaded segment, on any worker."""
    return {segment["collection_id"]: segment["live_count"]
            for worker in client.stats()["workers"] for segment in worker["segments"]}


def test_a_restart_reloads_the_working_set_in_the_background(tmp_path, lifecycle):
    data = tmp_path / "data"
    running = lifecycle.start_service(data)
    try:
        with segmentdb.Client(running.address) as client:
            hot = client.create_collection("hot")
            hot.add(ids=[f"h{i}" for i in range(300)],
                    embeddings=np.random.default_rng(1).random((300, 16), dtype=np.float32))
            hot.query(query_embeddings=np.zeros((1, 16)), n_results=3)
            hot_id = str(hot.id)
            assert _loaded(client).get(hot_id) == 300
    finally:
        assert lifecycle.stop_service(running) == 0, running.log()

    again = lifecycle.start_service(data)
    try:
        with segmentdb.Client(again.address) as client:
            deadline = time.monotonic() + 20
            while _loaded(client).get(hot_id) != 300 and time.monotonic() < deadline:
                time.sleep(0.1)
            # Loaded without a single query since the restart: no hit or miss counted.
            assert _loaded(client).get(hot_id) == 300, again.log()[-3000:]
            workers = client.stats()["workers"]
            assert sum(w["hits"] + w["misses"] for w in workers) == 0
            assert "reloading 1 segment(s)" in again.log()
    finally:
        assert lifecycle.stop_service(again) == 0, again.log()
