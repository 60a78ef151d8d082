"""Operating a running service from the SDK: statistics, pin/release, reindex, backup, vacuum.

`Client.stats()`, `Client.reindex()`, `Client.backup()`, `Client.vacuum()`,
`Collection.pin()` and `Collection.release()` call these; they turn AdminService protos into plain dicts (JSON-serializable, so the CLI's
`--json` prints them as they are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import grpc

from segmentdb import backup_writer, errors
from segmentdb.v1 import admin_service_pb2 as admin_pb, admin_service_pb2_grpc as admin_grpc

if TYPE_CHECKING:
    from segmentdb.client import Client


def _as_dict(message) -> dict[str, Any]:
    """Every field by its proto name, nested messages as dicts, 64-bit counters as ints.

    (Not json_format.MessageToDict: it writes uint64 as strings for JSON's sake.)
    """
    data: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.message_type is not None:
            data[field.name] = ([_as_dict(item) for item in value] if field.is_repeated
                                else _as_dict(value))
        else:
            data[field.name] = list(value) if field.is_repeated else value
    return data


class Admin:
    """AdminService calls for one Client (shares its channel, token and error handling)."""

    def __init__(self, client: "Client", channel):
        self._client = client
        self._stub = admin_grpc.AdminServiceStub(channel)

    def stats(self) -> dict[str, Any]:
        """`{"workers": [WorkerStats...], "storage": StorageStats}` as dicts.

        Each worker: address, reachable, error, memory_budget_bytes, loaded_bytes,
        resident_bytes, peak_resident_bytes, hits, misses, loads, rebuilds, evictions,
        persists, load_seconds_total, load_seconds_max, idle_ttl_seconds and `segments`
        (segment_id, collection_id, bytes, live_count, dimension, pinned, idle_seconds,
        applied_sequence, persisted_sequence, ef_search).
        """
        response = self._client._call(self._stub.GetStats, admin_pb.GetStatsRequest(),
                                      idempotent=True)
        return _as_dict(response)

    def pin(self, collection_id: str) -> str:
        """Keep the collection loaded; returns the vector worker that holds it."""
        request = admin_pb.PinCollectionRequest(collection_id=collection_id)
        return self._client._call(self._stub.PinCollection, request, idempotent=True).worker_address

    def release(self, collection_id: str) -> None:
        request = admin_pb.ReleaseCollectionRequest(collection_id=collection_id)
        self._client._call(self._stub.ReleaseCollection, request, idempotent=True)

    def reindex(self, tenant: str, database: str,
                collection: Optional[str] = None) -> list[dict[str, Any]]:
        """Rebuild the vector index of one collection (by name) or of every collection.

        Returns one dict per collection: collection_id, name, records, seconds,
        worker_address. Rebuilding is idempotent, so UNAVAILABLE is retried.
        """
        request = admin_pb.ReindexCollectionsRequest(tenant=tenant, database=database)
        if collection is not None:
            request.collection_name = collection
        response = self._client._call(self._stub.ReindexCollections, request, idempotent=True)
        return _as_dict(response)["collections"]

    def backup(self, out: str, force: bool = False, timeout: Optional[float] = None,
               chunk_bytes: int = 0,
               on_progress: Optional[backup_writer.Progress] = None) -> dict[str, Any]:
        """Stream a backup to `out` on this machine (see Client.backup). Not retried: a
        failed backup writes nothing, so running it again is always safe."""
        if self._client._closed:
            raise errors.FailedPreconditionError("this client is closed; create a new one")
        backup_writer.check_out(out, force)
        request = admin_pb.BackupRequest(chunk_bytes=chunk_bytes)
        responses = self._stub.Backup(request, timeout=timeout, metadata=self._client._metadata)
        try:
            result = backup_writer.save(responses, out, force=force, on_progress=on_progress)
        except grpc.RpcError as err:
            raise self._client._translate(err) from None
        finally:
            responses.cancel()  # no-op once the stream has ended; stops it after an error
        return result.to_json()

    def vacuum(self, min_deleted_fraction: Optional[float] = None) -> dict[str, Any]:
        """AdminService.Vacuum as a dict (see Client.vacuum). Repeating a vacuum is
        harmless, so UNAVAILABLE is retried."""
        request = admin_pb.VacuumRequest()
        if min_deleted_fraction is not None:
            request.min_deleted_fraction = min_deleted_fraction
        return _as_dict(self._client._call(self._stub.Vacuum, request, idempotent=True))
