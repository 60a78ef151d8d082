"""Online backup while clients write, and restore: the copy is exactly a prefix of the log.

Four client threads (each its own channel) add batches whose ids they choose, through the
public RecordService so every acknowledgement carries its log sequence number. A backup is
taken meanwhile, restored into a new folder, and `segmentdb serve` opens the restored
folder. The restored copy must hold exactly the batches with log_sequence <= the backup's
log position (a prefix of the log), each batch entirely or not at all, every batch
acknowledged before the backup began, nothing that was never sent, vectors bit for bit, and
answer queries like exact numpy search over what it holds.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

import segmentdb
from segmentdb import errors, vectors
from segmentdb.v1 import common_pb2, record_service_pb2 as rec_pb
from segmentdb.v1 import record_service_pb2_grpc as rec_grpc

WRITERS = 4
BATCH = 5
DIMENSION = 16
# At most this many batches per writer: 2 writers x 300 x 5 = 3,000 records per collection,
# under the exact-search threshold (4,096), so queries on the copy are exact by contract.
MAX_BATCHES = 300
# Enough data that the snapshot and its transfer take a while, so writes overlap them.
BULK_RECORDS = 20_000
BULK_DIMENSION = 64


@dataclass
class Batch:
    writer: int
    number: int
    collection: str
    ids: list[str]
    vectors: np.ndarray
    sent_at: float
    acked_at: float = 0.0
    log_sequence: int = 0


def _writer(address: str, writer: int, collection_id: str, collection: str,
            stop: threading.Event, done: list[Batch], failures: list[BaseException]) -> None:
    rng = np.random.default_rng(1000 + writer)
    channel = grpc.insecure_channel(address)
    stub = rec_grpc.RecordServiceStub(channel)
    try:
        for number in range(MAX_BATCHES):
            if stop.is_set():
                break
            ids = [f"w{writer}-b{number}-r{j}" for j in range(BATCH)]
            array = rng.standard_normal((BATCH, DIMENSION)).astype(np.float32)
            request = rec_pb.AddRecordsRequest(
                collection_id=collection_id, ids=ids, embeddings=vectors.encode(array),
                documents=[common_pb2.OptionalString(value=i) for i in ids])
            batch = Batch(writer, number, collection, ids, array, time.monotonic())
            response = stub.AddRecords(request, timeout=60)
            batch.acked_at = time.monotonic()
            batch.log_sequence = response.log_sequence
            assert response.inserted == BATCH
            done.append(batch)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        failures.append(exc)
    finally:
        channel.close()


def _all_records(client, name: str) -> dict[str, tuple[np.ndarray, str]]:
    got = client.get_collection(name).get(include=["embeddings", "documents"])
    return {i: (np.asarray(e, dtype=np.float32), d)
            for i, e, d in zip(got["ids"], got["embeddings"], got["documents"])}


def test_backup_under_concurrent_writes_restores_an_exact_prefix_of_the_log(tmp_path,
                                                                            lifecycle):
    source = lifecycle.start_service(tmp_path / "source")
    restored = None
    try:
        with closing(segmentdb.Client(source.address)) as client:
            rng = np.random.default_rng(7)
            bulk = client.create_collection("bulk")
            for start in range(0, BULK_RECORDS, 5000):
                bulk.add(ids=[f"bulk{i}" for i in range(start, start + 5000)],
                         embeddings=rng.standard_normal((5000, BULK_DIMENSION)).astype(np.float32))
            targets = [client.create_collection("alpha"), client.create_collection("beta")]

            stop = threading.Event()
            done: list[list[Batch]] = [[] for _ in range(WRITERS)]
            failures: list[BaseException] = []
            threads = [threading.Thread(target=_writer, args=(
                source.address, w, str(targets[w % 2].id), targets[w % 2].name, stop, done[w],
                failures)) for w in range(WRITERS)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 60
            while min(len(d) for d in done) < 3 and not failures:
                assert time.monotonic() < deadline, "writers did not get going"
                time.sleep(0.01)
            assert not failures, failures

            backup_started = time.monotonic()
            summary = client.backup(str(tmp_path / "backup.tar.gz"))
            backup_ended = time.monotonic()
            time.sleep(0.2)  # writes after the backup, which it must not hold
            stop.set()
            for thread in threads:
                thread.join(60)
            assert not failures, failures

            # While the service runs its folder cannot be restored over, even with force.
            with pytest.raises(errors.FailedPreconditionError, match="stop the service"):
                segmentdb.restore_backup(tmp_path / "backup.tar.gz", source.path, force=True)
            assert source.process.poll() is None

        batches = [b for d in done for b in d]
        manifest = summary["manifest"]
        position = manifest["log_position"]
        during = [b for b in batches if backup_started < b.acked_at and b.sent_at < backup_ended]
        assert during, "no write was acknowledged while the backup ran: it blocked writers?"
        assert any(b.log_sequence > position for b in batches), "nothing written after the snapshot"

        result = segmentdb.restore_backup(tmp_path / "backup.tar.gz", tmp_path / "restored")
        assert result.manifest.log_position == position
        restored = lifecycle.start_service(tmp_path / "restored")
        with closing(segmentdb.Client(restored.address)) as client:
            held = {**_all_records(client, "alpha"), **_all_records(client, "beta")}
            assert client.get_collection("bulk").count() == BULK_RECORDS
            assert manifest["records"] == BULK_RECORDS + len(held)
            assert manifest["collections"] == 3

            sent = {i for b in batches for i in b.ids}
            assert set(held) <= sent, "the copy holds ids no client sent"
            for b in batches:
                present = [i in held for i in b.ids]
                assert all(present) or not any(present), f"batch {b.writer}/{b.number} torn"
                # Exactly a prefix of the log: a batch is in the copy iff it was logged at or
                # before the snapshot's position.
                assert all(present) == (b.log_sequence <= position), (
                    f"batch {b.writer}/{b.number} seq {b.log_sequence}, position {position}")
                if b.acked_at < backup_started:
                    assert all(present), f"batch {b.writer}/{b.number} acknowledged before the " \
                                         "backup began is missing"
                if all(present):
                    for i, row in zip(b.ids, b.vectors):
                        np.testing.assert_array_equal(held[i][0], row)
                        assert held[i][1] == i

            for name in ("alpha", "beta"):
                collection = client.get_collection(name)
                ids = [i for i in held if (int(i[1]) % 2 == 0) == (name == "alpha")]
                matrix = np.stack([held[i][0] for i in ids]).astype(np.float64)
                queries = np.random.default_rng(3).standard_normal((5, DIMENSION)).astype(np.float32)
                got = collection.query(query_embeddings=queries, n_results=10,
                                       include=["distances"])
                for q, query in enumerate(queries):
                    distances = ((matrix - query.astype(np.float64)) ** 2).sum(axis=1)
                    expected = [ids[j] for j in np.argsort(distances, kind="stable")[:10]]
                    assert got["ids"][q] == expected
                    np.testing.assert_allclose(got["distances"][q], np.sort(distances)[:10],
                                               rtol=1e-4, atol=1e-4)
    finally:
        for running in (source, restored):
            if running is not None:
                code = lifecycle.stop_service(running)
                assert code == 0, running.log()
