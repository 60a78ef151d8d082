"""grpc.health.v1 through a process's life: NOT_SERVING while the metadata worker migrates
(deterministic: the test holds SQLite's write lock, so the migration waits on it), SERVING
once done, and on SIGTERM NOT_SERVING before the process stops accepting calls, while an
in-flight stream still completes (drain), then exit 0."""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import processes
from segmentdb import vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "schema-v3" / "data"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _status(health, timeout: float = 10) -> int:
    return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout,
                        wait_for_ready=True).status


def test_metadata_worker_is_not_serving_while_it_migrates(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    sockets = Path(tempfile.mkdtemp(prefix="sdb-health-", dir="/tmp"))
    address = f"unix:{sockets}/metadata.sock"
    port_file = tmp_path / "metadata.port.json"
    blocker = sqlite3.connect(data / "chroma.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the migration's write transaction waits on this
    log_path = tmp_path / "metadata.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "metadata_worker", "--path", str(data),
                                 "--host", address, "--port", "0", "--port-file",
                                 str(port_file)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=processes.REPO)
    channel = grpc.insecure_channel(address)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        assert _status(health, timeout=60) == NOT_SERVING
        stub = metadata_service_pb2_grpc.MetadataServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "starting" in refused.value.details()
        time.sleep(0.5)
        assert _status(health) == NOT_SERVING  # still migrating: our lock holds it
        assert not port_file.exists() and proc.poll() is None

        blocker.rollback()
        blocker.close()
        deadline = time.monotonic() + 60
        while _status(health) != SERVING:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        stats = stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=30).stats
        assert stats.records > 0
        while not port_file.exists():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
    finally:
        channel.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        shutil.rmtree(sockets, ignore_errors=True)
    assert code == 0, log_path.read_text()


def _fill(stub) -> None:
    created = stub.CreateCollection(csvc.CreateCollectionRequest(name="drain"), timeout=30)
    rng = np.random.default_rng(11)
    for b in range(10):
        stub.AddRecords(rsvc.AddRecordsRequest(
            collection_id=created.collection.id, ids=[f"{b}-{i}" for i in range(200)],
            embeddings=vectors.encode(rng.standard_normal((200, 64)).astype(np.float32))),
            timeout=30)


def test_sigterm_flips_health_refuses_new_calls_and_drains_a_stream(tmp_path):
    worker = processes.start("metadata_worker", tmp_path, "metadata", "--path",
                             str(tmp_path / "data"), "--shutdown-grace", "60")
    # A 64 KiB receive window (no BDP probing): the stream is held while we don't read.
    channel = grpc.insecure_channel(worker.address, options=[("grpc.http2.bdp_probe", 0)])
    try:
        stub = metadata_service_pb2_grpc.MetadataServiceStub(channel)
        _fill(stub)
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=120)
        assert next(watch).status == SERVING
        stream = stub.StreamSnapshot(msvc.StreamSnapshotRequest(chunk_bytes=65536), timeout=120)
        data = bytearray()
        for message in stream:
            if message.WhichOneof("part") == "manifest":
                manifest = message.manifest
            elif message.WhichOneof("part") == "chunk":
                data += message.chunk.data
                break
        worker.proc.send_signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
        watch.cancel()  # an open Watch is an in-flight call too: it would hold the drain
        # New calls are refused while the stream is still in flight (the process waits).
        deadline = time.monotonic() + 30
        while True:
            try:
                stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=5)
            except grpc.RpcError as err:
                # Refused: UNAVAILABLE (GOAWAY, listener closed) or CANCELLED (a call that
                # reached the server after stop() is cancelled, never run).
                assert err.code() in (grpc.StatusCode.UNAVAILABLE,
                                      grpc.StatusCode.CANCELLED), err
                break
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert worker.proc.poll() is None
        for message in stream:
            data += message.chunk.data
        assert len(data) == manifest.files[0].size_bytes
        assert hashlib.sha256(data).hexdigest() == manifest.files[0].sha256
        assert worker.proc.wait(30) == 0, worker.log_path.read_text()
    finally:
        channel.close()
        worker.stop()
    # What was drained is a whole database holding every record.
    (tmp_path / "copy.sqlite3").write_bytes(bytes(data))
    with closing(sqlite3.connect(tmp_path / "copy.sqlite3")) as copy:
        assert copy.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (2000,)
