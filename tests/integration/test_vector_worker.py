"""A real metadata worker and a real vector worker: writes go through MetadataService, searches
through VectorService, checked against a numpy oracle over the ids written.

Covers: rebuild from ScanVectors, catch-up from ReadLog (upserts, updates, deletes), filtered
search, restart keeps results (loaded from the folder, not rebuilt), a corrupted folder is
rebuilt, DropSegment removes the folder. Every process is stopped with SIGTERM and must exit 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from segmentdb import vectors
from segmentdb.internal.v1 import (metadata_service_pb2, metadata_service_pb2_grpc,
                                   vector_service_pb2, vector_service_pb2_grpc)
from segmentdb.v1 import collection_pb2, collection_service_pb2, common_pb2, record_service_pb2

REPO = Path(__file__).resolve().parents[2]
DIM = 16
TIMEOUT = 30


class Process:
    def __init__(self, name: str, args: list[str], tmp: Path):
        self.name, self.args, self.tmp = name, args, tmp
        self.port_file = tmp / f"{name}.port.json"
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> "Process":
        self.port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.name, *self.args, "--port", "0",
             "--port-file", str(self.port_file)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + TIMEOUT
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.address = f"127.0.0.1:{json.loads(self.port_file.read_text())['port']}"
        return self

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(TIMEOUT)
        assert code == 0, f"{self.name} exited {code} on SIGTERM:\n{self.log.read_text()}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    data = tmp / "data"
    metadata = Process("metadata_worker", ["--path", str(data)], tmp).start()
    vector = Process("vector_worker", ["--path", str(data), "--metadata", metadata.address],
                     tmp).start()
    yield metadata, vector, data
    vector.stop()
    metadata.stop()


def metadata_stub(metadata: Process):
    return metadata_service_pb2_grpc.MetadataServiceStub(grpc.insecure_channel(metadata.address))


def vector_stub(vector: Process):
    return vector_service_pb2_grpc.VectorServiceStub(grpc.insecure_channel(vector.address))


class Collection:
    """Writes through the metadata worker and a model {id: vector} of what it holds."""

    def __init__(self, metadata: Process, name: str, space=collection_pb2.SPACE_L2):
        self.stub = metadata_stub(metadata)
        reply = self.stub.CreateCollection(collection_service_pb2.CreateCollectionRequest(
            name=name, configuration=collection_pb2.CollectionConfiguration(
                hnsw=collection_pb2.HnswConfiguration(space=space))), timeout=TIMEOUT)
        self.id = reply.collection.id
        self.space = space
        self.model: dict[str, np.ndarray] = {}

    def add(self, ids: list[str], array: np.ndarray) -> int:
        reply = self.stub.AddRecords(record_service_pb2.AddRecordsRequest(
            collection_id=self.id, ids=ids, embeddings=vectors.encode(array)), timeout=TIMEOUT)
        self.model.update(zip(ids, array.astype(np.float32)))
        return reply.log_sequence

    def upsert(self, ids: list[str], array: np.ndarray) -> int:
        reply = self.stub.UpsertRecords(record_service_pb2.UpsertRecordsRequest(
            collection_id=self.id, ids=ids, embeddings=vectors.encode(array)), timeout=TIMEOUT)
        self.model.update(zip(ids, array.astype(np.float32)))
        return reply.log_sequence

    def delete(self, ids: list[str]) -> int:
        reply = self.stub.DeleteRecords(record_service_pb2.DeleteRecordsRequest(
            collection_id=self.id, ids=ids), timeout=TIMEOUT)
        for id_ in ids:
            self.model.pop(id_, None)
        return reply.log_sequence

    def prepare(self, ids: list[str] | None = None):
        return self.stub.PrepareQuery(metadata_service_pb2.PrepareQueryRequest(
            collection_id=self.id, ids=ids or []), timeout=TIMEOUT)

    def ids_of(self, labels: list[int]) -> list[str]:
        reply = self.stub.FetchRecords(metadata_service_pb2.FetchRecordsRequest(
            collection_id=self.id, labels=labels, include=common_pb2.Include()), timeout=TIMEOUT)
        assert list(reply.labels) == labels
        return list(reply.records.ids)

    def oracle(self, queries: np.ndarray, k: int, allowed: list[str] | None = None):
        ids = [i for i in self.model if allowed is None or i in allowed]
        x = np.array([self.model[i] for i in ids], dtype=np.float64)
        q = queries.astype(np.float64)
        if self.space == collection_pb2.SPACE_L2:
            dist = ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        else:
            xn = x / np.linalg.norm(x, axis=1, keepdims=True)
            dist = 1.0 - (q / np.linalg.norm(q, axis=1, keepdims=True)) @ xn.T
        return [([ids[j] for j in np.argsort(row, kind="stable")[:k]],
                 np.sort(row)[:k]) for row in dist]


def search(vector: Process, collection: Collection, queries: np.ndarray, k: int,
           ids: list[str] | None = None, timeout: float | None = TIMEOUT):
    prepared = collection.prepare(ids)
    reply = vector_stub(vector).Search(vector_service_pb2.SearchRequest(
        segment=prepared.segment, queries=vectors.encode(queries), k=k,
        min_sequence=prepared.log_sequence, filtered=prepared.filtered,
        allowed=prepared.allowed), timeout=timeout)
    # The segment had applied at least what the request asked for when it searched.
    assert reply.applied_sequence >= prepared.log_sequence
    return [(collection.ids_of(list(r.labels)), np.array(r.distances)) for r in reply.results]


def assert_oracle(results, expected):
    for (got_ids, got_d), (want_ids, want_d) in zip(results, expected, strict=True):
        assert got_ids == want_ids
        np.testing.assert_allclose(got_d, want_d, rtol=1e-4, atol=1e-5)


def segment_folder(data: Path, collection: Collection) -> Path:
    return data / "index" / collection.prepare().segment.segment_id


def test_rebuild_then_catch_up_with_upserts_updates_and_deletes(cluster):
    metadata, vector, data = cluster
    rng = np.random.default_rng(11)
    col = Collection(metadata, "vw-catch-up")
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    assert [r[0] for r in search(vector, col, queries, 3)] == [[]] * 5  # no vectors yet

    col.add([f"a{i}" for i in range(300)], rng.standard_normal((300, DIM)))
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))  # rebuilt by scan

    col.add([f"b{i}" for i in range(200)], rng.standard_normal((200, DIM)))
    col.upsert(["a0", "a1", "c0"], np.vstack([queries[0], queries[1], queries[2]]))
    col.delete([f"a{i}" for i in range(10, 60)])
    results = search(vector, col, queries, 10)  # caught up from the log
    assert results[0][0][0] == "a0" and results[2][0][0] == "c0"
    assert_oracle(results, col.oracle(queries, 10))
    assert "rebuilt" in vector.log.read_text()


def test_filtered_search_by_ids(cluster):
    metadata, vector, _ = cluster
    rng = np.random.default_rng(12)
    col = Collection(metadata, "vw-filtered", space=collection_pb2.SPACE_COSINE)
    col.add([f"r{i}" for i in range(400)], rng.standard_normal((400, DIM)))
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    allowed = [f"r{i}" for i in range(0, 400, 7)] + ["missing"]
    assert_oracle(search(vector, col, queries, 20, ids=allowed),
                  col.oracle(queries, 20, allowed))


def test_restart_keeps_results_and_a_corrupted_folder_is_rebuilt(cluster):
    metadata, vector, data = cluster
    rng = np.random.default_rng(13)
    col = Collection(metadata, "vw-restart")
    col.add([f"x{i}" for i in range(500)], rng.standard_normal((500, DIM)))
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    before = search(vector, col, queries, 10)
    col.delete(["x1", "x2"])
    col.add(["y0"], queries[:1])
    after_writes = search(vector, col, queries, 10)
    assert after_writes[0][0][0] == "y0"

    vector.stop()  # persists the dirty segment
    folder = segment_folder(data, col)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["live_count"] == 499
    assert manifest["applied_sequence"] == col.prepare().log_sequence
    vector.log.write_text("")
    vector.start()
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
    log_text = vector.log.read_text()
    assert "rebuilt" not in log_text, log_text  # loaded from its folder
    assert before != after_writes

    vector.stop()
    index = folder / "hnsw_index.bin"
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    vector.log.write_text("")
    vector.start()
    assert_oracle(search(vector, col, queries, 10), col.oracle(queries, 10))
    log_text = vector.log.read_text()
    assert "will be rebuilt" in log_text and "rebuilt 499 vectors" in log_text, log_text


def test_drop_segment_removes_the_folder(cluster):
    metadata, vector, data = cluster
    rng = np.random.default_rng(14)
    col = Collection(metadata, "vw-drop")
    col.add(["d0", "d1"], rng.standard_normal((2, DIM)))
    search(vector, col, rng.standard_normal((1, DIM)).astype(np.float32), 1)
    folder = segment_folder(data, col)
    assert (folder / "manifest.json").exists()  # saved right after the rebuild
    vector_stub(vector).DropSegment(vector_service_pb2.DropSegmentRequest(
        segment_id=folder.name), timeout=TIMEOUT)
    assert not folder.exists()


def test_search_without_a_client_deadline_rebuilds_and_catches_up(cluster):
    """No deadline from the caller: grpc reports ~9e18 s remaining, which must not be passed
    on as a timeout to ReadLog/ScanVectors (it fails with DEADLINE_EXCEEDED at once)."""
    metadata, vector, _ = cluster
    rng = np.random.default_rng(15)
    col = Collection(metadata, "vw-no-deadline")
    col.add([f"n{i}" for i in range(50)], rng.standard_normal((50, DIM)))
    queries = rng.standard_normal((2, DIM)).astype(np.float32)
    assert_oracle(search(vector, col, queries, 5, timeout=None), col.oracle(queries, 5))
    col.add(["n50"], queries[:1])
    assert search(vector, col, queries, 1, timeout=None)[0][0] == ["n50"]
