"""TransferService over real gRPC on the session service: export pages and resume tokens,
import acknowledgements, resumption without duplicates, and every refusal's status code.

The raw stub is used where the SDK would hide the wire behaviour under test (a cancelled
stream, a chunk sent twice, a gap); the SDK where its own logic is the subject.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time

import grpc
import numpy as np
import pytest

from segmentdb import errors, vectors
from segmentdb.transfer import Records
from segmentdb.v1 import transfer_service_pb2 as tsvc, transfer_service_pb2_grpc as tgrpc

DIM = 4


@pytest.fixture()
def stub(service):
    channel = grpc.insecure_channel(service.address)
    yield tgrpc.TransferServiceStub(channel)
    channel.close()


def _fill(collection, count: int, start: int = 0) -> list[str]:
    ids = [f"r{i:05d}" for i in range(start, start + count)]
    collection.add(ids=ids, embeddings=np.arange(count * DIM, dtype=np.float32).reshape(count, DIM),
                   documents=[f"doc {i}" for i in range(start, start + count)],
                   metadatas=[{"i": i} for i in range(start, start + count)])
    return ids


def _chunk(offset: int, count: int, prefix: str = "r") -> tsvc.ImportRecordsRequest:
    ids = [f"{prefix}{i:05d}" for i in range(offset, offset + count)]
    return tsvc.ImportRecordsRequest(chunk=tsvc.ImportChunk(
        offset=offset, ids=ids,
        embeddings=vectors.encode(np.full((count, DIM), offset, np.float32))))


def _start(name: str, import_id: str = "import-1", mode=tsvc.IMPORT_MODE_INSERT, **extra):
    return tsvc.ImportRecordsRequest(start=tsvc.ImportStart(
        collection_name=name, import_id=import_id, mode=mode, **extra))


def _rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        for _ in call:
            pass
    return caught.value


# ------------------------------------------------------------------ export


def test_export_sends_the_configuration_then_every_record_in_insertion_order(make_collection):
    source = make_collection(configuration={"hnsw": {"space": "cosine", "max_neighbors": 8}},
                             metadata={"owner": "ünï", "version": 3})
    ids = _fill(source, 250)
    source.delete(ids=ids[10:20])
    export = source.export_records(page_size=100)
    assert export.collection["name"] == source.name
    assert export.collection["metadata"] == {"owner": "ünï", "version": 3}
    assert export.collection["configuration"] == source.configuration
    assert export.collection["configuration"]["hnsw"]["max_neighbors"] == 8
    assert export.collection["dimension"] == DIM
    assert (export.record_count, export.remaining_count) == (240, 240)
    pages = list(export)
    assert [len(p) for p in pages] == [100, 100, 40]
    assert [i for p in pages for i in p.ids] == ids[:10] + ids[20:]
    assert pages[0].documents[0] == "doc 0" and pages[0].metadatas[0] == {"i": 0}
    assert pages[0].embeddings.dtype == np.float32
    assert pages[0].embeddings[1].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert len({p.next_page_token for p in pages}) == 3


def test_an_interrupted_export_resumed_from_its_token_yields_every_record_once(make_collection):
    source = make_collection()
    ids = _fill(source, 1000)
    export = source.export_records(page_size=64)
    received: list[str] = []
    for page in export:
        received.extend(page.ids)
        if len(received) >= 3 * 64:
            token = page.next_page_token
            break
    export.cancel()
    # Writes between the two streams: a new record comes once, a deleted one not at all.
    source.delete(ids=[ids[500]])
    _fill(source, 1, start=1000)
    resumed = source.export_records(page_size=64, page_token=token)
    assert resumed.remaining_count == 1000 - 3 * 64
    received.extend(i for page in resumed for i in page.ids)
    expected = [i for i in ids if i != ids[500]] + ["r01000"]
    assert received == expected  # order, no duplicates, nothing missing


def test_an_empty_collection_exports_its_header_only(make_collection):
    empty = make_collection(configuration={"hnsw": {"space": "ip"}})
    export = empty.export_records()
    assert (export.record_count, export.remaining_count, export.collection["dimension"]) == (0, 0, None)
    assert export.collection["configuration"]["hnsw"]["space"] == "ip"
    assert list(export) == []


def test_export_refuses_bad_tokens_page_sizes_and_unknown_collections(stub, make_collection):
    first, second = make_collection("a"), make_collection("b")
    _fill(first, 3)
    token = next(iter(first.export_records(page_size=1))).next_page_token
    cases = [
        (tsvc.ExportRecordsRequest(collection_id=second._model.id, page_token=token),
         grpc.StatusCode.INVALID_ARGUMENT, "belongs to the export of collection"),
        (tsvc.ExportRecordsRequest(collection_id=first._model.id, page_token="not a token!"),
         grpc.StatusCode.INVALID_ARGUMENT, "page_token"),
        (tsvc.ExportRecordsRequest(collection_id=first._model.id, page_size=10_001),
         grpc.StatusCode.INVALID_ARGUMENT, "page_size"),
        (tsvc.ExportRecordsRequest(collection_id="00000000-0000-0000-0000-00000000dead"),
         grpc.StatusCode.NOT_FOUND, "does not exist"),
        (tsvc.ExportRecordsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "collection_id"),
    ]
    for request, code, words in cases:
        error = _rpc_error(stub.ExportRecords(request))
        assert error.code() == code, (request, error.details())
        assert words in error.details()
    with pytest.raises(errors.InvalidArgumentError):
        first.export_records(page_size=0)


# ------------------------------------------------------------------ import


def test_import_creates_the_collection_and_acknowledges_each_chunk(stub, client, collection_name):
    start = _start(collection_name)
    start.start.collection_metadata.fields["owner"].string_value = "me"
    start.start.configuration.hnsw.space = 3  # SPACE_COSINE
    start.start.configuration.hnsw.max_neighbors = 10
    responses = list(stub.ImportRecords(iter([start, _chunk(0, 30), _chunk(30, 20)])))
    started = responses[0].started
    assert started.created and started.committed_records == 0
    assert started.collection.configuration.hnsw.max_neighbors == 10
    acks = [r.ack for r in responses[1:]]
    assert [(a.offset, a.count, a.committed_records, a.inserted) for a in acks] == [
        (0, 30, 30, 30), (30, 20, 50, 20)]
    assert acks[1].log_sequence > acks[0].log_sequence > 0
    imported = client.get_collection(collection_name)
    assert imported.count() == 50 and imported.configuration["hnsw"]["space"] == "cosine"
    assert imported.metadata == {"owner": "me"}
    client.delete_collection(collection_name)


def test_an_import_cancelled_mid_stream_resumes_without_duplicates(stub, client, collection_name):
    """Cancel after two acks; a new stream with the same import id learns what committed
    (acknowledged or not), chunks sent again are acknowledged without being written, and the
    collection ends with every record exactly once."""
    outbox: queue.Queue = queue.Queue()
    outbox.put(_start(collection_name))
    for k in range(10):
        outbox.put(_chunk(k * 100, 100))

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    call = stub.ImportRecords(requests())
    assert next(call).started.committed_records == 0
    acked = [next(call).ack.committed_records for _ in range(2)]
    call.cancel()
    outbox.put(None)
    assert acked == [100, 200]

    again = list(stub.ImportRecords(iter([_start(collection_name)])))
    committed = again[0].started.committed_records
    assert 200 <= committed <= 1000 and committed % 100 == 0
    assert not again[0].started.created
    # The client resends everything from offset 0 (as if it had lost track).
    responses = list(stub.ImportRecords(iter([_start(collection_name)] +
                                             [_chunk(k * 100, 100) for k in range(10)])))
    acks = [r.ack for r in responses[1:]]
    assert [a.already_committed for a in acks] == [k * 100 < committed for k in range(10)]
    assert all(a.log_sequence == 0 and a.inserted == 0 for a in acks if a.already_committed)
    assert acks[-1].committed_records == 1000
    imported = client.get_collection(collection_name)
    got = imported.get(include=["embeddings"])
    assert got["ids"] == [f"r{i:05d}" for i in range(1000)]
    assert imported.count() == 1000
    assert got["embeddings"][:, 0].tolist() == [float(i // 100 * 100) for i in range(1000)]
    client.delete_collection(collection_name)


def test_a_resumed_import_waits_for_the_chunk_its_cancelled_stream_is_committing(
        stub, service, client, collection_name):
    """The first stream's second chunk is stuck in the metadata worker (the test holds
    SQLite's write lock) when the client cancels. A new stream of the same import reports
    progress only after that commit settled: 20 committed, not 10 — so the client resends
    nothing that was already written. (The gateway's part of this, a chunk read from the
    client but not yet sent on when the cancellation lands, is tests/unit/
    test_import_leases.py: that window is too narrow to hit from here on purpose.)"""
    outbox: queue.Queue = queue.Queue()
    outbox.put(_start(collection_name))
    outbox.put(_chunk(0, 10))

    def requests():
        while (item := outbox.get()) is not None:
            yield item

    first = stub.ImportRecords(requests())
    assert next(first).started.committed_records == 0
    assert next(first).ack.committed_records == 10
    blocker = sqlite3.connect(service.path / "chroma.sqlite3", isolation_level=None, timeout=30)
    blocker.execute("BEGIN IMMEDIATE")  # the worker's next write transaction waits on this
    try:
        outbox.put(_chunk(10, 10))
        time.sleep(1.0)  # the chunk reaches the worker and waits for the lock
        first.cancel()
        outbox.put(None)
        started: queue.Queue = queue.Queue()
        second = stub.ImportRecords(iter([_start(collection_name)]))
        reader = threading.Thread(target=lambda: started.put(next(second).started), daemon=True)
        reader.start()
        with pytest.raises(queue.Empty):
            started.get(timeout=1.0)  # still waiting: the cancelled stream's chunk is pending
    finally:
        blocker.rollback()
        blocker.close()
    resumed = started.get(timeout=30)
    assert resumed.committed_records == 20 and resumed.committed_chunks == 2
    list(second)
    assert client.get_collection(collection_name).count() == 20
    client.delete_collection(collection_name)


def test_a_chunk_that_skips_or_overlaps_committed_records_is_refused(stub, client, collection_name):
    list(stub.ImportRecords(iter([_start(collection_name), _chunk(0, 10)])))
    for chunk in (_chunk(20, 10), _chunk(5, 10)):
        error = _rpc_error(stub.ImportRecords(iter([_start(collection_name), chunk])))
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "must start at offset 10" in error.details()
    assert client.get_collection(collection_name).count() == 10
    client.delete_collection(collection_name)


def test_records_without_embeddings_are_refused_naming_the_reason(stub, client, collection_name):
    chunk = tsvc.ImportRecordsRequest(chunk=tsvc.ImportChunk(offset=0, ids=["a", "b"]))
    error = _rpc_error(stub.ImportRecords(iter([_start(collection_name), chunk])))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("chunk at offset 0: embeddings: required for import")
    assert "import does not embed" in error.details()
    assert client.get_collection(collection_name).count() == 0
    client.delete_collection(collection_name)


def test_bad_chunks_are_refused_with_add_rules_and_write_nothing(stub, client, collection_name):
    list(stub.ImportRecords(iter([_start(collection_name), _chunk(0, 5)])))
    null_metadata = _chunk(5, 2)
    null_metadata.chunk.metadatas.add().fields["k"].null_value = 0
    null_metadata.chunk.metadatas.add()
    duplicate = _chunk(5, 2)
    duplicate.chunk.ids[1] = duplicate.chunk.ids[0]
    nan = _chunk(5, 2)
    nan.chunk.embeddings.CopyFrom(vectors.encode(np.array([[np.nan] * DIM, [0] * DIM], np.float32)))
    wrong_dimension = _chunk(5, 2)
    wrong_dimension.chunk.embeddings.CopyFrom(vectors.encode(np.zeros((2, DIM + 1), np.float32)))
    existing = _chunk(4, 2)  # r00004 is in the collection
    existing.chunk.offset = 5
    cases = [
        (null_metadata, grpc.StatusCode.INVALID_ARGUMENT, "null_value"),
        (duplicate, grpc.StatusCode.INVALID_ARGUMENT, "duplicate ids"),
        (nan, grpc.StatusCode.INVALID_ARGUMENT, "NaN"),
        (wrong_dimension, grpc.StatusCode.INVALID_ARGUMENT, "dimension 5 does not match"),
        (existing, grpc.StatusCode.ALREADY_EXISTS, "'r00004'"),
        (tsvc.ImportRecordsRequest(start=tsvc.ImportStart()), grpc.StatusCode.INVALID_ARGUMENT,
         "an import has exactly one ImportStart"),
    ]
    for chunk, code, words in cases:
        error = _rpc_error(stub.ImportRecords(iter([_start(collection_name), chunk])))
        assert error.code() == code, error.details()
        assert words in error.details(), error.details()
    assert client.get_collection(collection_name).count() == 5
    again = list(stub.ImportRecords(iter([_start(collection_name)])))
    assert again[0].started.committed_records == 5
    client.delete_collection(collection_name)


def test_bad_starts_are_refused(stub, make_collection, collection_name):
    existing = make_collection("-l2")
    existing.add(ids=["x"], embeddings=[[0.0] * DIM])
    cases = [
        (iter([]), grpc.StatusCode.INVALID_ARGUMENT, "first message of an import"),
        (iter([_chunk(0, 1)]), grpc.StatusCode.INVALID_ARGUMENT, "first message of an import"),
        (iter([_start(collection_name, mode=tsvc.IMPORT_MODE_UNSPECIFIED)]),
         grpc.StatusCode.INVALID_ARGUMENT, "start.mode"),
        (iter([_start(collection_name, import_id="")]), grpc.StatusCode.INVALID_ARGUMENT,
         "start.import_id"),
        (iter([_start(collection_name, import_id="tab\there")]), grpc.StatusCode.INVALID_ARGUMENT,
         "start.import_id"),
        (iter([_start("x")]), grpc.StatusCode.INVALID_ARGUMENT, "start.collection_name"),
        (iter([_start(existing.name, configuration={"hnsw": {"space": 3}})]),
         grpc.StatusCode.FAILED_PRECONDITION, "SPACE_L2"),
        (iter([_start(existing.name, dimension=DIM + 1)]), grpc.StatusCode.FAILED_PRECONDITION,
         "dimension 4"),
        (iter([_start(collection_name, tenant="nobody")]), grpc.StatusCode.NOT_FOUND, "nobody"),
    ]
    for requests, code, words in cases:
        error = _rpc_error(stub.ImportRecords(requests))
        assert error.code() == code, error.details()
        assert words in error.details(), error.details()


def test_upsert_mode_replaces_existing_records(client, make_collection):
    target = make_collection()
    _fill(target, 3)
    batch = Records(ids=["r00001", "new"], embeddings=np.full((2, DIM), 9, np.float32),
                    documents=["replaced", "fresh"], metadatas=[{"j": 1}, None])
    with pytest.raises(errors.UniqueConstraintError, match="'r00001'"):
        client.import_records(target.name, [batch], import_id="ins")
    result = client.import_records(target.name, [batch], import_id="ups", mode="upsert")
    assert (result.inserted, result.updated, result.created) == (1, 1, False)
    got = target.get(ids=["r00001", "new"], include=["documents", "metadatas", "embeddings"])
    assert got["documents"] == ["replaced", "fresh"]
    assert got["metadatas"] == [{"i": 1, "j": 1}, None]  # upsert merges metadata key by key
    assert got["embeddings"].tolist() == [[9.0] * DIM] * 2


def test_the_sdk_resumes_an_import_it_runs_again_and_keeps_mutable_parameters(client, collection_name):
    """The legacy metadata key hnsw:search_ef and a later ef_search disagree in an exported
    collection; the import recreates both as they were."""
    config = {"hnsw": {"space": "ip", "ef_search": 77}}
    metadata = {"hnsw:search_ef": 20, "note": "legacy key kept"}
    batches = [Records([f"s{i}" for i in range(k, k + 25)], np.full((25, DIM), k, np.float32))
               for k in range(0, 100, 25)]
    calls: list[int] = []

    def failing_after_two():
        for index, batch in enumerate(batches):
            if index == 2:
                raise KeyboardInterrupt  # the client dies while reading its input
            yield batch

    with pytest.raises(KeyboardInterrupt):
        client.import_records(collection_name, failing_after_two(), metadata=metadata,
                              configuration=config, import_id="resume-me", chunk_size=10)
    result = client.import_records(collection_name, batches, metadata=metadata,
                                   configuration=config, import_id="resume-me", chunk_size=10,
                                   on_progress=calls.append)
    assert 0 < result.resumed_from <= 50 and not result.created
    assert result.committed_records == 100 and calls[0] == result.resumed_from and calls[-1] == 100
    assert result.inserted == 100 - result.resumed_from
    imported = client.get_collection(collection_name)
    assert imported.count() == 100
    assert imported.get()["ids"] == [f"s{i}" for i in range(100)]
    assert imported.metadata == metadata
    assert imported.configuration["hnsw"]["ef_search"] == 77
    assert imported.configuration["hnsw"]["space"] == "ip"
    client.delete_collection(collection_name)
