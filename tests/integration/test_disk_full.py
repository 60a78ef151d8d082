"""Running out of disk, for real: a metadata worker process whose RLIMIT_FSIZE is lowered
(`prlimit`) just above its files' current sizes, so SQLite's next growth fails with EFBIG.

Writes then fail with StorageFullError (RESOURCE_EXHAUSTED) and a message saying what to do;
the process stays up and keeps answering reads; every acknowledged record is still there
bit-exact and no failed batch is half-present; once the limit is raised, writes succeed
again; SIGTERM exits 0 and a restarted worker finds everything (the WAL, whose checkpoint
could not complete while the limit was low, loses nothing).
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from segmentdb import errors, vectors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.internal.v1 import metadata_service_pb2_grpc
from segmentdb.v1 import common_pb2 as pb
from segmentdb.v1 import collection_service_pb2 as csvc
from segmentdb.v1 import record_service_pb2 as rsvc

pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")

REPO = Path(__file__).resolve().parents[2]
DIM = 64
BATCH = 40
MARGIN = 256 * 1024  # bytes the files may still grow once the limit is set
MAX_BATCHES = 1000   # a bound on "write until full" (~80 KiB of SQLite pages per batch)


# -- the process -----------------------------------------------------------------------------

@dataclass
class Worker:
    data: Path
    log: Path
    proc: subprocess.Popen = None
    channel: grpc.Channel = None
    stub: metadata_service_pb2_grpc.MetadataServiceStub = None

    def start(self) -> "Worker":
        port_file = self.data.parent / "port.json"
        if port_file.exists():
            port_file.unlink()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "metadata_worker", "--path", str(self.data), "--port", "0",
             "--port-file", str(port_file)],
            cwd=REPO, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"metadata worker did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        port = json.loads(port_file.read_text())["port"]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = metadata_service_pb2_grpc.MetadataServiceStub(self.channel)
        return self

    def limit_file_size(self, limit: int) -> None:
        # Only the soft limit: it is what the kernel enforces, and it can be raised again
        # without privileges (the hard limit could not, once lowered, unless root).
        _, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))

    def file_sizes(self) -> dict[str, int]:
        return {p.name: p.stat().st_size for p in self.data.iterdir() if p.is_file()}

    def stop(self) -> int:
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture()
def worker(tmp_path):
    w = Worker(tmp_path / "data", tmp_path / "worker.log").start()
    yield w
    w.kill()


# -- the data: every batch reproducible from its number ----------------------------------------

def batch(n: int) -> tuple[list[str], np.ndarray, list[str], list[dict]]:
    rng = np.random.default_rng(n)
    ids = [f"b{n}-{j}" for j in range(BATCH)]
    array = rng.standard_normal((BATCH, DIM)).astype(np.float32)
    documents = [f"batch {n} record {j} " + "lorem ipsum dolor " * 12 for j in range(BATCH)]
    metadatas = [{"batch": n, "j": j, "tag": f"t{(n * BATCH + j) % 17}"} for j in range(BATCH)]
    return ids, array, documents, metadatas


def _value(v) -> pb.MetadataValue:
    return pb.MetadataValue(int_value=v) if isinstance(v, int) else pb.MetadataValue(string_value=v)


def add_batch(stub, collection_id: str, n: int):
    ids, array, documents, metadatas = batch(n)
    return stub.AddRecords(rsvc.AddRecordsRequest(
        collection_id=collection_id, ids=ids, embeddings=vectors.encode(array),
        documents=[pb.OptionalString(value=d) for d in documents],
        metadatas=[pb.Metadata(fields={k: _value(v) for k, v in m.items()}) for m in metadatas]),
        timeout=60)


@dataclass
class Ledger:
    """Which batches were acknowledged and which failed."""

    collection_id: str
    acked: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    next: int = 0

    def write(self, stub) -> errors.SegmentDBError | None:
        n, self.next = self.next, self.next + 1
        try:
            reply = add_batch(stub, self.collection_id, n)
        except grpc.RpcError as exc:
            self.failed.append(n)
            return errors.from_rpc_error(exc)
        assert reply.inserted == BATCH
        self.acked.append(n)
        return None


def assert_exactly_the_acknowledged_records(stub, ledger: Ledger) -> None:
    """Every acknowledged record bit-exact, no trace of a failed batch, log rows to match."""
    got = stub.GetRecords(rsvc.GetRecordsRequest(
        collection_id=ledger.collection_id,
        include=pb.Include(fields=[pb.INCLUDE_FIELD_DOCUMENTS, pb.INCLUDE_FIELD_METADATAS,
                                   pb.INCLUDE_FIELD_EMBEDDINGS])), timeout=60).records
    expected_ids, expected_vectors, expected_docs, expected_meta = [], [], [], []
    for n in ledger.acked:
        ids, array, documents, metadatas = batch(n)
        expected_ids += ids
        expected_vectors.append(array)
        expected_docs += documents
        expected_meta += metadatas
    assert list(got.ids) == expected_ids
    assert vectors.decode(got.embeddings).tobytes() == np.concatenate(expected_vectors).tobytes()
    assert [d.value for d in got.documents] == expected_docs
    assert [{k: getattr(v, v.WhichOneof("kind")) for k, v in m.fields.items()}
            for m in got.metadatas] == expected_meta
    failed_ids = [i for n in ledger.failed if n not in ledger.acked for i in batch(n)[0]]
    stray = stub.GetRecords(rsvc.GetRecordsRequest(collection_id=ledger.collection_id,
                                                   ids=failed_ids), timeout=60).records
    assert list(stray.ids) == []
    # One UPSERT log row per acknowledged record and none for a failed batch.
    log = stub.ReadLog(msvc.ReadLogRequest(collection_id=ledger.collection_id, limit=1_000_000),
                       timeout=60)
    assert len(log.sequences) == len(expected_ids) and not log.more


def fill_until_full(worker: Worker, ledger: Ledger, limit: int | None = None
                    ) -> errors.SegmentDBError:
    """Limit the worker's file size (default: just above its largest file), then write
    batches until one fails."""
    if limit is None:
        limit = max(worker.file_sizes().values()) + MARGIN
    worker.limit_file_size(limit)
    for _ in range(MAX_BATCHES):
        failure = ledger.write(worker.stub)
        if failure is not None:
            return failure
    pytest.fail(f"{MAX_BATCHES} batches fitted under the limit; files now {worker.file_sizes()}")


def ignores_sigxfsz(pid: int) -> bool:
    """Whether the process ignores SIGXFSZ (else a write past the limit kills it)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGXFSZ - 1)))
    return False


# -- the tests ------------------------------------------------------------------------------------

def test_a_full_disk_refuses_writes_keeps_every_acknowledged_one_and_recovers(worker):
    stub = worker.stub
    assert ignores_sigxfsz(worker.proc.pid)
    collection = stub.CreateCollection(csvc.CreateCollectionRequest(name="full")).collection
    ledger = Ledger(collection.id)
    for _ in range(30):
        assert ledger.write(stub) is None

    failure = fill_until_full(worker, ledger)
    assert isinstance(failure, errors.StorageFullError), failure
    assert failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "is full" in failure.message and "nothing was written" in failure.message
    assert "free some space and retry" in failure.message
    assert len(ledger.acked) > 30  # the limit let some growth through before it bit

    # Still full: more writes fail the same way (some may fit in space a rollback left).
    for _ in range(3):
        again = ledger.write(stub)
        assert again is None or isinstance(again, errors.StorageFullError)
    assert worker.proc.poll() is None, "the worker died of SIGXFSZ or the error"
    health = health_pb2_grpc.HealthStub(worker.channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # Reads keep working while the disk is full.
    assert_exactly_the_acknowledged_records(stub, ledger)
    prepared = stub.PrepareQuery(msvc.PrepareQueryRequest(collection_id=collection.id))
    assert prepared.record_count == len(ledger.acked) * BATCH

    # Space returns: writes succeed again, the failed batches included.
    worker.limit_file_size(resource.RLIM_INFINITY)
    for _ in range(5):
        assert ledger.write(stub) is None
    retried = ledger.failed[0]
    assert add_batch(stub, collection.id, retried).inserted == BATCH
    ledger.acked.append(retried)
    assert_exactly_the_acknowledged_records(stub, ledger)
    log_text = worker.log.read_text()
    assert "write refused" in log_text and "Traceback" not in log_text

    assert worker.stop() == 0, worker.log.read_text()
    # The shutdown checkpoint folded the WAL into the database; a new process sees it all.
    worker.start()
    assert_exactly_the_acknowledged_records(worker.stub, ledger)
    assert worker.stop() == 0


def test_stopping_while_full_loses_nothing_committed_in_the_wal(worker):
    stub = worker.stub
    collection = stub.CreateCollection(csvc.CreateCollectionRequest(name="full-stop")).collection
    ledger = Ledger(collection.id)
    for _ in range(60):
        assert ledger.write(stub) is None
    # A restart folds the WAL into chroma.sqlite3: the database file is now the large one.
    assert worker.stop() == 0, worker.log.read_text()
    worker.start()
    for _ in range(3):
        assert ledger.write(worker.stub) is None
    database_bytes = worker.file_sizes()["chroma.sqlite3"]
    # The database file may not grow at all: checkpoints fail, the WAL grows to the limit.
    assert isinstance(fill_until_full(worker, ledger, limit=database_bytes),
                      errors.StorageFullError)
    assert worker.file_sizes()["chroma.sqlite3"] == database_bytes

    # SIGTERM with the limit still low: the shutdown checkpoint cannot copy the WAL into the
    # database file, so the committed pages stay in the -wal file, which the next start reads.
    assert worker.stop() == 0, worker.log.read_text()
    assert "WAL checkpoint at shutdown failed" in worker.log.read_text()
    assert (worker.data / "chroma.sqlite3-wal").stat().st_size > 0
    worker.start()
    assert_exactly_the_acknowledged_records(worker.stub, ledger)
    assert ledger.write(worker.stub) is None
    assert_exactly_the_acknowledged_records(worker.stub, ledger)
    assert worker.stop() == 0
