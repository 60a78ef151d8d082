"""AdminService.Vacuum: each vector segment compacted by its worker, then the SQLite half.

1. The metadata worker lists every collection's vector segment (ListVectorSegments, all
   tenants and databases, a page at a time).
2. Each segment that has ever held a vector goes to the worker routing picks for it
   (CompactSegment, with failover like a query): a loaded copy applies the log and saves,
   so the log can be purged through it; an index with at least min_deleted_fraction
   deleted entries is rebuilt from SQLite. The owner does it because it is the one that
   serves the segment, so the compact copy is the one in memory afterwards. A segment that
   no worker could compact is reported with its error; the vacuum goes on.
3. The metadata worker purges the applied log, runs VACUUM, truncates its -wal file and
   records the run (VacuumStorage), with the index figures of step 2.
Segments are compacted one after another: a rebuild takes a CPU and memory for one
segment, and a vacuum should leave the service able to serve meanwhile.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

import grpc
from google.protobuf import timestamp_pb2

from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import errors
from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from segmentdb.v1 import admin_service_pb2

log = logging.getLogger(__name__)


def run(workers: WorkerClients, min_deleted_fraction: float,
        context) -> admin_service_pb2.VacuumResponse:
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    segments = [_compact(workers, spec, min_deleted_fraction, context)
                for spec in _vector_segments(workers, context) if spec.dimension > 0]
    index_before = sum(s.bytes_before for s in segments)
    index_after = sum(s.bytes_after for s in segments)
    started_at = timestamp_pb2.Timestamp()
    started_at.FromDatetime(started)
    storage = workers.metadata.VacuumStorage(
        metadata_service_pb2.VacuumStorageRequest(
            started_at=started_at, index_bytes_before=index_before,
            index_bytes_after=index_after, segments_examined=len(segments),
            segments_rebuilt=sum(s.rebuilt for s in segments),
            segments_failed=sum(bool(s.error) for s in segments)),
        timeout=timeout_from(context))
    return admin_service_pb2.VacuumResponse(
        sqlite_bytes_before=storage.sqlite_bytes_before,
        sqlite_bytes_after=storage.sqlite_bytes_after,
        index_bytes_before=index_before, index_bytes_after=index_after,
        bytes_before=storage.sqlite_bytes_before + index_before,
        bytes_after=storage.sqlite_bytes_after + index_after,
        log_entries_before=storage.log_entries_before,
        log_entries_after=storage.log_entries_after,
        segments=segments, maintenance_run_id=storage.maintenance_run_id,
        seconds=time.monotonic() - clock)


def _vector_segments(workers: WorkerClients, context):
    token = ""
    while True:
        page = workers.metadata.ListVectorSegments(
            metadata_service_pb2.ListVectorSegmentsRequest(page_token=token),
            timeout=timeout_from(context))
        yield from page.segments
        token = page.next_page_token
        if not token:
            return


def _compact(workers: WorkerClients, spec, fraction: float,
             context) -> admin_service_pb2.VacuumedSegment:
    done = admin_service_pb2.VacuumedSegment(collection_id=spec.collection_id,
                                             segment_id=spec.segment_id)
    request = vector_service_pb2.CompactSegmentRequest(segment=spec,
                                                       min_deleted_fraction=fraction)
    try:
        address, compacted = workers.call_vector(
            spec.segment_id,
            lambda stub: stub.CompactSegment(request, timeout=timeout_from(context)))
    except (errors.SegmentDBError, grpc.RpcError) as exc:
        reason = (f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.RpcError)
                  else f"{exc.code.name}: {exc.message}")
        log.warning("vacuum: segment %s (collection %s) was not compacted: %s",
                    spec.segment_id, spec.collection_id, reason)
        done.error = reason
        return done
    done.worker_address = address
    done.live_count = compacted.live_count
    done.deleted_count = compacted.deleted_count
    done.rebuilt = compacted.rebuilt
    done.bytes_before = compacted.bytes_before
    done.bytes_after = compacted.bytes_after
    return done
