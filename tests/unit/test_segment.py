"""Segment: exact search against a numpy oracle, filtered HNSW recall, writes, edge cases.

Real hnswlib throughout; random data is seeded.
"""

from __future__ import annotations

import numpy as np
import pytest

from segmentdb import errors
from vector_worker import memory, vector_mirror
from vector_worker import segment as segment_module
from vector_worker.convert import SegmentParams
from vector_worker.segment import EXACT_SEARCH_MAX, LOG_DELETE, LOG_UPSERT, Segment

SPACES = ["l2", "ip", "cosine"]


def params(dimension: int = 8, space: str = "l2", **overrides) -> SegmentParams:
    fields = dict(segment_id="seg-1", collection_id="col-1", dimension=dimension, space=space,
                  max_neighbors=16, ef_construction=100, ef_search=100, num_threads=2)
    fields.update(overrides)
    return SegmentParams(**fields)


def oracle_distances(space: str, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The definitions, directly: l2 squared, ip 1 - dot, cosine 1 - cos (float64)."""
    q = queries.astype(np.float64)
    x = vectors.astype(np.float64)
    if space == "l2":
        return ((q[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    if space == "ip":
        return 1.0 - q @ x.T
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 1.0 - qn @ xn.T


def oracle_top_k(space, queries, labels, vectors, k):
    dist = oracle_distances(space, queries, vectors)
    out = []
    for row in dist:
        order = np.lexsort((labels, row))[:k]
        out.append((labels[order], row[order]))
    return out


def assert_matches_oracle(results, expected):
    assert len(results) == len(expected)
    for (labels, dists), (want_labels, want_dists) in zip(results, expected):
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_allclose(dists, want_dists, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("space", SPACES)
def test_exact_search_matches_numpy_oracle(space):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    labels = np.arange(100, 600)
    segment = Segment.create(params(16, space))
    segment.apply(labels, vectors)
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    results = segment.search(queries, 10)
    assert_matches_oracle(results, oracle_top_k(space, queries, labels, vectors, 10))
    for result_labels, dists in results:
        assert result_labels.dtype == np.int64 and dists.dtype == np.float32


@pytest.mark.parametrize("space", SPACES)
def test_filtered_exact_search_in_a_large_segment(space):
    """> EXACT_SEARCH_MAX live vectors but a small allowed set: brute force over it."""
    rng = np.random.default_rng(2)
    n = EXACT_SEARCH_MAX + 1000
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    labels = np.arange(n)
    segment = Segment.create(params(8, space, ef_construction=40, max_neighbors=8))
    segment.apply(labels, vectors)
    allowed = rng.choice(n, size=300, replace=False)
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    results = segment.search(queries, 7, allowed_labels=allowed.tolist() + [10**9])
    mask = np.isin(labels, allowed)
    assert_matches_oracle(results, oracle_top_k(space, queries, labels[mask], vectors[mask], 7))


@pytest.fixture()
def hnsw_for_filters(monkeypatch):
    """Send every filtered search above EXACT_SEARCH_MAX candidates to HNSW + filter (the
    real cost rule, EXACT_FILTERED_VALUES and FILTERED_HNSW_EQUIVALENT, would brute-force
    these small test segments)."""
    monkeypatch.setattr(segment_module, "EXACT_FILTERED_VALUES", 0)
    monkeypatch.setattr(segment_module, "FILTERED_HNSW_EQUIVALENT", 0)


def recall(results, expected) -> float:
    hits = sum(len(set(r[0].tolist()) & set(e[0].tolist())) for r, e in zip(results, expected))
    return hits / sum(len(e[0]) for e in expected)


@pytest.fixture(scope="module")
def big_segment():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((20_000, 32)).astype(np.float32)
    labels = np.arange(1, 20_001)
    segment = Segment.create(params(32, "l2"))
    segment.apply(labels, vectors)
    return segment, labels, vectors, rng.standard_normal((100, 32)).astype(np.float32)


def test_hnsw_search_recall(big_segment):
    segment, labels, vectors, queries = big_segment
    results = segment.search(queries, 10)
    assert recall(results, oracle_top_k("l2", queries, labels, vectors, 10)) >= 0.95


@pytest.mark.parametrize("path", ["hnsw", "exact"])
def test_filtered_search_recall_on_both_paths(big_segment, monkeypatch, path):
    """A large allowed set goes through hnswlib's filter above the exact threshold, and is
    brute-forced on the mirror below it; both return allowed labels only."""
    segment, labels, vectors, queries = big_segment
    allowed = labels[labels % 3 == 0]
    assert len(allowed) > EXACT_SEARCH_MAX
    monkeypatch.setattr(segment_module, "EXACT_FILTERED_VALUES",
                        0 if path == "hnsw" else len(allowed) * 32)
    monkeypatch.setattr(segment_module, "FILTERED_HNSW_EQUIVALENT", 0)
    results = segment.search(queries, 10, allowed_labels=allowed)
    allowed_set = set(allowed.tolist())
    for result_labels, _ in results:
        assert set(result_labels.tolist()) <= allowed_set
        assert len(result_labels) == 10
    mask = labels % 3 == 0
    expected = oracle_top_k("l2", queries, labels[mask], vectors[mask], 10)
    if path == "exact":
        assert_matches_oracle(results, expected)
    else:
        assert recall(results, expected) >= 0.95


def test_filtered_exact_search_ignores_order_duplicates_and_unknown_labels(big_segment):
    """Allowed labels arrive as an int64 array, or any iterable; unsorted, repeated and
    unknown labels change nothing."""
    segment, labels, vectors, queries = big_segment
    rng = np.random.default_rng(30)
    allowed = rng.choice(labels, 2000, replace=False)
    messy = np.concatenate([allowed, allowed[:100], [0, 10**12, -5]])
    rng.shuffle(messy)
    mask = np.isin(labels, allowed)
    expected = oracle_top_k("l2", queries[:5], labels[mask], vectors[mask], 10)
    for given in (np.sort(allowed), messy, messy.tolist(), iter(messy.tolist())):
        assert_matches_oracle(segment.search(queries[:5], 10, allowed_labels=given), expected)


def test_hnsw_results_are_sorted_nearest_first(big_segment):
    segment, _, _, queries = big_segment
    for _, dists in segment.search(queries, 50):
        assert np.all(np.diff(dists) >= 0)


def test_k_larger_than_the_segment_returns_everything():
    segment = Segment.create(params(4))
    vectors = np.eye(4, dtype=np.float32)
    segment.apply([5, 6, 7, 8], vectors)
    labels, dists = segment.search(vectors[:1], 100)[0]
    assert labels.tolist()[0] == 5 and sorted(labels.tolist()) == [5, 6, 7, 8]
    labels, _ = segment.search(vectors[:1], 100, allowed_labels=[6, 7, 42])[0]
    assert sorted(labels.tolist()) == [6, 7]
    labels, _ = segment.search(vectors[:1], 3, allowed_labels=[42])[0]
    assert labels.tolist() == []


def test_k_larger_than_filtered_hnsw_candidates(hnsw_for_filters):
    """A filtered HNSW search that can't fill k gives what exists, never hnswlib's error."""
    rng = np.random.default_rng(4)
    n = 2 * EXACT_SEARCH_MAX + 10
    segment = Segment.create(params(8, ef_search=10, ef_construction=40))
    segment.apply(np.arange(n), rng.standard_normal((n, 8)).astype(np.float32))
    allowed = np.arange(0, EXACT_SEARCH_MAX + 1)
    segment.apply(delete_labels=np.arange(0, 200))  # allowed-but-deleted labels don't count
    labels, dists = segment.search(rng.standard_normal((1, 8)).astype(np.float32), 5000,
                                   allowed_labels=allowed)[0]
    assert sorted(labels.tolist()) == list(range(200, EXACT_SEARCH_MAX + 1))
    assert np.all(np.diff(dists) >= 0)


def test_ties_are_broken_by_label():
    segment = Segment.create(params(2))
    same = np.array([[1.0, 0.0]] * 5, dtype=np.float32)
    segment.apply([40, 10, 30, 20, 50], same)
    labels, dists = segment.search(np.array([[0.0, 0.0]], dtype=np.float32), 3)[0]
    assert labels.tolist() == [10, 20, 30]
    assert np.all(dists == dists[0])


def test_empty_segment_and_empty_queries():
    segment = Segment.create(params(3))
    assert [r[0].tolist() for r in segment.search(np.ones((2, 3), np.float32), 5)] == [[], []]
    segment.apply([1], np.ones((1, 3), np.float32))
    assert segment.search(np.zeros((0, 3), np.float32), 5) == []


def test_deletes_updates_and_readding_a_deleted_label():
    segment = Segment.create(params(2))
    segment.apply([1, 2, 3], np.array([[0, 0], [1, 0], [2, 0]], dtype=np.float32))
    segment.apply(delete_labels=[2, 2, 99])  # duplicates and unknown labels are ignored
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    assert segment.search(query, 5)[0][0].tolist() == [1, 3]
    assert segment.live_count == 2
    # Update: label 3 moves right next to the query.
    segment.apply([3], np.array([[1.0, 0.1]], dtype=np.float32))
    labels, dists = segment.search(query, 1)[0]
    assert labels.tolist() == [3] and dists[0] == pytest.approx(0.01, rel=1e-4)
    # A deleted label that comes back is live again, with its new vector.
    segment.apply([2], np.array([[1.0, 0.0]], dtype=np.float32))
    labels, dists = segment.search(query, 3)[0]
    assert labels.tolist() == [2, 3, 1] and dists[0] == 0.0
    assert segment.live_count == 3
    segment.apply(delete_labels=[2])
    assert segment.deleted_labels().tolist() == [2]


def test_last_vector_of_a_label_in_one_batch_wins():
    segment = Segment.create(params(2))
    segment.apply([7, 7, 8], np.array([[0, 0], [5, 5], [1, 1]], dtype=np.float32))
    labels, _ = segment.search(np.array([[5, 5]], dtype=np.float32), 1)[0]
    assert labels.tolist() == [7]
    assert segment.live_count == 2


def test_resize_grows_capacity_by_resize_factor():
    segment = Segment.create(params(4, resize_factor=1.5), capacity=10)
    rng = np.random.default_rng(5)
    segment.apply(np.arange(10), rng.random((10, 4), dtype=np.float32))
    assert segment.capacity == 10
    segment.apply([10], rng.random((1, 4), dtype=np.float32))
    assert segment.capacity == 15
    segment.apply(np.arange(11, 100), rng.random((89, 4), dtype=np.float32))
    assert segment.capacity >= 100 and segment.live_count == 100
    # Deleted labels keep their slot: re-adding one needs no new capacity.
    before = segment.capacity
    segment.apply(delete_labels=[3])
    segment.apply([3], rng.random((1, 4), dtype=np.float32))
    assert segment.capacity == before


def test_apply_log_keeps_order_and_skips_applied_entries():
    segment = Segment.create(params(2))
    vectors = np.array([[0, 0], [1, 1], [2, 2]], dtype=np.float32)
    applied = segment.apply_log([1, 2, 3, 4], [LOG_UPSERT, LOG_UPSERT, LOG_DELETE, LOG_UPSERT],
                                [10, 11, 10, 12], vectors, read_through=4)
    assert applied == 4 and segment.applied_sequence == 4
    assert segment.live_labels().tolist() == [11, 12]
    # Replaying an overlapping page applies only the new entries.
    applied = segment.apply_log([4, 5], [LOG_UPSERT, LOG_DELETE], [12, 11],
                                np.array([[9, 9]], dtype=np.float32), read_through=7)
    assert applied == 1 and segment.applied_sequence == 7
    assert segment.live_labels().tolist() == [12]
    assert segment.dirty == 5


def test_apply_log_rejects_a_malformed_page():
    segment = Segment.create(params(2))
    with pytest.raises(errors.InternalError):
        segment.apply_log([1], [LOG_UPSERT], [1], np.zeros((0, 2), np.float32), 1)
    with pytest.raises(errors.InternalError):
        segment.apply_log([1], [9], [1], np.zeros((0, 2), np.float32), 1)


def test_dimension_and_k_are_checked_before_hnswlib():
    segment = Segment.create(params(3))
    with pytest.raises(errors.InvalidDimensionException):
        segment.apply([1], np.ones((1, 4), np.float32))
    with pytest.raises(errors.InvalidDimensionException, match="dimension 3"):
        segment.search(np.ones((1, 4), np.float32), 1)
    with pytest.raises(errors.InvalidArgumentError, match="k"):
        segment.search(np.ones((1, 3), np.float32), 0)


def test_cosine_zero_vector_is_at_distance_one():
    """hnswlib normalizes with norm + 1e-30, so a zero vector stays zero: 1 - cos = 1."""
    segment = Segment.create(params(2, "cosine"))
    segment.apply([1, 2], np.array([[0, 0], [1, 0]], dtype=np.float32))
    labels, dists = segment.search(np.array([[1, 0]], dtype=np.float32), 2)[0]
    assert labels.tolist() == [2, 1]
    np.testing.assert_allclose(dists, [0.0, 1.0], atol=1e-6)


def test_memory_counts_capacity_and_the_mirror():
    segment = Segment.create(params(32, max_neighbors=16), capacity=1000)
    empty = segment.memory_bytes()
    assert empty >= memory.index_bytes(32, 16, 1000) > 1000 * (32 * 4 + 2 * 16 * 4)
    assert empty == memory.index_bytes(32, 16, 1000) + segment._mirror.nbytes
    assert segment._mirror.nbytes == vector_mirror.bytes_for(32, 1000) >= 1000 * 32 * 4
    segment.apply(np.arange(10), np.zeros((10, 32), np.float32))
    assert segment.memory_bytes() == empty  # allocated at capacity: filling costs nothing
    segment.apply(np.arange(10, 1001), np.zeros((991, 32), np.float32))  # grows both
    assert segment.capacity > 1000 and segment._mirror.capacity == segment.capacity
    assert segment.memory_bytes() == (memory.index_bytes(32, 16, segment.capacity)
                                      + vector_mirror.bytes_for(32, segment.capacity))


def test_hnsw_short_results_fall_back_to_exact_search(monkeypatch, caplog, hnsw_for_filters):
    """With M=2 hnswlib can't return k results for a sparse filter (it raises
    "Cannot return the results in a contiguous 2D array"): the segment still answers fully,
    via chunked brute force."""
    monkeypatch.setattr(segment_module, "EXACT_CHUNK_VALUES", 1000 * 4)  # several chunks
    rng = np.random.default_rng(0)
    n = 12_000
    segment = Segment.create(params(4, max_neighbors=2, ef_construction=10, ef_search=10))
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    labels = np.arange(n)
    segment.apply(labels, vectors)
    segment.apply(delete_labels=labels[labels % 4 == 0])
    allowed = labels[labels % 4 != 0][:5000]
    with caplog.at_level("INFO", logger="vector_worker.segment"):
        results = segment.search(vectors[:2], 5000, allowed_labels=allowed)
    assert "searching exactly" in caplog.text
    mask = np.isin(labels, allowed)
    assert_matches_oracle(results, oracle_top_k("l2", vectors[:2], labels[mask], vectors[mask], 5000))


def test_regression_cosine_exact_tie_is_ordered_by_returned_distance_then_label():
    """Shrunk by hypothesis: against [0,1,1], cos([0,0,1]) == cos([2,1,2]) == 1/sqrt(2)
    mathematically, but hnswlib's float32 normalization splits them in the last bit. The
    output must still be consistent: sorted by the distances returned, then by label."""
    segment = Segment.create(params(3, "cosine"))
    segment.apply([0, 1], np.array([[0, 0, 1], [2, 1, 2]], dtype=np.float32))
    labels, dists = segment.search(np.array([[0, 1, 1]], dtype=np.float32), 2)[0]
    np.testing.assert_allclose(dists, [1 - 2 ** -0.5] * 2, rtol=1e-6)
    assert list(zip(dists.tolist(), labels.tolist())) == sorted(zip(dists.tolist(), labels.tolist()))


def test_concurrent_writes_and_searches_are_serialized_by_the_lock():
    """hnswlib must never see add_items/knn_query/mark_deleted at once: hammer one segment
    from threads (HNSW path, > EXACT_SEARCH_MAX) and check nothing raises and the end state."""
    import threading

    rng = np.random.default_rng(6)
    segment = Segment.create(params(8, ef_construction=40, max_neighbors=8))
    segment.apply(np.arange(5000), rng.standard_normal((5000, 8)).astype(np.float32))
    failures: list[BaseException] = []

    def writer():
        try:
            local = np.random.default_rng(7)
            for start in range(5000, 8000, 100):
                segment.apply(np.arange(start, start + 100),
                              local.standard_normal((100, 8)).astype(np.float32),
                              delete_labels=np.arange(start - 5000, start - 4950))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def reader(seed):
        try:
            local = np.random.default_rng(seed)
            for _ in range(40):
                for labels, _ in segment.search(local.standard_normal((4, 8)).astype(np.float32), 10):
                    assert len(labels) == 10
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert segment.live_count == 8000 - 30 * 50


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("reader", ["file", "state"])
def test_loaded_segment_mirrors_its_saved_vectors_and_answers_filters_alike(tmp_path, space,
                                                                            reader, monkeypatch):
    """Load builds the mirror from hnswlib's stored block (no get_items per label) — read
    from the saved file in chunks, or (fallback) from hnswlib's state: it must hold exactly
    what the index holds, and filtered search must answer as before the save — on the exact
    path and on the HNSW + filter path."""
    from vector_worker import segment_files

    if reader == "file":
        monkeypatch.setattr(vector_mirror, "_from_state",
                            lambda *args: pytest.fail("the file reader fell back to the state"))
    else:  # as when the file's layout is not one the reader knows
        monkeypatch.setattr(vector_mirror, "_from_file", lambda *args: None)

    rng = np.random.default_rng(40)
    n = EXACT_SEARCH_MAX + 600
    p = params(16, space, ef_construction=60, max_neighbors=8, segment_id=f"seg-{space}")
    segment = Segment.create(p, capacity=n)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    segment.apply(np.arange(1, n + 1), vectors, delete_labels=np.arange(1, n + 1, 7),
                  through_sequence=3)
    queries = rng.standard_normal((4, 16)).astype(np.float32)
    small = rng.choice(np.arange(1, n + 1), 700, replace=False)
    large = np.arange(1, n + 1)[np.arange(n) % 5 != 0]
    before = [segment.search(queries, 10, allowed) for allowed in (small, large)]
    assert segment_files.save(tmp_path, segment) is segment_files.SaveOutcome.SAVED

    loaded = segment_files.load(tmp_path, p)
    assert loaded is not None
    want_labels, want_vectors = segment.mirror_vectors()
    got_labels, got_vectors = loaded.mirror_vectors()
    np.testing.assert_array_equal(got_labels, want_labels)
    stored = loaded._index.get_items(got_labels, return_type="numpy")
    np.testing.assert_array_equal(got_vectors, stored)  # bit for bit what hnswlib holds
    live = np.isin(np.arange(1, n + 1), want_labels)
    expected = vectors[live] if space != "cosine" else vector_mirror.normalize(vectors[live])
    np.testing.assert_allclose(got_vectors, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(want_vectors, got_vectors, rtol=1e-6, atol=1e-7)
    for allowed, results in zip((small, large), before):
        for (a_labels, a_dists), (b_labels, b_dists) in zip(
                results, loaded.search(queries, 10, allowed)):
            np.testing.assert_array_equal(a_labels, b_labels)
            np.testing.assert_allclose(a_dists, b_dists, rtol=1e-5, atol=1e-6)


def test_filtered_search_chooses_by_cost_not_by_candidate_count():
    """Exact for few candidates or a small fraction of the segment, HNSW + filter for a
    large fraction: the same 10k candidates are exact in a 1M segment, HNSW in a 50k one."""
    segment = Segment.create(params(384))
    assert segment._filter_is_exact(4096, 10_000_000, 100)  # few: always exact
    assert segment._filter_is_exact(10_000, 1_000_000, 100)  # 1%: HNSW would wander
    assert not segment._filter_is_exact(10_000, 50_000, 100)  # 20%: HNSW is cheaper
    assert not segment._filter_is_exact(10_000, 100_000, 100)  # 10% of 100k (measured)
    assert segment._filter_is_exact(10_000, 100_000, 400)  # a wider ef costs HNSW more


def test_hnsw_filter_answers_for_labels_beyond_the_allowed_ones(hnsw_for_filters, tmp_path):
    """The filter mask spans every label the index has held — live ones above the allowed
    set and deleted ones above everything — including after a save and load (the largest
    label then comes from the loaded index)."""
    from vector_worker import segment_files

    rng = np.random.default_rng(11)
    n = EXACT_SEARCH_MAX + 2000
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    labels = np.arange(10, n + 10)
    segment = Segment.create(params(8))
    segment.apply(labels, vectors)
    segment.apply(delete_labels=labels[-500:])  # the largest labels: deleted
    allowed = labels[:3000]  # the smallest: every other visited label is beyond them
    segment_files.save(tmp_path, segment)
    loaded = segment_files.load(tmp_path, params(8))
    for searched in (segment, loaded):
        results = searched.search(vectors[:20], 10, allowed_labels=allowed)
        for found, _ in results:
            assert len(found) == 10 and set(found.tolist()) <= set(allowed.tolist())
