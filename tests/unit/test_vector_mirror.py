"""VectorMirror: label-ordered float32 rows against a dict model; building one from hnswlib."""

from __future__ import annotations

import logging

import hnswlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vector_worker import vector_mirror
from vector_worker.vector_mirror import VectorMirror

DIM = 3


def check_against(mirror: VectorMirror, model: dict[int, np.ndarray]) -> None:
    """Every observable of the mirror agrees with {label: vector} of the live labels."""
    live = np.array(sorted(model), dtype=np.int64)
    assert mirror.live_count == len(model)
    np.testing.assert_array_equal(mirror.live_labels(), live)
    assert np.all(np.diff(mirror.labels) > 0)  # sorted, distinct (tombstones included)
    rows = mirror.rows_of(live)
    np.testing.assert_array_equal(mirror.labels[rows], live)
    want = np.array([model[label] for label in live.tolist()]).reshape(-1, DIM)
    np.testing.assert_array_equal(mirror.gather(rows, np.empty((len(rows), DIM), np.float32)),
                                  want)
    np.testing.assert_allclose(mirror.sq_norms[rows], (want.astype(np.float64) ** 2).sum(1),
                               rtol=1e-5)
    assert mirror.capacity >= mirror.row_count >= mirror.live_count


# One step: ("upsert", labels, seed) or ("delete", labels). Small label range: repeats,
# re-adds of deleted labels and out-of-order arrivals are common.
labels_st = st.lists(st.integers(0, 60), min_size=0, max_size=12)
steps_st = st.lists(st.one_of(st.tuples(st.just("upsert"), labels_st, st.integers(0, 2**16)),
                              st.tuples(st.just("delete"), labels_st)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps=steps_st, capacity=st.integers(0, 8))
def test_upserts_deletes_and_readds_match_a_dict_model(monkeypatch_compact, steps, capacity):
    mirror = VectorMirror(DIM, capacity)
    model: dict[int, np.ndarray] = {}
    for step in steps:
        if step[0] == "upsert":
            _, labels, seed = step
            vectors = np.random.default_rng(seed).standard_normal((len(labels), DIM)).astype(np.float32)
            mirror.upsert(np.array(labels, dtype=np.int64), vectors)
            for label, vector in zip(labels, vectors):  # the last of a repeated label wins
                model[label] = vector
        else:
            _, labels = step
            removed = mirror.delete(np.array(labels, dtype=np.int64))
            assert removed.tolist() == sorted(set(labels) & set(model))
            for label in labels:
                model.pop(label, None)
        check_against(mirror, model)
    # Lookups ignore unknown and deleted labels, repeats and order.
    probe = np.array([70, 3, 3, 0, 59, -1] + sorted(model)[::-1], dtype=np.int64)
    np.testing.assert_array_equal(mirror.labels[mirror.rows_of(probe)],
                                  np.array(sorted(model), dtype=np.int64))


@pytest.fixture(scope="module")
def monkeypatch_compact():
    """Compact after a few tombstones, so the property test exercises compaction."""
    patch = pytest.MonkeyPatch()
    patch.setattr(vector_mirror, "COMPACT_MIN", 4)
    yield
    patch.undo()


def test_appends_in_label_order_keep_rows_and_grow_geometrically():
    mirror = VectorMirror(DIM, 4)
    capacities = set()
    for start in range(0, 1000, 10):
        mirror.upsert(np.arange(start, start + 10), np.full((10, DIM), start, np.float32))
        capacities.add(mirror.capacity)
    assert mirror.live_count == 1000 and len(capacities) < 15  # not one resize per append
    np.testing.assert_array_equal(mirror.labels, np.arange(1000))


def test_out_of_order_label_is_sorted_in_and_overwrite_keeps_one_row():
    mirror = VectorMirror(DIM)
    mirror.upsert(np.array([10, 20, 30]), np.eye(3, dtype=np.float32))
    mirror.upsert(np.array([5, 25]), np.ones((2, DIM), np.float32))
    assert mirror.labels.tolist() == [5, 10, 20, 25, 30]
    mirror.upsert(np.array([20]), np.full((1, DIM), 7, np.float32))
    assert mirror.row_count == 5
    np.testing.assert_array_equal(mirror.gather(mirror.rows_of([20])), [[7, 7, 7]])


def test_tombstones_are_compacted_when_they_pile_up():
    mirror = VectorMirror(DIM)
    n = 4 * vector_mirror.COMPACT_MIN
    mirror.upsert(np.arange(n), np.random.default_rng(0).random((n, DIM), dtype=np.float32))
    mirror.delete(np.arange(0, n, 2)[:vector_mirror.COMPACT_MIN])
    assert mirror.row_count == n  # tombstones only, so far
    mirror.delete(np.arange(1, n, 2))
    assert mirror.row_count == mirror.live_count == n // 2 - vector_mirror.COMPACT_MIN
    # A compacted label comes back as a new, out-of-order row.
    mirror.upsert(np.array([0]), np.zeros((1, DIM), np.float32))
    assert mirror.live_labels()[0] == 0 and np.all(np.diff(mirror.labels) > 0)


def test_cosine_rows_are_normalized_like_hnswlib():
    mirror = VectorMirror(DIM, cosine=True)
    raw = np.array([[3, 4, 0], [0, 0, 0]], np.float32)
    mirror.upsert(np.array([1, 2]), raw)
    np.testing.assert_allclose(mirror.vectors, [[0.6, 0.8, 0], [0, 0, 0]], rtol=1e-6)
    index = hnswlib.Index(space="cosine", dim=DIM)
    index.init_index(max_elements=2)
    index.add_items(raw, [1, 2])
    np.testing.assert_allclose(mirror.vectors, index.get_items([1, 2], return_type="numpy"),
                               rtol=1e-6, atol=1e-7)


def test_bytes_for_matches_what_is_allocated():
    mirror = VectorMirror(384, 5000)
    assert mirror.nbytes == vector_mirror.bytes_for(384, 5000)
    mirror.reserve(100_000)  # large: huge-page mapping path
    assert mirror.nbytes == vector_mirror.bytes_for(384, 100_000)


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_from_index_slices_the_stored_vectors_out_of_hnswlib(space, caplog):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    labels = rng.permutation(np.arange(1000, 1500))  # not added in label order
    index = hnswlib.Index(space=space, dim=16)
    index.init_index(max_elements=800, M=8)
    index.add_items(vectors, labels)
    deleted = labels[::9]
    for label in deleted.tolist():
        index.mark_deleted(label)
    with caplog.at_level(logging.WARNING):
        mirror = vector_mirror.from_index(index, 16, deleted, cosine=space == "cosine")
    assert not caplog.records  # the fast path was taken
    assert mirror.capacity == 800
    live = np.sort(np.setdiff1d(labels, deleted))
    np.testing.assert_array_equal(mirror.labels, live)
    assert mirror.live_count == len(live) == 500 - len(deleted)
    np.testing.assert_array_equal(mirror.vectors, index.get_items(live, return_type="numpy"))


@pytest.mark.parametrize("chunk_rows", [7, 64, 4096])
def test_from_saved_file_reads_every_chunk_with_deletions(tmp_path, monkeypatch, chunk_rows):
    """The saved-file reader: chunks that end mid-way, chunks with and without deleted
    labels, records out of label order, all land on their label's row."""
    monkeypatch.setattr(vector_mirror, "_FILE_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(vector_mirror, "_from_state", None)  # the file reader must answer
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, 8)).astype(np.float32)
    labels = rng.permutation(np.arange(50, 350))
    index = hnswlib.Index(space="l2", dim=8)
    index.init_index(max_elements=400, M=8)
    index.add_items(vectors, labels)
    deleted = np.sort(labels[100:130])  # a run of deleted labels: some chunks all-live
    for label in deleted.tolist():
        index.mark_deleted(label)
    path = tmp_path / "index.bin"
    index.save_index(str(path))
    loaded = hnswlib.Index(space="l2", dim=8)
    loaded.load_index(str(path), max_elements=400)
    mirror = vector_mirror.from_index(loaded, 8, deleted, cosine=False, saved_file=str(path))
    live = np.sort(np.setdiff1d(labels, deleted))
    np.testing.assert_array_equal(mirror.live_labels(), live)
    np.testing.assert_array_equal(mirror.vectors, index.get_items(live, return_type="numpy"))


def test_from_index_falls_back_to_get_items_when_the_layout_disagrees(monkeypatch, caplog):
    """Another hnswlib version: labels that don't match what the index lists mean the
    layout is not understood; the mirror still comes out right (and one WARNING says why)."""
    index = hnswlib.Index(space="l2", dim=4)
    index.init_index(max_elements=10)
    vectors = np.arange(20, dtype=np.float32).reshape(5, 4)
    index.add_items(vectors, [1, 2, 3, 4, 5])
    real = index.__getstate__

    def shifted_state():  # the label field read 8 bytes early: garbage labels
        state = real()[0]
        state["label_offset"] -= 8
        return (state,)

    monkeypatch.setattr(vector_mirror, "_warned_layout", False)
    # The real index answers everything but __getstate__.
    broken = type("OtherLayout", (), {"__getstate__": staticmethod(shifted_state),
                                      "get_ids_list": index.get_ids_list,
                                      "get_max_elements": index.get_max_elements,
                                      "get_items": index.get_items})()
    index.mark_deleted(2)
    with caplog.at_level(logging.WARNING, logger="vector_worker.vector_mirror"):
        mirror = vector_mirror.from_index(broken, 4, np.array([2]), cosine=False)
        vector_mirror.from_index(broken, 4, np.array([2]), cosine=False)
    assert caplog.text.count("get_items instead") == 1
    assert mirror.labels.tolist() == [1, 3, 4, 5]
    np.testing.assert_array_equal(mirror.vectors, vectors[[0, 2, 3, 4]])
