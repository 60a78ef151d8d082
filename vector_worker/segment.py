"""One collection's vector segment: an hnswlib index, its lock and its bookkeeping.

Labels are the metadata worker's `embeddings.id` values (never reused). The segment tracks
which labels are live and which are marked deleted itself, because hnswlib's
`get_ids_list()` includes deleted labels and it has no call listing the deleted ones.

Every hnswlib call happens under `self.lock`: `add_items`, `knn_query`, `mark_deleted`,
`resize_index` and `set_ef` must never run concurrently on one index (set_ef is index-wide
state, so searches are serialized too).

Search is exact (numpy, float64) when at most EXACT_SEARCH_MAX candidates remain, and
otherwise HNSW with ef = max(ef_search, k). Results come nearest first, ties broken by label;
k beyond the candidates gives fewer results, never an error.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Iterable, Sequence

import hnswlib
import numpy as np

from segmentdb import errors
from vector_worker import memory
from vector_worker.convert import SegmentParams

log = logging.getLogger(__name__)

EXACT_SEARCH_MAX = 4096
# First capacity of a new index; it grows by resize_factor when full.
INITIAL_CAPACITY = 1024
# Labels per get_items call when brute-forcing a large candidate set (bounded memory).
EXACT_CHUNK = 65536
# Queries per distance matrix in exact search (bounded memory: chunk * candidates * 8 bytes).
QUERY_CHUNK = 256
# hnswlib normalizes cosine vectors with norm + 1e-30; we do the same to queries.
_NORM_EPSILON = 1e-30

LOG_UPSERT = 1
LOG_DELETE = 2

Result = tuple[np.ndarray, np.ndarray]  # (labels int64, distances float32), nearest first


def _empty_result() -> Result:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


class Segment:
    """An in-memory HNSW segment. Create with `Segment.create`, or `segment_files.load`."""

    def __init__(self, params: SegmentParams, index: hnswlib.Index, *, live: Iterable[int] = (),
                 deleted: Iterable[int] = (), applied_sequence: int = 0):
        self.params = params
        self.lock = threading.RLock()
        self._index = index
        self._live: set[int] = set(live)
        self._deleted: set[int] = set(deleted)
        self.applied_sequence = applied_sequence
        # The applied_sequence of the last save in the segment's folder (0: never saved).
        self.persisted_sequence = 0
        # Records applied since the last persist (compared with sync_threshold).
        self.dirty = 0
        # (sorted live labels, their vectors as float64, squared norms) for small segments.
        self._exact_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Held by whoever replays the log into this segment, so two requests don't both do it.
        self.catch_up_lock = threading.Lock()
        # time.monotonic() of the last read of the log to its end (0: never), so the background
        # tailer skips a segment a search has just caught up.
        self.caught_up_at = 0.0

    @classmethod
    def create(cls, params: SegmentParams, capacity: int = INITIAL_CAPACITY,
               applied_sequence: int = 0) -> "Segment":
        if params.dimension <= 0:
            raise errors.InvalidArgumentError(
                f"segment {params.segment_id}: dimension must be > 0 to build an index")
        index = hnswlib.Index(space=params.space, dim=params.dimension)
        index.init_index(max_elements=max(1, capacity), ef_construction=params.ef_construction,
                         M=params.max_neighbors)
        index.set_num_threads(params.num_threads)
        return cls(params, index, applied_sequence=applied_sequence)

    # ----- facts -----------------------------------------------------------------------

    @property
    def segment_id(self) -> str:
        return self.params.segment_id

    @property
    def live_count(self) -> int:
        return len(self._live)

    @property
    def capacity(self) -> int:
        return self._index.get_max_elements()

    def live_labels(self) -> np.ndarray:
        with self.lock:
            return np.fromiter(sorted(self._live), dtype=np.int64, count=len(self._live))

    def deleted_labels(self) -> np.ndarray:
        """Labels present in the index but marked deleted (persisted next to it)."""
        with self.lock:
            return np.fromiter(sorted(self._deleted), dtype=np.int64, count=len(self._deleted))

    def memory_bytes(self) -> int:
        return memory.segment_bytes(self.params.dimension, self.params.max_neighbors,
                                    self.capacity, self.live_count)

    def save_index(self, path: str) -> None:
        with self.lock:
            self._index.save_index(path)

    def update_params(self, params: SegmentParams) -> None:
        """Take the mutable settings (ef_search, num_threads, resize_factor, sync_threshold)."""
        if not params.same_structure(self.params):
            raise errors.InternalError(
                f"segment {self.segment_id}: immutable parameters changed; reload the segment")
        with self.lock:
            if params.num_threads != self.params.num_threads:
                self._index.set_num_threads(params.num_threads)
            self.params = params

    # ----- writes ----------------------------------------------------------------------

    def apply(self, upsert_labels: Sequence[int] | np.ndarray = (),
              upsert_vectors: np.ndarray | None = None,
              delete_labels: Sequence[int] | np.ndarray = (),
              through_sequence: int | None = None) -> None:
        """Upsert then delete; then record `through_sequence` as applied (if given)."""
        with self.lock:
            self._upsert(upsert_labels, upsert_vectors)
            self._delete(delete_labels)
            if through_sequence is not None:
                self.applied_sequence = max(self.applied_sequence, int(through_sequence))

    def apply_log(self, sequences: Sequence[int], operations: Sequence[int],
                  labels: Sequence[int], vectors: np.ndarray, read_through: int) -> int:
        """Apply log entries in order (skipping those already applied); returns how many.

        `vectors` holds one row per UPSERT entry, in entry order (ReadLogResponse).
        """
        sequences = np.asarray(sequences, dtype=np.uint64)
        operations = np.asarray(operations, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if not (len(sequences) == len(operations) == len(labels)):
            raise errors.InternalError(
                f"log batch: {len(sequences)} sequences, {len(operations)} operations and "
                f"{len(labels)} labels differ in length")
        upsert_rows = np.cumsum(operations == LOG_UPSERT) - 1  # vector row of each upsert
        if int((operations == LOG_UPSERT).sum()) != len(vectors):
            raise errors.InternalError(
                f"log batch: {len(vectors)} vectors for {(operations == LOG_UPSERT).sum()} upserts")
        unknown = set(np.unique(operations)) - {LOG_UPSERT, LOG_DELETE}
        if unknown:
            raise errors.InternalError(f"log batch: unknown operations {sorted(unknown)}")
        with self.lock:
            fresh = sequences > np.uint64(self.applied_sequence)
            applied = int(fresh.sum())
            # Runs of one operation are applied as one batch; runs keep the log's order.
            start = 0
            while start < len(operations):
                end = start
                while end < len(operations) and operations[end] == operations[start]:
                    end += 1
                run = np.arange(start, end)[fresh[start:end]]
                if len(run):
                    if operations[start] == LOG_UPSERT:
                        self._upsert(labels[run], vectors[upsert_rows[run]])
                    else:
                        self._delete(labels[run])
                start = end
            self.applied_sequence = max(self.applied_sequence, int(read_through))
        return applied

    def _upsert(self, labels: Sequence[int] | np.ndarray, vectors: np.ndarray | None) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(labels), self.params.dimension):
            raise errors.InvalidDimensionException(
                f"segment {self.segment_id}: got vectors of shape {vectors.shape} for "
                f"{len(labels)} labels; expected ({len(labels)}, {self.params.dimension})")
        if labels.min() < 0:
            raise errors.InternalError(f"segment {self.segment_id}: labels must be >= 0")
        if len(np.unique(labels)) != len(labels):
            # The last vector of a label wins (a batch is applied in order).
            _, first_from_end = np.unique(labels[::-1], return_index=True)
            keep = np.sort(len(labels) - 1 - first_from_end)
            labels, vectors = labels[keep], vectors[keep]
        label_list = labels.tolist()
        new = sum(1 for label in label_list if label not in self._live and label not in self._deleted)
        self._ensure_capacity(self._index.element_count + new)
        # Re-adding a label marked deleted un-deletes it and replaces its vector (hnswlib's
        # addPoint unmarks then updates) — labels aren't reused, but a rebuilt log may do it.
        self._index.add_items(np.ascontiguousarray(vectors), labels,
                              num_threads=self.params.num_threads)
        self._live.update(label_list)
        self._deleted.difference_update(label_list)
        self._exact_cache = None
        self.dirty += len(label_list)

    def _delete(self, labels: Sequence[int] | np.ndarray) -> None:
        removed = 0
        for label in np.asarray(labels, dtype=np.int64).reshape(-1).tolist():
            if label in self._live:  # unknown or already deleted labels are ignored
                self._index.mark_deleted(label)
                self._live.discard(label)
                self._deleted.add(label)
                removed += 1
        if removed:
            self._exact_cache = None
            self.dirty += removed

    def _ensure_capacity(self, required: int) -> None:
        capacity = self._index.get_max_elements()
        if required <= capacity:
            return
        new_capacity = capacity
        while new_capacity < required:
            new_capacity = max(new_capacity + 1, math.ceil(new_capacity * self.params.resize_factor))
        log.debug("segment %s: resizing %d -> %d", self.segment_id, capacity, new_capacity)
        self._index.resize_index(new_capacity)

    # ----- search ----------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int,
               allowed_labels: Iterable[int] | None = None) -> list[Result]:
        """The k nearest live labels of each query row (restricted to allowed_labels if given)."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.params.dimension:
            raise errors.InvalidDimensionException(
                f"queries: shape {queries.shape} does not match the segment's dimension "
                f"{self.params.dimension}")
        if k < 1:
            raise errors.InvalidArgumentError(f"k: must be >= 1, got {k}")
        n = queries.shape[0]
        with self.lock:
            if allowed_labels is None:
                candidates: set[int] | None = None
                count = len(self._live)
            else:
                candidates = self._live.intersection(allowed_labels)
                count = len(candidates)
            if count == 0 or n == 0:
                return [_empty_result() for _ in range(n)]
            k = min(k, count)
            if len(self._live) <= EXACT_SEARCH_MAX:
                labels, matrix, sq = self._small_segment_matrix()
                if candidates is not None:
                    mask = np.isin(labels, np.fromiter(candidates, dtype=np.int64, count=count))
                    labels, matrix, sq = labels[mask], matrix[mask], sq[mask]
                return self._exact(queries, k, [(labels, matrix, sq)])
            if candidates is not None and count <= EXACT_SEARCH_MAX:
                labels = np.fromiter(sorted(candidates), dtype=np.int64, count=count)
                return self._exact(queries, k, [self._vectors_of(labels)])
            return self._hnsw(queries, k, candidates)

    def _small_segment_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._exact_cache is None:
            labels = np.fromiter(sorted(self._live), dtype=np.int64, count=len(self._live))
            self._exact_cache = self._vectors_of(labels)
        return self._exact_cache

    def _vectors_of(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stored vectors (normalized for cosine: hnswlib stores them so) as float64."""
        if len(labels) == 0:
            matrix = np.zeros((0, self.params.dimension))
        else:
            matrix = np.asarray(self._index.get_items(labels), dtype=np.float64)
        return labels, matrix, np.einsum("ij,ij->i", matrix, matrix)

    def _candidate_chunks(self, candidates: set[int] | None):
        labels = np.fromiter(sorted(self._live if candidates is None else candidates),
                             dtype=np.int64)
        for start in range(0, len(labels), EXACT_CHUNK):
            yield self._vectors_of(labels[start:start + EXACT_CHUNK])

    def _exact(self, queries: np.ndarray, k: int, chunks) -> list[Result]:
        """Brute force in float64 over (labels, vectors, squared norms) chunks; top k merged."""
        q = queries.astype(np.float64)
        if self.params.space == "cosine":
            q = q / (np.linalg.norm(q, axis=1, keepdims=True) + _NORM_EPSILON)
        n = q.shape[0]
        best_labels = np.zeros((n, 0), dtype=np.int64)
        best_dists = np.zeros((n, 0), dtype=np.float32)
        for labels, matrix, sq in chunks:
            if len(labels) == 0:
                continue
            parts = []
            for start in range(0, n, QUERY_CHUNK):
                block = q[start:start + QUERY_CHUNK]
                dots = block @ matrix.T
                if self.params.space == "l2":
                    dist = np.einsum("ij,ij->i", block, block)[:, None] + sq[None, :] - 2.0 * dots
                    np.maximum(dist, 0.0, out=dist)
                else:  # ip and cosine (vectors normalized): 1 - dot
                    dist = 1.0 - dots
                parts.append(dist.astype(np.float32))
            dists = np.concatenate(parts) if len(parts) > 1 else parts[0]
            all_labels = np.concatenate([best_labels, np.broadcast_to(labels, (n, len(labels)))], axis=1)
            all_dists = np.concatenate([best_dists, dists], axis=1)
            best_labels, best_dists = _top_k(all_labels, all_dists, k)
        return [(best_labels[i], best_dists[i]) for i in range(n)]

    def _hnsw(self, queries: np.ndarray, k: int, candidates: set[int] | None) -> list[Result]:
        ef = max(self.params.ef_search, k)
        self._index.set_ef(ef)
        # A Python filter runs under the GIL for every visited node: more threads only
        # contend for it (measured 4x slower with 2 threads), so filtered search uses one.
        flt = None if candidates is None else candidates.__contains__
        threads = self.params.num_threads if flt is None else 1
        try:
            labels, dists = self._index.knn_query(queries, k=k, num_threads=threads, filter=flt)
            labels = labels.astype(np.int64)
            return [_sorted_row(labels[i], dists[i]) for i in range(len(queries))]
        except RuntimeError:
            # hnswlib raises when it can't find k results for some query (few candidates
            # reachable within ef). Retry query by query, then fall back to brute force.
            return [self._hnsw_one(queries[i:i + 1], k, ef, flt, candidates)
                    for i in range(len(queries))]

    def _hnsw_one(self, query: np.ndarray, k: int, ef: int, flt, candidates) -> Result:
        wider = min(max(ef * 4, k), max(self._index.element_count, k))
        self._index.set_ef(wider)
        try:
            labels, dists = self._index.knn_query(query, k=k, num_threads=1, filter=flt)
            return _sorted_row(labels[0].astype(np.int64), dists[0])
        except RuntimeError:
            log.info("segment %s: HNSW found fewer than %d results; searching exactly",
                     self.segment_id, k)
            return self._exact(query, k, self._candidate_chunks(candidates))[0]
        finally:
            self._index.set_ef(ef)


def _top_k(labels: np.ndarray, dists: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k smallest distances, ties broken by the smaller label."""
    order = np.lexsort((labels, dists), axis=1)[:, :k]
    return np.take_along_axis(labels, order, axis=1), np.take_along_axis(dists, order, axis=1)


def _sorted_row(labels: np.ndarray, dists: np.ndarray) -> Result:
    order = np.lexsort((labels, dists))
    return labels[order], dists[order].astype(np.float32)
