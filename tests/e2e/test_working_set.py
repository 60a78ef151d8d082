"""A restarted service reloads the segments its vector workers held, before any query
(vector_worker/working_set.py), and skips what was deleted meanwhile."""

from __future__ import annotations

import shutil
import time

import numpy as np

import segmentdb


def _loaded(client) -> dict[str, int]:
    """collection id -> live count of every loaded segment, on any worker."""
    return {segment["collection_id"]: segment["live_count"]
            for worker in client.stats()["workers"] for segment in worker["segments"]}


def _wait_loaded(client, wanted: dict[str, int], timeout: float = 20) -> dict[str, int]:
    """_loaded once every collection in `wanted` has its live count loaded (or at timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loaded = _loaded(client)
        if all(loaded.get(cid) == count for cid, count in wanted.items()):
            return loaded
        time.sleep(0.1)
    return _loaded(client)


def _serve_queried_collections(lifecycle, data, names: tuple[str, ...],
                               seed: int) -> dict[str, str]:
    """One run of the service: each named collection gets 200 records and a query (so it
    is in its worker's working set at the stop). Returns name -> collection id."""
    rng = np.random.default_rng(seed)
    running = lifecycle.start_service(data)
    try:
        with segmentdb.Client(running.address) as client:
            ids = {}
            for name in names:
                collection = client.create_collection(name)
                collection.add(ids=[f"{name}{i}" for i in range(200)],
                               embeddings=rng.random((200, 8), dtype=np.float32))
                collection.query(query_embeddings=np.zeros((1, 8)), n_results=3)
                ids[name] = str(collection.id)
    finally:
        assert lifecycle.stop_service(running) == 0, running.log()
    return ids


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
            # Loaded without a single query since the restart: no hit or miss counted.
            assert _wait_loaded(client, {hot_id: 300}).get(hot_id) == 300, again.log()[-3000:]
            workers = client.stats()["workers"]
            assert sum(w["hits"] + w["misses"] for w in workers) == 0
            assert "reloading 1 segment(s)" in again.log()
    finally:
        assert lifecycle.stop_service(again) == 0, again.log()


def test_a_reloaded_segment_nobody_asks_for_is_not_carried_into_the_next_start(tmp_path,
                                                                               lifecycle):
    # A copy only reloaded (a failover fallback's, once the owner is back) must not be
    # reloaded by every start forever; one that a query used in the run is.
    data = tmp_path / "data"
    ids = _serve_queried_collections(lifecycle, data, ("used", "unused"), seed=2)

    second = lifecycle.start_service(data)
    try:
        with segmentdb.Client(second.address) as client:
            loaded = _wait_loaded(client, {ids["used"]: 200, ids["unused"]: 200})
            assert loaded.get(ids["used"]) == loaded.get(ids["unused"]) == 200, second.log()
            client.get_collection("used").query(query_embeddings=np.zeros((1, 8)), n_results=3)
    finally:
        assert lifecycle.stop_service(second) == 0, second.log()

    third = lifecycle.start_service(data)
    try:
        with segmentdb.Client(third.address) as client:
            loaded = _wait_loaded(client, {ids["used"]: 200})
            assert loaded.get(ids["used"]) == 200, third.log()[-3000:]
            time.sleep(0.5)  # the unused one would have been queued with it
            assert ids["unused"] not in _loaded(client), third.log()[-3000:]
    finally:
        assert lifecycle.stop_service(third) == 0, third.log()


def test_a_collection_deleted_while_a_worker_was_down_is_dropped_with_its_folder(tmp_path,
                                                                                lifecycle):
    data = tmp_path / "data"
    ids = _serve_queried_collections(lifecycle, data, ("kept", "gone"), seed=3)
    # What a worker that was down during the delete still has: its working-set record and
    # the segment's folder.
    saved = tmp_path / "index-before-delete"
    shutil.copytree(data / "index", saved)

    second = lifecycle.start_service(data)
    try:
        with segmentdb.Client(second.address) as client:
            client.delete_collection("gone")
    finally:
        assert lifecycle.stop_service(second) == 0, second.log()
    stale = {path.name for path in saved.iterdir()} - {path.name for path in (data / "index").iterdir()}
    assert stale, "deleting the collection removed nothing from index/"
    for name in stale:
        (shutil.copytree if (saved / name).is_dir() else shutil.copy)(saved / name, data / "index" / name)
    for record in saved.glob(".working-set-*.json"):
        shutil.copy(record, data / "index" / record.name)

    third = lifecycle.start_service(data)
    try:
        with segmentdb.Client(third.address) as client:
            loaded = _wait_loaded(client, {ids["kept"]: 200})
            assert loaded.get(ids["kept"]) == 200, third.log()[-3000:]
            deadline = time.monotonic() + 20
            while any((data / "index" / name).exists() for name in stale) and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [name for name in stale if (data / "index" / name).exists()], third.log()
            assert ids["gone"] not in _loaded(client)
    finally:
        assert lifecycle.stop_service(third) == 0, third.log()
