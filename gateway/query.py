"""QueryRecords: validate, prepare, search, fetch, assemble.

1. MetadataService.PrepareQuery resolves the collection's vector segment, its log position
   and (for ids/where/where_document) the labels the search may return.
2. VectorService.Search on the segment's worker (rendezvous order, failover on UNAVAILABLE)
   returns the nearest labels; min_sequence = the log position, so the search sees every
   write acknowledged before this query.
3. MetadataService.FetchRecords turns the union of those labels into ids and the included
   fields; a label deleted in between is simply missing and dropped from the results.
4. One RecordBatch per query vector, nearest first.
"""

from __future__ import annotations

import logging

import grpc
import numpy as np

from gateway import validation
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import errors, vectors
from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from segmentdb.v1 import common_pb2, record_service_pb2

log = logging.getLogger(__name__)

DISTANCES = common_pb2.INCLUDE_FIELD_DISTANCES
DOCUMENTS = common_pb2.INCLUDE_FIELD_DOCUMENTS
METADATAS = common_pb2.INCLUDE_FIELD_METADATAS
EMBEDDINGS = common_pb2.INCLUDE_FIELD_EMBEDDINGS


def query_records(request: record_service_pb2.QueryRecordsRequest,
                  context: grpc.ServicerContext | None,
                  workers: WorkerClients) -> record_service_pb2.QueryRecordsResponse:
    queries, fields = validation.check_query(request)
    prepared = workers.metadata.PrepareQuery(_prepare_request(request),
                                             timeout=timeout_from(context))
    segment = prepared.segment
    if (segment.dimension == 0 or prepared.record_count == 0
            or (prepared.filtered and not prepared.allowed_labels)):
        return _empty(len(queries))
    if queries.shape[1] != segment.dimension:
        raise errors.InvalidDimensionException(
            f"query_embeddings: dimension {queries.shape[1]} does not match the collection's "
            f"dimension {segment.dimension}; send {segment.dimension}-dimensional vectors"
        )
    search = workers.search(
        vector_service_pb2.SearchRequest(
            segment=segment,
            queries=request.query_embeddings,
            k=request.n_results,
            min_sequence=prepared.log_sequence,
            filtered=prepared.filtered,
            allowed_labels=prepared.allowed_labels,
        ),
        context,
    )
    if len(search.results) != len(queries):
        raise errors.InternalError(
            f"vector worker returned {len(search.results)} result lists for "
            f"{len(queries)} queries"
        )
    labels = list(dict.fromkeys(label for found in search.results for label in found.labels))
    if not labels:
        return _empty(len(queries))
    fetched = workers.metadata.FetchRecords(
        metadata_service_pb2.FetchRecordsRequest(
            collection_id=request.collection_id,
            labels=labels,
            # Distances come from the search; the metadata worker knows only stored fields.
            include=common_pb2.Include(fields=sorted(fields - {DISTANCES})),
        ),
        timeout=timeout_from(context),
    )
    return assemble(search, fetched, fields)


def _prepare_request(
    request: record_service_pb2.QueryRecordsRequest,
) -> metadata_service_pb2.PrepareQueryRequest:
    prepare = metadata_service_pb2.PrepareQueryRequest(
        collection_id=request.collection_id, ids=request.ids
    )
    # Filters pass through unchecked: the metadata worker owns the filter rules.
    if request.HasField("where"):
        prepare.where.CopyFrom(request.where)
    if request.HasField("where_document"):
        prepare.where_document.CopyFrom(request.where_document)
    return prepare


def _empty(count: int) -> record_service_pb2.QueryRecordsResponse:
    return record_service_pb2.QueryRecordsResponse(
        results=[common_pb2.RecordBatch() for _ in range(count)]
    )


def assemble(search: vector_service_pb2.SearchResponse,
             fetched: metadata_service_pb2.FetchRecordsResponse,
             fields: frozenset[int]) -> record_service_pb2.QueryRecordsResponse:
    """One RecordBatch per query, nearest first, with the included columns.

    Labels missing from `fetched` (deleted after the search) are dropped.
    """
    row_of = {label: row for row, label in enumerate(fetched.labels)}
    records = fetched.records
    stored_vectors = (vectors.decode(records.embeddings, "FetchRecords.embeddings")
                      if EMBEDDINGS in fields else None)
    response = record_service_pb2.QueryRecordsResponse()
    for found in search.results:
        kept = [(row_of[label], distance)
                for label, distance in zip(found.labels, found.distances) if label in row_of]
        rows = [row for row, _ in kept]
        batch = response.results.add()
        batch.ids.extend(records.ids[row] for row in rows)
        if DOCUMENTS in fields:
            batch.documents.extend(records.documents[row] for row in rows)
        if METADATAS in fields:
            batch.metadatas.extend(records.metadatas[row] for row in rows)
        if EMBEDDINGS in fields and rows:
            batch.embeddings.CopyFrom(vectors.encode(stored_vectors[np.asarray(rows)]))
        if DISTANCES in fields:
            batch.distances.extend(distance for _, distance in kept)
    dropped = len({label for found in search.results for label in found.labels}) - len(row_of)
    if dropped > 0:
        log.debug("query dropped %d labels deleted between search and fetch", dropped)
    return response
