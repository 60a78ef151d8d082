"""The SDK carries an export and an import across a gateway killed mid-stream.

Own topology (metadata worker, vector worker, gateway as separate processes) so the gateway
can be killed with SIGKILL and started again on the same port while a stream is open. The
export resumes from the last page's token, the import reopens its stream with the same
import id and resends only the chunks the server had not committed: every record arrives
exactly once either way.
"""

from __future__ import annotations

import signal
import threading

import numpy as np
import pytest

import segmentdb
from processes import start
from segmentdb.transfer import Records

COUNT = 6_000
DIM = 4


@pytest.fixture()
def topology(tmp_path):
    data = tmp_path / "data"
    started = {}
    try:
        started["metadata"] = start("metadata_worker", tmp_path, "metadata", "--path", str(data))
        started["vector"] = start("vector_worker", tmp_path, "vector", "--path", str(data),
                                  "--metadata", started["metadata"].address)
        started["gateway"] = _gateway(tmp_path, started, "0", "gateway")
        yield tmp_path, started
    finally:
        codes = {name: p.stop() for name, p in reversed(list(started.items()))}
        assert all(code == 0 for code in codes.values()), codes


def _gateway(folder, started, port: str, name: str):
    return start("gateway", folder, name, "--metadata", started["metadata"].address,
                 "--vector-workers", started["vector"].address, "--port", port)


def _restart_gateway(folder, started) -> threading.Thread:
    """SIGKILL the gateway, then start a new one on the same port (in the background)."""
    old = started["gateway"]
    port = old.address.rsplit(":", 1)[1]
    old.proc.send_signal(signal.SIGKILL)
    old.proc.wait()

    def again():
        started["gateway"] = _gateway(folder, started, port, "gateway-again")

    thread = threading.Thread(target=again)
    thread.start()
    return thread


def _batches(count: int, size: int, padding: int = 0):
    for begin in range(0, count, size):
        stop = min(begin + size, count)
        yield Records([f"x{i:05d}" for i in range(begin, stop)],
                      np.arange(begin * DIM, stop * DIM, dtype=np.float32).reshape(-1, DIM),
                      [f"doc {i}" + "." * padding for i in range(begin, stop)],
                      [{"i": i} for i in range(begin, stop)])


def test_an_import_survives_a_gateway_restart_without_duplicates(topology):
    folder, started = topology
    client = segmentdb.Client(started["gateway"].address)
    restarted: list[threading.Thread] = []

    def records():
        for index, batch in enumerate(_batches(COUNT, 300)):
            if index == 6:  # 1800 records sent, some of them acknowledged
                restarted.append(_restart_gateway(folder, started))
            yield batch

    result = client.import_records("resumed-import", records(), import_id="across-restart",
                                   chunk_size=100)
    restarted[0].join()
    assert result.resumptions >= 1
    assert result.committed_records == COUNT
    assert result.chunks + result.resent_chunks == COUNT // 100
    collection = client.get_collection("resumed-import")
    assert collection.count() == COUNT
    got = collection.get(include=["metadatas", "embeddings"])
    assert got["ids"] == [f"x{i:05d}" for i in range(COUNT)]
    assert [m["i"] for m in got["metadatas"]] == list(range(COUNT))
    assert got["embeddings"][:, 0].tolist() == [float(i * DIM) for i in range(COUNT)]
    client.close()


def test_an_export_survives_a_gateway_restart_with_every_record_once(topology):
    folder, started = topology
    client = segmentdb.Client(started["gateway"].address)
    # 4 KiB documents: 24 MiB in all, more than gRPC buffers ahead of the reader, so the
    # stream is still running when the gateway dies.
    client.import_records("to-export", _batches(COUNT, 1000, padding=4096), import_id="fill")
    export = client.get_collection("to-export").export_records(page_size=250)
    received: list[str] = []
    restarted = None
    for number, page in enumerate(export):
        received.extend(page.ids)
        if number == 3:
            restarted = _restart_gateway(folder, started)
    restarted.join()
    assert export.resumptions >= 1
    assert received == [f"x{i:05d}" for i in range(COUNT)]
    client.close()
