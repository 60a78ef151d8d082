"""kill -9 the metadata worker in the middle of an import: the chunk in flight either
committed with its progress row or not at all, serve restarts the worker, the SDK reopens
the stream, and the collection ends with every record exactly once."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import numpy as np

import fault_processes as processes
import segmentdb
from segmentdb.transfer import Records

COUNT = 20_000


def _batches(on_batch):
    for index, begin in enumerate(range(0, COUNT, 500)):
        on_batch(index)
        yield Records([f"k{i:05d}" for i in range(begin, begin + 500)],
                      np.arange(begin * 2, (begin + 500) * 2, dtype=np.float32).reshape(500, 2),
                      [f"d{i}" for i in range(begin, begin + 500)],
                      [{"i": i} for i in range(begin, begin + 500)])


def test_an_import_survives_kill9_of_the_metadata_worker(services, tmp_path):
    service = services.start(tmp_path / "data", vector_workers=1)
    serve_pid = service.process.pid
    killed: list[int] = []

    def maybe_kill(index: int) -> None:
        if index == 8:  # 4000 records sent, 100-record chunks in flight
            victim = processes.wait_for_roles(serve_pid, {"metadata-worker"})["metadata-worker"]
            processes.kill9(victim)
            killed.append(victim)

    with closing(segmentdb.Client(service.address)) as client:
        result = client.import_records("survivor", _batches(maybe_kill), import_id="kill9",
                                       chunk_size=100)
        assert killed and result.resumptions >= 1
        assert result.committed_records == COUNT
        collection = client.get_collection("survivor")
        got = collection.get(include=["documents", "metadatas", "embeddings"])
    assert processes.roles(serve_pid)["metadata-worker"] != killed[0]
    assert got["ids"] == [f"k{i:05d}" for i in range(COUNT)]
    assert got["documents"] == [f"d{i}" for i in range(COUNT)]
    assert [m["i"] for m in got["metadatas"]] == list(range(COUNT))
    assert got["embeddings"][:, 0].tolist() == [float(2 * i) for i in range(COUNT)]
    services.stop(service)
    with closing(sqlite3.connect(f"file:{tmp_path / 'data' / 'chroma.sqlite3'}?mode=ro",
                                 uri=True)) as conn:
        rows = conn.execute("SELECT committed_records, committed_chunks FROM import_progress "
                            "WHERE import_id = 'kill9'").fetchall()
        stored = conn.execute("SELECT record_count FROM collections WHERE name = 'survivor'")
        assert stored.fetchone() == (COUNT,)
    assert rows == [(COUNT, COUNT // 100)]
