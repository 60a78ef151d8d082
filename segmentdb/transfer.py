"""Export and import through TransferService: `Collection.export_records()` and
`Client.import_records()`.

Records travel in columns (`Records`: ids, embeddings as one float32 array, documents,
metadatas), the shape the file codecs (segmentdb.transfer_files) read and write.

Export streams pages, each with a resume token; an export whose stream breaks with
UNAVAILABLE (a gateway restart) resumes by itself from the last page received, and one
you stop can be resumed with `export_records(page_token=...)`: either way every record
comes exactly once.

Import sends chunks ahead of their acknowledgements (a few in flight) and keeps the
unacknowledged ones; if the stream breaks with UNAVAILABLE it reopens it with the same
import id, drops what the server says is committed and sends the rest. Running the same
import again (same import_id, same records) after the client died resumes it the same way:
the records already committed are skipped, never written twice.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Optional

import grpc
import numpy as np

from segmentdb import errors, vectors, wire
from segmentdb.v1 import transfer_service_pb2 as tsvc, transfer_service_pb2_grpc as tgrpc

if TYPE_CHECKING:
    from segmentdb.client import Client
    from segmentdb.collection import Collection

DEFAULT_PAGE_SIZE = 1000
DEFAULT_CHUNK_SIZE = 1000
# Chunks sent ahead of their acks: enough to keep the gateway busy while the client reads
# the next chunk, few enough that a resend after a broken stream is small.
MAX_IN_FLIGHT = 4
# A stream broken by UNAVAILABLE (a gateway or metadata worker restarting) is reopened up to
# this many times in a row, each after a growing pause (0.25, 0.5, 1, 2, ... s: ~32 s in all)
# and after waiting up to RESUME_WAIT_SECONDS for the channel to reconnect.
RESUME_ATTEMPTS = 7
RESUME_WAIT_SECONDS = 30.0
MODES = {"insert": tsvc.IMPORT_MODE_INSERT, "upsert": tsvc.IMPORT_MODE_UPSERT}


@dataclass
class Records:
    """Records in columns. `documents`/`metadatas` are None when the column is absent."""

    ids: list[str]
    embeddings: np.ndarray                       # (n, dimension) float32
    documents: Optional[list[Optional[str]]] = None
    metadatas: Optional[list[Optional[dict]]] = None

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int) -> "Records":
        return Records(self.ids[start:stop], self.embeddings[start:stop],
                       None if self.documents is None else self.documents[start:stop],
                       None if self.metadatas is None else self.metadatas[start:stop])


@dataclass
class ExportPage(Records):
    """One page of an export; pass `next_page_token` to export_records to continue after it."""

    next_page_token: str = ""


def describe(collection_proto) -> dict[str, Any]:
    """What an export file says about its collection: name, metadata, configuration, dimension."""
    return {
        "name": collection_proto.name,
        "metadata": wire.metadata_from_proto(collection_proto.metadata),
        "configuration": wire.configuration_from_proto(collection_proto.configuration),
        "dimension": collection_proto.dimension if collection_proto.HasField("dimension") else None,
    }


# ------------------------------------------------------------------ export

class Export:
    """An export in progress: the header at once, then the pages when iterated.

    >>> export = collection.export_records(page_size=1000)
    >>> export.collection["configuration"], export.remaining_count
    ({'hnsw': {'space': 'cosine', ...}}, 100000)
    >>> for page in export:
    ...     save(page.ids, page.embeddings, page.documents, page.metadatas)
    ...     token = page.next_page_token   # keep it to resume after this page later
    """

    def __init__(self, client: "Client", collection_id: str, page_size: int, page_token: str):
        self._client = client
        self._request = tsvc.ExportRecordsRequest(
            collection_id=collection_id, page_size=page_size, page_token=page_token)
        self._responses = self._open()
        header = self._next_message().header
        self.collection = describe(header.collection)
        self.record_count = header.record_count          # in the collection
        self.remaining_count = header.remaining_count    # after page_token: what comes
        self.last_page_token = page_token
        self.resumptions = 0                             # streams reopened after UNAVAILABLE

    def _open(self) -> Iterator:
        if self._client._closed:
            raise errors.FailedPreconditionError("this client is closed; create a new one")
        stub = tgrpc.TransferServiceStub(self._client._channel)
        return stub.ExportRecords(self._request, metadata=self._client._metadata)

    def _next_message(self):
        try:
            return next(self._responses)
        except grpc.RpcError as err:
            raise self._client._translate(err) from None

    def __iter__(self) -> Iterator[ExportPage]:
        failures = 0
        while True:
            try:
                message = next(self._responses)
            except StopIteration:
                return
            except grpc.RpcError as err:
                failures += 1
                _may_resume(self._client, err, failures)
                # Resume after the last page received; the new stream starts with a header.
                self._request.page_token = self.last_page_token
                self._responses = self._open()
                self.resumptions += 1
                continue
            if message.WhichOneof("item") != "page":
                continue
            failures = 0
            page = message.page
            columns = wire.records_from_proto(page.records, ["documents", "metadatas", "embeddings"])
            self.last_page_token = page.next_page_token
            yield ExportPage(ids=columns["ids"], embeddings=columns["embeddings"],
                             documents=columns["documents"], metadatas=columns["metadatas"],
                             next_page_token=page.next_page_token)

    def cancel(self) -> None:
        """Stop the stream (the server ends its read too)."""
        cancel = getattr(self._responses, "cancel", None)
        if cancel is not None:
            cancel()

    def __enter__(self) -> "Export":
        return self

    def __exit__(self, *exc_info) -> None:
        self.cancel()


def export_records(collection: "Collection", page_size: int = DEFAULT_PAGE_SIZE,
                   page_token: Optional[str] = None) -> Export:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 10_000:
        raise errors.InvalidArgumentError(
            f"page_size: expected an integer from 1 to 10000, got {page_size!r}")
    return Export(collection._client, collection._model.id, page_size, page_token or "")


# ------------------------------------------------------------------ import

@dataclass
class ImportResult:
    collection: "Collection"
    import_id: str
    created: bool                # this import created the collection
    resumed_from: int            # records an earlier run had committed (skipped now)
    committed_records: int       # records of this import committed in total
    inserted: int = 0            # by this run
    updated: int = 0
    chunks: int = 0              # chunks committed by this run
    resent_chunks: int = 0       # chunks the server had committed already (acks were lost)
    resumptions: int = 0         # streams reopened after UNAVAILABLE


def import_records(
    client: "Client",
    name: str,
    records: Iterable[Records],
    *,
    metadata: Optional[Mapping[str, Any]] = None,
    configuration: Optional[Mapping[str, Any]] = None,
    dimension: Optional[int] = None,
    import_id: Optional[str] = None,
    mode: str = "insert",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: Optional[Callable[[int], None]] = None,
) -> ImportResult:
    if mode not in MODES:
        raise errors.InvalidArgumentError(f"mode: expected 'insert' or 'upsert', got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise errors.InvalidArgumentError(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    start = tsvc.ImportStart(
        tenant=client.tenant, database=client.database, collection_name=name,
        collection_metadata=wire.metadata_to_proto(metadata, "metadata"),
        configuration=wire.configuration_to_proto(configuration),
        import_id=import_id or str(uuid.uuid4()), mode=MODES[mode])
    if dimension is not None:
        start.dimension = dimension
    stream = _ImportStream(client, start)
    try:
        started = stream.started
        result = ImportResult(collection=client._collection(started.collection, None),
                              import_id=start.import_id, created=started.created,
                              resumed_from=started.committed_records,
                              committed_records=started.committed_records)
        if on_progress is not None:
            on_progress(result.committed_records)
        stream.on_ack = lambda ack: _count(result, ack, on_progress)
        for offset, chunk in _chunks(records, chunk_size, skip=started.committed_records):
            stream.send(_chunk_proto(offset, chunk))
        stream.finish()
        result.resumptions = stream.resumptions
    except BaseException:
        stream.cancel()  # e.g. the records iterator failed: what was acknowledged stays
        raise
    stream.close()
    return result


def _count(result: ImportResult, ack, on_progress) -> None:
    result.committed_records = max(result.committed_records, ack.committed_records)
    if ack.already_committed:
        result.resent_chunks += 1
    else:
        result.chunks += 1
        result.inserted += ack.inserted
        result.updated += ack.updated
    if on_progress is not None:
        on_progress(result.committed_records)


def _chunks(batches: Iterable[Records], chunk_size: int,
            skip: int) -> Iterator[tuple[int, Records]]:
    """(offset, chunk) of at most chunk_size records, leaving out the first `skip` records."""
    offset = 0
    for batch in batches:
        for begin in range(0, len(batch), chunk_size):
            piece = batch.slice(begin, begin + chunk_size)
            end = offset + len(piece)
            if end > skip:
                yield max(offset, skip), piece.slice(max(skip - offset, 0), len(piece))
            offset = end


def _chunk_proto(offset: int, records: Records) -> tsvc.ImportChunk:
    chunk = tsvc.ImportChunk(offset=offset, ids=records.ids,
                             embeddings=vectors.encode(records.embeddings, "embeddings"))
    if records.documents is not None:
        chunk.documents.extend(wire.documents_to_proto(records.documents))
    if records.metadatas is not None:
        chunk.metadatas.extend(
            wire.metadata_to_proto(m, f"record {offset + i} (id {records.ids[i]!r}) metadata")
            for i, m in enumerate(records.metadatas))
    return chunk


class _ImportStream:
    """One logical import over one or more gRPC streams (reopened after UNAVAILABLE)."""

    def __init__(self, client: "Client", start: tsvc.ImportStart):
        if client._closed:
            raise errors.FailedPreconditionError("this client is closed; create a new one")
        self._client = client
        self._start = start
        self._stub = tgrpc.TransferServiceStub(client._channel)
        self._pending: deque[tsvc.ImportChunk] = deque()   # sent, not acknowledged
        self.on_ack: Callable[[Any], None] = lambda ack: None
        self._outbox: Optional[queue.Queue] = None
        self._call = None
        self.resumptions = 0
        try:
            self.started = self._open()
        except grpc.RpcError as err:
            self.cancel()
            raise client._translate(err) from None

    def _open(self) -> tsvc.ImportStarted:
        """A new stream: send the start, read ImportStarted."""
        self.cancel()
        outbox: queue.Queue = queue.Queue()
        outbox.put(tsvc.ImportRecordsRequest(start=self._start))
        self._outbox = outbox
        self._call = self._stub.ImportRecords(_drain(outbox), metadata=self._client._metadata)
        return self._receive().started

    def _receive(self):
        message = next(self._call, None)
        if message is None:
            raise errors.InternalError("the import stream ended before the server acknowledged "
                                       "every chunk sent")
        return message

    def send(self, chunk: tsvc.ImportChunk) -> None:
        while len(self._pending) >= MAX_IN_FLIGHT:
            self._acknowledge()
        self._pending.append(chunk)
        self._outbox.put(tsvc.ImportRecordsRequest(chunk=chunk))

    def finish(self) -> None:
        while self._pending:
            self._acknowledge()

    def _acknowledge(self) -> None:
        """Wait for the oldest pending chunk's ack (resuming a broken stream on the way)."""
        failures = 0
        while self._pending:
            try:
                ack = self._receive().ack
            except grpc.RpcError as err:
                failures += 1
                _may_resume(self._client, err, failures)
                failures = self._resume(failures)
                continue  # the resumed stream may have settled the oldest chunks already
            chunk = self._pending.popleft()
            if ack.offset != chunk.offset:
                raise errors.InternalError(
                    f"the server acknowledged the chunk at offset {ack.offset} where the one at "
                    f"offset {chunk.offset} was expected")
            self.on_ack(ack)
            return

    def _resume(self, failures: int) -> int:
        """Reopen the stream; resend the chunks the server has not committed."""
        while True:
            try:
                started = self._open()
                break
            except grpc.RpcError as err:
                failures += 1
                _may_resume(self._client, err, failures)
        self.resumptions += 1
        committed = started.committed_records
        while self._pending and self._pending[0].offset + len(self._pending[0].ids) <= committed:
            chunk = self._pending.popleft()
            self.on_ack(tsvc.ImportAck(offset=chunk.offset, count=len(chunk.ids),
                                       committed_records=committed, already_committed=True))
        for chunk in self._pending:
            self._outbox.put(tsvc.ImportRecordsRequest(chunk=chunk))
        return failures

    def close(self) -> None:
        """Half-close after the last ack and wait for the server to end the stream."""
        call = self._call
        self._end_requests()
        self._call = None
        try:
            for _ in call:
                pass
        except grpc.RpcError as err:
            raise self._client._translate(err) from None

    def cancel(self) -> None:
        """Abandon the current stream (chunks not yet acknowledged may or may not commit)."""
        self._end_requests()
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def _end_requests(self) -> None:
        if self._outbox is not None:
            self._outbox.put(None)  # ends _drain, so gRPC's sending thread finishes
            self._outbox = None


def _may_resume(client: "Client", err: grpc.RpcError, failures: int) -> None:
    """Return when a broken stream may be reopened (UNAVAILABLE, attempts left, the channel
    reconnected); raise the error's segmentdb class otherwise."""
    if err.code() != grpc.StatusCode.UNAVAILABLE or failures > RESUME_ATTEMPTS:
        raise client._translate(err) from None
    time.sleep(0.25 * 2 ** (failures - 1))
    try:
        grpc.channel_ready_future(client._channel).result(timeout=RESUME_WAIT_SECONDS)
    except grpc.FutureTimeoutError:
        raise client._translate(err) from None


def _drain(outbox: queue.Queue) -> Iterator:
    """The request iterator gRPC reads from its own thread; None ends it (half-close)."""
    while True:
        item = outbox.get()
        if item is None:
            return
        yield item
