"""QueryRecords: validate, search, fetch, assemble — in two hops when the gateway can.

The full path (three internal round trips):
1. MetadataService.PrepareQuery resolves the collection's vector segment, its log position
   and (for ids/where/where_document) the labels the search may return.
2. VectorService.Search on the segment's worker (rendezvous order, failover on UNAVAILABLE)
   returns the nearest labels; min_sequence = the log position, so the search sees every
   write acknowledged before this query.
3. MetadataService.FetchRecords turns the union of those labels into ids and the included
   fields; a label deleted in between is simply missing and dropped from the results.
4. One RecordBatch per query vector, nearest first.

The fast path (unfiltered queries, two round trips): when the gateway already knows the
collection's segment spec and a log position (gateway.segment_specs, learned from earlier
answers and its own acknowledged writes), it skips step 1 and searches at once. FetchRecords
answers with the spec and log position P of its snapshot, taken after this query began, so
every write acknowledged before the query is at or below P. The search is accepted when the
spec is unchanged and the worker had applied at least P (SearchResponse.applied_sequence);
otherwise the query searches again with min_sequence = P and the current spec, and fetches
again — correct by construction, one round trip dearer. Filtered queries need the allowed
labels before searching, so they always take the full path.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import grpc
import numpy as np

from gateway import validation
from gateway.query_batcher import QueryBatcher
from gateway.segment_specs import Known
from gateway.worker_clients import WorkerClients, timeout_from
from segmentdb import errors, vectors
from segmentdb.internal.v1 import metadata_service_pb2, vector_service_pb2
from segmentdb.v1 import common_pb2, record_service_pb2

log = logging.getLogger(__name__)

DISTANCES = common_pb2.INCLUDE_FIELD_DISTANCES
DOCUMENTS = common_pb2.INCLUDE_FIELD_DOCUMENTS
METADATAS = common_pb2.INCLUDE_FIELD_METADATAS
EMBEDDINGS = common_pb2.INCLUDE_FIELD_EMBEDDINGS


@dataclass(frozen=True)
class Query:
    """One validated unfiltered query waiting to be batched (gateway.query_batcher)."""
    request: record_service_pb2.QueryRecordsRequest
    count: int
    fields: frozenset[int]
    context: grpc.ServicerContext | None


def query_records(request: record_service_pb2.QueryRecordsRequest,
                  context: grpc.ServicerContext | None,
                  workers: WorkerClients,
                  batcher: QueryBatcher) -> record_service_pb2.QueryRecordsResponse:
    """Answer one query; unfiltered ones go through `batcher` (QueryBatcher over run_batch)."""
    queries, fields = validation.check_query(request)
    filtered = bool(request.ids) or request.HasField("where") or request.HasField("where_document")
    if not filtered and _usable(workers.specs.get(request.collection_id), queries.shape[1]):
        query = Query(request, len(queries), fields, context)
        answer = batcher.submit(request.collection_id, query)
        if answer is not None:
            return answer
    return _query_prepared(request, context, workers, queries, fields)


def _usable(known: Known | None, dimension: int) -> bool:
    return known is not None and known.spec.dimension == dimension > 0


def run_batch(workers: WorkerClients, batch: Sequence[Query]
              ) -> list[record_service_pb2.QueryRecordsResponse | None]:
    """The two-hop path for unfiltered queries on one collection, as one search and one
    fetch. None for each query when the full path must answer it instead."""
    first = batch[0].request
    collection_id = first.collection_id
    known = workers.specs.get(collection_id)
    dimension = first.query_embeddings.dimension
    if not _usable(known, dimension) or any(
            query.request.query_embeddings.dimension != dimension for query in batch):
        return [None] * len(batch)
    fields = frozenset().union(*(query.fields for query in batch))
    combined = first if len(batch) == 1 else record_service_pb2.QueryRecordsRequest(
        collection_id=collection_id,
        query_embeddings=common_pb2.VectorBatch(
            dimension=dimension,
            data=b"".join(query.request.query_embeddings.data for query in batch)),
        n_results=max(query.request.n_results for query in batch))
    count = sum(query.count for query in batch)
    deadline = _LatestDeadline([query.context for query in batch])
    try:
        search = _search(workers, deadline, combined, count, known.spec, known.log_sequence,
                         None)
    except errors.SegmentDBError as exc:
        # A stale spec may name a segment that no longer exists; the full path gives each
        # caller the right error (or the right answer).
        log.debug("search with the cached spec of %s failed (%s); preparing", collection_id, exc)
        workers.specs.forget(collection_id)
        return [None] * len(batch)
    fetched = _fetch(workers, deadline, combined, search, fields)
    workers.specs.learn(collection_id, fetched.segment, fetched.log_sequence)
    if fetched.segment != known.spec:
        return [None] * len(batch)
    if search.applied_sequence < fetched.log_sequence:
        # Writes the worker had not applied: search again, made to apply them first.
        search = _search(workers, deadline, combined, count, fetched.segment,
                         fetched.log_sequence, None)
        fetched = _fetch(workers, deadline, combined, search, fields)
    if len(batch) == 1:
        return [assemble(search, fetched, batch[0].fields)]
    answers, offset = [], 0
    for query in batch:
        k = query.request.n_results
        own = vector_service_pb2.SearchResponse(results=[
            vector_service_pb2.Neighbors(labels=found.labels[:k], distances=found.distances[:k])
            for found in search.results[offset:offset + query.count]])
        answers.append(assemble(own, fetched, query.fields))
        offset += query.count
    return answers


class _LatestDeadline:
    """The latest deadline of a batch's callers, in the shape timeout_from reads: one caller
    with a short deadline must not cut the batch short for the others (gRPC cancels each
    caller's own call when its deadline passes)."""

    def __init__(self, contexts):
        remaining = [context.time_remaining() if context is not None else None
                     for context in contexts]
        self._remaining = None if any(r is None for r in remaining) else max(remaining)
        self._started = time.monotonic()

    def time_remaining(self):
        if self._remaining is None:
            return None
        return self._remaining - (time.monotonic() - self._started)


def _query_prepared(request, context, workers: WorkerClients, queries: np.ndarray,
                    fields: frozenset[int]):
    prepared = workers.metadata.PrepareQuery(_prepare_request(request),
                                             timeout=timeout_from(context))
    segment = prepared.segment
    workers.specs.learn(request.collection_id, segment, prepared.log_sequence)
    allowed = prepared.allowed if prepared.filtered else None
    if (segment.dimension == 0 or prepared.record_count == 0
            or (allowed is not None and not allowed.int64_le)):
        return _empty(len(queries))
    if queries.shape[1] != segment.dimension:
        raise errors.InvalidDimensionException(
            f"query_embeddings: dimension {queries.shape[1]} does not match the collection's "
            f"dimension {segment.dimension}; send {segment.dimension}-dimensional vectors"
        )
    search = _search(workers, context, request, len(queries), segment, prepared.log_sequence,
                     allowed)
    return assemble(search, _fetch(workers, context, request, search, fields), fields)


def _search(workers: WorkerClients, context, request, expected: int, segment,
            min_sequence: int, allowed) -> vector_service_pb2.SearchResponse:
    search_request = vector_service_pb2.SearchRequest(
        segment=segment, queries=request.query_embeddings, k=request.n_results,
        min_sequence=min_sequence)
    if allowed is not None:
        search_request.filtered = True
        search_request.allowed.CopyFrom(allowed)
    search = workers.search(search_request, context)
    if len(search.results) != expected:
        raise errors.InternalError(
            f"vector worker returned {len(search.results)} result lists for {expected} queries")
    return search


def _fetch(workers: WorkerClients, context, request, search: vector_service_pb2.SearchResponse,
           fields: frozenset[int]) -> metadata_service_pb2.FetchRecordsResponse:
    found = list(dict.fromkeys(label for result in search.results for label in result.labels))
    return workers.metadata.FetchRecords(
        metadata_service_pb2.FetchRecordsRequest(
            collection_id=request.collection_id,
            labels=found,
            # Distances come from the search; the metadata worker knows only stored fields.
            include=common_pb2.Include(fields=sorted(fields - {DISTANCES})),
        ),
        timeout=timeout_from(context),
    )


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
