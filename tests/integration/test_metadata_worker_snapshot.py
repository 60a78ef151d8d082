"""MetadataService.StreamSnapshot against a real metadata worker process: the message order
and contents, a full disk (RLIMIT_FSIZE lowered with prlimit) and a worker killed mid-stream
(its leftover snapshot is removed at the next start)."""

from __future__ import annotations

import hashlib
import resource
import signal
import sqlite3
import time
from contextlib import closing

import grpc
import numpy as np
import pytest

from segmentdb import errors, vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc

import processes


def _start(tmp_path, name: str = "metadata"):
    worker = processes.start("metadata_worker", tmp_path, name, "--path",
                             str(tmp_path / "data"))
    # No BDP probing: the receive window stays at 64 KiB, so a worker streaming to a reader
    # that pauses is held after a chunk or two instead of pushing the whole (small) snapshot
    # into the transport and deleting its temp file (the killed-worker test needs it held).
    channel = grpc.insecure_channel(worker.address, options=[("grpc.http2.bdp_probe", 0)])
    return worker, channel, metadata_service_pb2_grpc.MetadataServiceStub(channel)


def _fill(stub, batches: int = 10, size: int = 200) -> int:
    created = stub.CreateCollection(csvc.CreateCollectionRequest(name="snap"), timeout=30)
    rng = np.random.default_rng(5)
    sequence = 0
    for b in range(batches):
        reply = stub.AddRecords(rsvc.AddRecordsRequest(
            collection_id=created.collection.id, ids=[f"{b}-{i}" for i in range(size)],
            embeddings=vectors.encode(rng.standard_normal((size, 64)).astype(np.float32))),
            timeout=30)
        sequence = reply.log_sequence
    return sequence


def _snapshots(tmp_path) -> list[str]:
    folder = tmp_path / "data" / ".snapshots"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_stream_order_contents_and_log_position(tmp_path):
    worker, channel, stub = _start(tmp_path)
    try:
        sequence = _fill(stub)
        parts, data = [], bytearray()
        for message in stub.StreamSnapshot(msvc.StreamSnapshotRequest(chunk_bytes=65536),
                                           timeout=60):
            part = message.WhichOneof("part")
            parts.append(part)
            if part == "manifest":
                manifest = message.manifest
            elif part == "chunk":
                assert message.chunk.path == "chroma.sqlite3"
                assert message.chunk.offset == len(data)
                assert len(message.chunk.data) <= 65536
                data += message.chunk.data
        first_chunk = parts.index("chunk")
        assert parts[:first_chunk] == ["progress"] * (first_chunk - 1) + ["manifest"]
        assert set(parts[first_chunk:]) == {"chunk"}
        assert manifest.log_position == sequence == 2000
        assert manifest.records == 2000 and manifest.collections == 1
        (entry,) = manifest.files
        assert entry.size_bytes == len(data) and entry.sha256 == hashlib.sha256(data).hexdigest()
        # The streamed bytes are a whole SQLite database holding what was written.
        (tmp_path / "copy.sqlite3").write_bytes(bytes(data))
        with closing(sqlite3.connect(tmp_path / "copy.sqlite3")) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert copy.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (2000,)
            assert copy.execute("SELECT MAX(version) FROM migrations").fetchone() == (
                manifest.schema_version,)
        assert _snapshots(tmp_path) == []

        with pytest.raises(grpc.RpcError) as failed:
            next(iter(stub.StreamSnapshot(msvc.StreamSnapshotRequest(chunk_bytes=100),
                                          timeout=30)))
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "chunk_bytes" in failed.value.details()
    finally:
        channel.close()
        assert worker.stop() == 0


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_no_space_for_the_snapshot_is_resource_exhausted_and_leaves_nothing(tmp_path):
    worker, channel, stub = _start(tmp_path)
    try:
        _fill(stub)
        # The database's files may keep their size; a new file past 256 KiB may not.
        _, hard = resource.prlimit(worker.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(worker.proc.pid, resource.RLIMIT_FSIZE, (256 * 1024, hard))
        with pytest.raises(grpc.RpcError) as failed:
            list(stub.StreamSnapshot(msvc.StreamSnapshotRequest(), timeout=60))
        error = errors.from_rpc_error(failed.value)
        assert isinstance(error, errors.StorageFullError), failed.value.details()
        assert "no space for the backup's snapshot" in error.message
        assert _snapshots(tmp_path) == []
        # Reads go on, and with space back the next backup works.
        assert stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=30).stats.records == 2000
        resource.prlimit(worker.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
        parts = [m.WhichOneof("part")
                 for m in stub.StreamSnapshot(msvc.StreamSnapshotRequest(), timeout=60)]
        assert "manifest" in parts and parts[-1] == "chunk"
    finally:
        channel.close()
        assert worker.stop() == 0


def test_a_snapshot_left_by_a_killed_worker_is_removed_at_the_next_start(tmp_path):
    worker, channel, stub = _start(tmp_path)
    try:
        _fill(stub)
        stream = stub.StreamSnapshot(msvc.StreamSnapshotRequest(chunk_bytes=65536), timeout=60)
        while next(stream).WhichOneof("part") != "chunk":
            pass
        assert len(_snapshots(tmp_path)) == 1  # held while streaming
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(30)
        assert len(_snapshots(tmp_path)) == 1
    finally:
        channel.close()
        worker.stop()
    worker, channel, stub = _start(tmp_path, "restarted")
    try:
        deadline = time.monotonic() + 10
        while _snapshots(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _snapshots(tmp_path) == []
        assert stub.GetStorageStats(msvc.GetStorageStatsRequest(), timeout=30).stats.records == 2000
    finally:
        channel.close()
        assert worker.stop() == 0
