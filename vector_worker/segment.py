"""One collection's vector segment: an hnswlib index, its lock and its bookkeeping.

Labels are the metadata worker's `embeddings.id` values (never reused). The segment tracks
which labels are live and which are marked deleted itself, because hnswlib's
`get_ids_list()` includes deleted labels and it has no call listing the deleted ones.

Every hnswlib call happens under `self.lock`: `add_items`, `knn_query`, `mark_deleted`,
`resize_index` and `set_ef` must never run concurrently on one index (set_ef is index-wide
state, so searches are serialized too).

Next to the index the segment keeps a VectorMirror: a float32 copy of the vectors in label
order (vector_mirror.py). It says which labels are live and serves exact search: a segment
of at most EXACT_SEARCH_MAX live vectors, or a filtered search whose candidates are few or
a small fraction of the segment (FILTERED_HNSW_EQUIVALENT), is brute-forced on the mirror (float32 BLAS to shortlist,
float64 to rank the shortlist); anything larger goes to HNSW with ef = max(ef_search, k)
(with hnswlib's filter when filtered). Results come nearest first, ties broken by label;
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
from vector_worker import memory, vector_mirror
from vector_worker.convert import SegmentParams

log = logging.getLogger(__name__)

EXACT_SEARCH_MAX = 4096
# A filtered search is exact (brute force over its live candidates) or HNSW with hnswlib's
# filter callback, whichever is cheaper. Exact costs ~ candidates x dimension. hnswlib's
# filtered search visits ~ 1/selectivity times the nodes of an unfiltered one, each through
# a Python callback (also ~ dimension): it costs about what an exact scan of
# FILTERED_HNSW_EQUIVALENT x live / candidates candidates costs, at ef 100. So exact wins
# below sqrt(FILTERED_HNSW_EQUIVALENT x live x ef / 100) candidates: ~8.4k of 100k, ~26k of
# 1M. Measured with Segment._exact / _hnsw on 100k x 384 clustered vectors (M 16, ef 100,
# one query, random allowed sets, the bool-mask filter below, p50 ms; a shared 2-CPU VM),
# exact | HNSW+filter:
#    1% (1k)   0.78 | 23.8     2% (2k)   0.95 | 12.0     5% (5k)  1.93 | 5.49
#   10% (10k)  3.66 |  1.64   20% (20k)  7.04 |  1.27
# i.e. an HNSW search costs an exact scan of 300-710 x live / candidates rows at 1-10%.
# (Until issue 4's second pass a fixed 12,288 candidates at d=384 decided: right at 100k,
# wrong for larger and smaller segments.) At most EXACT_FILTERED_VALUES (candidates x
# dimension) is cheap whatever the segment's size: always exact, recall 1.0.
EXACT_FILTERED_VALUES = 4096 * 384
FILTERED_HNSW_EQUIVALENT = 700
# First capacity of a new index; it grows by resize_factor when full.
INITIAL_CAPACITY = 1024
# Floats per block of gathered candidate rows (~1 MiB: stays in cache; 512-1024 rows at
# d=384 measured fastest).
EXACT_CHUNK_VALUES = 1024 * 256
# Float32 distances held at once (rows of queries x candidates): bounds exact search memory.
DISTANCE_BLOCK_VALUES = 1 << 22
QUERY_CHUNK = 256
# Float32 shortlisting may misorder distances by a few ulps of the operands' magnitude;
# every candidate within this relative margin of the k-th is reranked in float64.
SHORTLIST_MARGIN = 1e-4
# hnswlib normalizes cosine vectors with norm + 1e-30; we do the same to queries.
_NORM_EPSILON = 1e-30

LOG_UPSERT = 1
LOG_DELETE = 2

Result = tuple[np.ndarray, np.ndarray]  # (labels int64, distances float32), nearest first


def _empty_result() -> Result:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


class Segment:
    """An in-memory HNSW segment. Create with `Segment.create`, or `segment_files.load`."""

    def __init__(self, params: SegmentParams, index: hnswlib.Index, *,
                 deleted: Iterable[int] = (), applied_sequence: int = 0,
                 saved_file: str | None = None):
        """Wrap `index` (fresh, or loaded from disk — from `saved_file` — with its `deleted`
        labels)."""
        self.params = params
        self.lock = threading.RLock()
        self._index = index
        # Labels marked deleted in the index (hnswlib keeps their slots; saved with it).
        self._deleted: set[int] = set(deleted)
        # Every live label of the index: which labels are live, and the vectors exact
        # search reads.
        self._mirror = vector_mirror.from_index(
            index, params.dimension,
            np.fromiter(self._deleted, dtype=np.int64, count=len(self._deleted)),
            cosine=params.space == "cosine", saved_file=saved_file)
        # The largest label the index has ever held (live or deleted): a filter mask must
        # answer for every label hnswlib may visit.
        self._top_label = max(int(self._mirror.labels[-1]) if self._mirror.row_count else -1,
                              max(self._deleted, default=-1))
        self.applied_sequence = applied_sequence
        # The applied_sequence of the last save in the segment's folder (0: never saved).
        self.persisted_sequence = 0
        # Records applied since the last persist (compared with sync_threshold).
        self.dirty = 0
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
        return self._mirror.live_count

    @property
    def deleted_count(self) -> int:
        """Entries marked deleted in the index: their slots stay until a rebuild."""
        return len(self._deleted)

    @property
    def capacity(self) -> int:
        return self._index.get_max_elements()

    def live_labels(self) -> np.ndarray:
        with self.lock:
            return self._mirror.live_labels()

    def deleted_labels(self) -> np.ndarray:
        """Labels present in the index but marked deleted (persisted next to it)."""
        with self.lock:
            return np.fromiter(sorted(self._deleted), dtype=np.int64, count=len(self._deleted))

    def memory_bytes(self) -> int:
        return memory.segment_bytes(self.params.dimension, self.params.max_neighbors,
                                    self.capacity)

    def mirror_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(live labels ascending, their vectors as exact search sees them), copied."""
        with self.lock:
            rows = self._mirror.live_rows()
            return self._mirror.labels[rows], self._mirror.vectors[rows]

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
        # hnswlib needs a new slot for labels it has never held (neither live nor deleted).
        unknown = labels[~self._mirror.contains(labels)]
        new = sum(1 for label in unknown.tolist() if label not in self._deleted)
        self._ensure_capacity(self._index.element_count + new)
        # Re-adding a label marked deleted un-deletes it and replaces its vector (hnswlib's
        # addPoint unmarks then updates) — labels aren't reused, but a rebuilt log may do it.
        self._index.add_items(np.ascontiguousarray(vectors), labels,
                              num_threads=self.params.num_threads)
        self._mirror.upsert(labels, vectors)
        self._top_label = max(self._top_label, int(labels.max()))
        if self._deleted:
            self._deleted.difference_update(labels.tolist())
        self.dirty += len(labels)

    def _delete(self, labels: Sequence[int] | np.ndarray) -> None:
        # Unknown or already deleted labels are ignored.
        removed = self._mirror.delete(np.asarray(labels, dtype=np.int64).reshape(-1)).tolist()
        for label in removed:
            self._index.mark_deleted(label)
        self._deleted.update(removed)
        self.dirty += len(removed)

    def _ensure_capacity(self, required: int) -> None:
        capacity = self._index.get_max_elements()
        if required <= capacity:
            return
        new_capacity = capacity
        while new_capacity < required:
            new_capacity = max(new_capacity + 1, math.ceil(new_capacity * self.params.resize_factor))
        log.debug("segment %s: resizing %d -> %d", self.segment_id, capacity, new_capacity)
        self._index.resize_index(new_capacity)
        self._mirror.reserve(new_capacity)  # grows with the index: the budget counts both

    # ----- search ----------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int,
               allowed_labels: np.ndarray | Iterable[int] | None = None) -> list[Result]:
        """The k nearest live labels of each query row (restricted to allowed_labels if
        given: an int64 array, or any iterable of ints; unknown or deleted ones ignored)."""
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.params.dimension:
            raise errors.InvalidDimensionException(
                f"queries: shape {queries.shape} does not match the segment's dimension "
                f"{self.params.dimension}")
        if k < 1:
            raise errors.InvalidArgumentError(f"k: must be >= 1, got {k}")
        if allowed_labels is not None and not isinstance(allowed_labels, np.ndarray):
            allowed_labels = np.fromiter(allowed_labels, dtype=np.int64)
        n = queries.shape[0]
        with self.lock:
            live = self._mirror.live_count
            # The mirror's rows of the allowed live labels (None: every live label).
            rows = None if allowed_labels is None else self._mirror.rows_of(allowed_labels)
            count = live if rows is None else len(rows)
            if count == 0 or n == 0:
                return [_empty_result() for _ in range(n)]
            k = min(k, count)
            if live <= EXACT_SEARCH_MAX or (rows is not None and self._filter_is_exact(
                    count, live, max(self.params.ef_search, k))):
                return self._exact(queries, k, self._mirror.live_rows() if rows is None else rows)
            return self._hnsw(queries, k, rows)

    def _filter_is_exact(self, candidates: int, live: int, ef: int) -> bool:
        """Brute force for a filtered search of `candidates` of `live` labels (see
        FILTERED_HNSW_EQUIVALENT)."""
        if candidates * self.params.dimension <= EXACT_FILTERED_VALUES:
            return True
        return candidates * candidates <= FILTERED_HNSW_EQUIVALENT * live * ef / 100

    def _exact(self, queries: np.ndarray, k: int, rows: np.ndarray) -> list[Result]:
        """Brute force over the mirror's `rows`: float32 BLAS shortlists, per query, every
        candidate within SHORTLIST_MARGIN of the k-th; the shortlist is ranked in float64
        (as exact as the old float64 search, and ties broken by label)."""
        mirror, space = self._mirror, self.params.space
        q32 = queries
        if space == "cosine":
            q32 = vector_mirror.normalize(queries)
        sq_norms = mirror.sq_norms[rows]
        largest = float(np.sqrt(sq_norms.max()))
        chunk_rows = max(64, EXACT_CHUNK_VALUES // self.params.dimension)
        buffer = _scratch(min(chunk_rows, len(rows)) * self.params.dimension).reshape(
            -1, self.params.dimension)
        query_chunk = max(1, min(QUERY_CHUNK, DISTANCE_BLOCK_VALUES // len(rows)))
        results: list[Result] = []
        for q_start in range(0, len(queries), query_chunk):
            block = q32[q_start:q_start + query_chunk]
            dists = np.empty((len(block), len(rows)), dtype=np.float32)
            for start in range(0, len(rows), chunk_rows):
                part = rows[start:start + chunk_rows]
                np.matmul(block, mirror.gather(part, buffer).T,
                          out=dists[:, start:start + len(part)])
            q_sq = np.einsum("ij,ij->i", block, block)
            if space == "l2":  # |q|^2 + |x|^2 - 2 q.x
                dists *= -2.0
                dists += sq_norms[None, :]
                dists += q_sq[:, None]
                scale = (np.sqrt(q_sq) + largest) ** 2
            else:  # ip, and cosine on normalized vectors: 1 - q.x
                np.subtract(1.0, dists, out=dists)
                scale = np.sqrt(q_sq) * largest
            for i in range(len(block)):
                shortlist = _shortlist(dists[i], k, SHORTLIST_MARGIN * float(scale[i]))
                results.append(self._rank(queries[q_start + i], rows[shortlist], k))
        return results

    def _rank(self, query: np.ndarray, rows: np.ndarray, k: int) -> Result:
        """The k nearest of `rows` to `query`, distances in float64 (then float32), ties by
        label."""
        x = self._mirror.vectors[rows].astype(np.float64)
        q = query.astype(np.float64)
        if self.params.space == "l2":
            diff = x - q
            dist = np.einsum("ij,ij->i", diff, diff)
        else:
            if self.params.space == "cosine":
                q = q / (np.linalg.norm(q) + _NORM_EPSILON)
            dist = 1.0 - x @ q
        return _sorted_row(self._mirror.labels[rows], dist, k)

    def _hnsw(self, queries: np.ndarray, k: int, rows: np.ndarray | None) -> list[Result]:
        """HNSW search; `rows` (the mirror's rows of the allowed labels) restricts it."""
        ef = max(self.params.ef_search, k)
        self._index.set_ef(ef)
        # A Python filter runs under the GIL for every visited node: more threads only
        # contend for it (measured 4x slower with 2 threads), so filtered search uses one.
        flt = None if rows is None else _label_filter(self._mirror.labels[rows], self._top_label)
        threads = self.params.num_threads if flt is None else 1
        try:
            labels, dists = self._index.knn_query(queries, k=k, num_threads=threads, filter=flt)
            # hnswlib sorts by distance; ties go to the smaller label, for all rows at once
            # (a sort per row cost ~2 ms per 100 queries).
            labels, dists = labels.astype(np.int64), dists.astype(np.float32)
            order = np.lexsort((labels, dists), axis=-1)
            labels = np.take_along_axis(labels, order, axis=1)
            dists = np.take_along_axis(dists, order, axis=1)
            return [(labels[i], dists[i]) for i in range(len(queries))]
        except RuntimeError:
            # hnswlib raises when it can't find k results for some query (few candidates
            # reachable within ef). Retry query by query, then fall back to brute force.
            return [self._hnsw_one(queries[i:i + 1], k, ef, flt, rows)
                    for i in range(len(queries))]

    def _hnsw_one(self, query: np.ndarray, k: int, ef: int, flt, rows) -> Result:
        wider = min(max(ef * 4, k), max(self._index.element_count, k))
        self._index.set_ef(wider)
        try:
            labels, dists = self._index.knn_query(query, k=k, num_threads=1, filter=flt)
            return _sorted_row(labels[0].astype(np.int64), dists[0])
        except RuntimeError:
            log.info("segment %s: HNSW found fewer than %d results; searching exactly",
                     self.segment_id, k)
            return self._exact(query, k, self._mirror.live_rows() if rows is None else rows)[0]
        finally:
            self._index.set_ef(ef)


# Largest label for which a filter is a bool mask indexed by label (1 byte per label; big
# masks are mapped lazily by np.zeros, so only the touched pages cost). Beyond it, a set.
LABEL_MASK_MAX = 1 << 26


def _label_filter(allowed: np.ndarray, top_label: int):
    """The callable hnswlib asks about each label it visits: True for `allowed`.

    A bool mask's bound __getitem__ answers without a Python frame, and building it takes
    ~20 us for 10k labels where set(labels.tolist()) took 0.58 ms — a third of a 10%-filter
    search at 100k (measured: 10% filter, 100k x 384, p50 1.72 ms with a set, 0.96 ms with
    the mask). The mask spans every label the index has held (`top_label`), so no label
    hnswlib passes can fall outside it."""
    if top_label >= LABEL_MASK_MAX:
        return set(allowed.tolist()).__contains__
    mask = np.zeros(top_label + 1, dtype=bool)
    mask[allowed] = True
    return mask.__getitem__


_thread_scratch = threading.local()


def _scratch(values: int) -> np.ndarray:
    """A float32 buffer of `values` reused by this thread's exact searches.

    A fresh one per search would be a fresh mmap (the worker's malloc threshold is 256 KiB,
    process_memory.py) and page faults on every touch: 1.5 MB of them made a 1%-filter
    search 4x slower. At most EXACT_CHUNK_VALUES floats per server thread."""
    buffer = getattr(_thread_scratch, "buffer", None)
    if buffer is None or len(buffer) < values:
        buffer = _thread_scratch.buffer = np.empty(values, dtype=np.float32)
    return buffer[:values]


def _shortlist(dists: np.ndarray, k: int, margin: float) -> np.ndarray:
    """Positions of every distance within `margin` of the k-th smallest (at least k)."""
    if k >= len(dists):
        return np.arange(len(dists))
    kth = np.partition(dists, k - 1)[k - 1]
    return np.flatnonzero(dists <= kth + margin)


def _sorted_row(labels: np.ndarray, dists: np.ndarray, k: int | None = None) -> Result:
    """Nearest first by the float32 distance returned, ties broken by the smaller label."""
    dists = dists.astype(np.float32)
    order = np.lexsort((labels, dists))[:k]
    return labels[order], dists[order]
