"""The export/import RPCs of the metadata worker (a part of MetadataServicer).

Translate and delegate, like servicer.py: store_transfer does the work. Kept in its own
module because the page token (the resume point of an export) is a wire concept.

A page token is opaque to clients: base64url of "v1:<collection id>:<last label sent>".
Labels are never reused (AUTOINCREMENT), so "after label L" means the same records however
long ago the token was issued; binding it to the collection catches a token pasted into
the export of another collection.
"""

from __future__ import annotations

import base64
import binascii

from segmentdb import errors
from segmentdb.internal.v1 import metadata_service_pb2 as msvc
from segmentdb.v1 import transfer_service_pb2 as tsvc

from metadata_worker import convert, store_transfer
from metadata_worker.store_transfer import ExportStart

_TOKEN_VERSION = "v1"
_MODES = {
    tsvc.IMPORT_MODE_INSERT: store_transfer.MODE_INSERT,
    tsvc.IMPORT_MODE_UPSERT: store_transfer.MODE_UPSERT,
}


def encode_page_token(collection_id: str, last_label: int) -> str:
    raw = f"{_TOKEN_VERSION}:{collection_id}:{last_label}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, collection_id: str) -> int:
    """The label an export resumes after (0 for an empty token)."""
    if not token:
        return 0
    fix = ("page_token: pass the next_page_token of a page of this collection's export, or "
           "leave it empty to start from the first record")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, owner, label = raw.split(":")
        after = int(label)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.InvalidArgumentError(f"page_token: {token!r} is not a page token; {fix}") from None
    if version != _TOKEN_VERSION or after < 0:
        raise errors.InvalidArgumentError(f"page_token: {token!r} is not a page token; {fix}")
    if owner != collection_id:
        raise errors.InvalidArgumentError(
            f"page_token: the token belongs to the export of collection {owner!r}, not "
            f"{collection_id!r}; {fix}")
    return after


def page_size(requested: int) -> int:
    if requested > store_transfer.MAX_PAGE_SIZE:
        raise errors.InvalidArgumentError(
            f"page_size: {requested} is over the limit of {store_transfer.MAX_PAGE_SIZE} "
            "records per page; ask for fewer (0 means the default, "
            f"{store_transfer.DEFAULT_PAGE_SIZE})")
    return requested or store_transfer.DEFAULT_PAGE_SIZE


def import_mode(mode: int, field: str = "mode") -> str:
    if mode not in _MODES:
        raise errors.InvalidArgumentError(
            f"{field}: {mode} is not an import mode; use IMPORT_MODE_INSERT (refuse ids already "
            "in the collection) or IMPORT_MODE_UPSERT (replace them)")
    return _MODES[mode]


class TransferRpcs:
    """ExportRecords, GetImportProgress, ImportChunk. Mixed into MetadataServicer, which
    provides `self.store` and `self.retention`."""

    def ExportRecords(self, request, context):
        after = decode_page_token(request.page_token, request.collection_id)
        size = page_size(request.page_size)
        for item in self.store.stream(store_transfer.export, request.collection_id, after, size):
            if isinstance(item, ExportStart):
                yield tsvc.ExportRecordsResponse(header=tsvc.ExportHeader(
                    collection=convert.collection_to_proto(item.collection),
                    record_count=item.record_count, remaining_count=item.remaining_count))
                continue
            yield tsvc.ExportRecordsResponse(page=tsvc.ExportPage(
                records=convert.records_to_proto(item),
                next_page_token=encode_page_token(request.collection_id, item.labels[-1])))

    def GetImportProgress(self, request, context):
        found = self.store.read(store_transfer.progress, request.collection_id, request.import_id)
        return msvc.GetImportProgressResponse(committed_records=found.committed_records,
                                              committed_chunks=found.committed_chunks)

    def ImportChunk(self, request, context):
        mode = import_mode(request.mode)
        if not request.import_id:
            raise errors.InvalidArgumentError("import_id: required to record the import's progress")
        chunk = request.chunk
        batch = convert.record_write(chunk, vectors_required=True, allow_delete=False)
        result = self.store.write(store_transfer.import_chunk, request.collection_id,
                                  request.import_id, mode, chunk.offset, batch)
        if not result.already_committed:
            self.retention.after_write(request.collection_id, result.log_sequence)
        return msvc.ImportChunkResponse(ack=tsvc.ImportAck(
            offset=chunk.offset, count=len(chunk.ids), committed_records=result.committed_records,
            already_committed=result.already_committed, inserted=result.inserted,
            updated=result.updated, log_sequence=result.log_sequence))
