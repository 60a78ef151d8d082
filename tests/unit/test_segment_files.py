"""segment_files: atomic save + verified load; every kind of damage means "rebuild" (None)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from vector_worker import segment_files
from vector_worker.convert import SegmentParams
from vector_worker.segment import Segment


def params(**overrides) -> SegmentParams:
    fields = dict(segment_id="0b7c9d1e-seg", collection_id="col-1", dimension=6, space="cosine",
                  max_neighbors=12, ef_construction=50, ef_search=20, num_threads=1)
    fields.update(overrides)
    return SegmentParams(**fields)


@pytest.fixture()
def saved(tmp_path):
    rng = np.random.default_rng(7)
    segment = Segment.create(params(), capacity=50)
    segment.apply(np.arange(1, 41), rng.standard_normal((40, 6)).astype(np.float32),
                  delete_labels=[3, 4], through_sequence=57)
    assert segment_files.save(tmp_path, segment) is segment_files.SaveOutcome.SAVED
    folder = segment_files.segment_folder(tmp_path, segment.segment_id)
    return tmp_path, folder, segment, rng.standard_normal((5, 6)).astype(np.float32)


def test_round_trip_keeps_results_deletes_and_sequence(saved):
    root, folder, segment, queries = saved
    assert folder == root / "index" / "0b7c9d1e-seg"
    assert segment.dirty == 0
    loaded = segment_files.load(root, params(ef_search=99, num_threads=2))
    assert loaded is not None
    assert loaded.applied_sequence == 57
    assert loaded.live_count == 38 and loaded.deleted_labels().tolist() == [3, 4]
    assert loaded.capacity == segment.capacity
    assert loaded.params.ef_search == 99  # mutable settings come from the spec, not the file
    for (a_labels, a_dists), (b_labels, b_dists) in zip(segment.search(queries, 10),
                                                        loaded.search(queries, 10)):
        np.testing.assert_array_equal(a_labels, b_labels)
        np.testing.assert_allclose(a_dists, b_dists, rtol=1e-6)
    # The loaded index keeps working: writes, including a re-added deleted label.
    loaded.apply([3, 100], np.ones((2, 6), np.float32))
    assert loaded.live_count == 40
    manifest = json.loads((folder / segment_files.MANIFEST_FILE).read_text())
    assert manifest["live_count"] == 38 and manifest["space"] == "cosine"
    assert not [p for p in folder.iterdir() if ".tmp" in p.name]


def test_missing_folder_is_a_plain_miss(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert segment_files.load(tmp_path, params()) is None
    assert not caplog.records


def expect_rebuild(root, caplog, reason: str, p=None):
    with caplog.at_level(logging.WARNING, logger="vector_worker.segment_files"):
        assert segment_files.load(root, p or params()) is None
    text = caplog.text
    assert "will be rebuilt" in text and reason in text, text


def test_corrupted_index_is_detected(saved, caplog):
    root, folder, _, _ = saved
    path = folder / segment_files.INDEX_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    expect_rebuild(root, caplog, "sha256")


def test_truncated_index_is_detected(saved, caplog):
    root, folder, _, _ = saved
    path = folder / segment_files.INDEX_FILE
    path.write_bytes(path.read_bytes()[:1000])
    expect_rebuild(root, caplog, "sha256")


def test_corrupted_manifest_is_detected(saved, caplog):
    root, folder, _, _ = saved
    (folder / segment_files.MANIFEST_FILE).write_text('{"format_version": 1, "segm')
    expect_rebuild(root, caplog, "unreadable")


def test_manifest_with_a_wrong_checksum_is_detected(saved, caplog):
    root, folder, _, _ = saved
    path = folder / segment_files.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["index_sha256"] = "0" * 64
    path.write_text(json.dumps(manifest))
    expect_rebuild(root, caplog, "sha256")


def test_manifest_live_count_mismatch_is_detected(saved, caplog):
    root, folder, _, _ = saved
    path = folder / segment_files.MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["live_count"] = 39
    path.write_text(json.dumps(manifest))
    expect_rebuild(root, caplog, "live labels")


def test_an_index_hnswlib_cannot_read_is_detected(saved, caplog):
    """Garbage with a matching checksum still fails at hnswlib and is rebuilt."""
    root, folder, _, _ = saved
    index = folder / segment_files.INDEX_FILE
    index.write_bytes(b"not an index" * 10)
    manifest_path = folder / segment_files.MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["index_sha256"] = segment_files._sha256(index)
    manifest_path.write_text(json.dumps(manifest))
    expect_rebuild(root, caplog, "hnswlib could not load")


@pytest.mark.parametrize("name", [segment_files.INDEX_FILE, segment_files.MANIFEST_FILE,
                                  segment_files.DELETED_FILE])
def test_missing_file_is_detected(saved, caplog, name):
    root, folder, _, _ = saved
    (folder / name).unlink()
    expect_rebuild(root, caplog, f"{name} is missing")


@pytest.mark.parametrize("field,value", [("dimension", 7), ("space", "l2"),
                                         ("max_neighbors", 16), ("ef_construction", 100),
                                         ("collection_id", "other")])
def test_parameters_that_differ_from_the_spec_are_detected(saved, caplog, field, value):
    root, _, _, _ = saved
    expect_rebuild(root, caplog, f"manifest {field}", params(**{field: value}))


def test_save_replaces_a_previous_save_and_delete_removes_the_folder(saved):
    root, folder, segment, _ = saved
    segment.apply([200], np.ones((1, 6), np.float32), through_sequence=60)
    assert segment.dirty == 1
    segment_files.save(root, segment)
    loaded = segment_files.load(root, params())
    assert loaded.applied_sequence == 60 and loaded.live_count == 39
    assert segment_files.delete(root, params().segment_id) is True
    assert not folder.exists()
    assert segment_files.delete(root, params().segment_id) is False
