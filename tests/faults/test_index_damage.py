"""Damage a segment folder while the service is stopped; the next query rebuilds it from
SQLite (and says so in the log) and answers exactly; the rebuilt folder then loads normally.

Folder layout: docs/internals.md "Segment folders". The control case (no damage) must load
the saved folder without a rebuild, so a worker that always rebuilt would fail it.
"""

from __future__ import annotations

import shutil
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

import fault_processes as processes
import segmentdb
from fault_oracle import assert_exact_answers, read_collection

NAME = "docs"
DIM = 16
REBUILT = "rebuilt"  # vector_worker/log_replay.py: "segment <id>: rebuilt N vectors ..."
INVALID = "will be rebuilt"  # vector_worker/segment_files.py: WARNING naming the reason
LOADED = "loaded 2800 vectors"  # segment_files.py: INFO "segment <id>: loaded N vectors ..."


def _delete_folder(folder: Path, _saved: Path) -> None:
    shutil.rmtree(folder)


def _truncate_index(folder: Path, _saved: Path) -> None:
    index = folder / "hnsw_index.bin"
    with open(index, "r+b") as fh:
        fh.truncate(index.stat().st_size // 2)


def _corrupt_manifest(folder: Path, _saved: Path) -> None:
    (folder / "manifest.json").write_text('{"format_version": 1, "applied_sequence": ')


def _delete_manifest(folder: Path, _saved: Path) -> None:
    (folder / "manifest.json").unlink()


def _delete_deleted_labels(folder: Path, _saved: Path) -> None:
    (folder / "deleted_labels.bin").unlink()


def _stale_index_under_newer_manifest(folder: Path, saved: Path) -> None:
    """What a crash between the index's and the manifest's os.replace would leave."""
    shutil.copyfile(saved / "hnsw_index.bin", folder / "hnsw_index.bin")


def _no_damage(folder: Path, _saved: Path) -> None:
    pass


# (damage, the reason the WARNING must name; None: no warning expected)
CASES = {
    "folder-deleted": (_delete_folder, None),
    "index-truncated": (_truncate_index, "hnsw_index.bin does not match the manifest"),
    "manifest-corrupted": (_corrupt_manifest, "manifest.json is unreadable"),
    "manifest-missing": (_delete_manifest, "manifest.json is missing"),
    "deleted-labels-missing": (_delete_deleted_labels, "deleted_labels.bin is missing"),
    "stale-index": (_stale_index_under_newer_manifest, "hnsw_index.bin does not match the manifest"),
}


def _fill(address: str, rng: np.random.Generator, folder_of, saved: Path) -> None:
    """3,000 records (exact path), with upserts and deletes; saved twice, the first save kept
    aside in `saved` (for the stale-index case)."""
    with closing(segmentdb.Client(address, timeout=60.0)) as client:
        collection = client.create_collection(NAME, configuration={"hnsw": {"sync_threshold": 100}})
        ids = [f"r{i}" for i in range(3000)]
        collection.add(ids=ids, embeddings=rng.standard_normal((3000, DIM)).astype(np.float32),
                       documents=[f"doc {i}" for i in ids])
        collection.upsert(ids=ids[:100], embeddings=rng.standard_normal((100, DIM)).astype(np.float32))
        collection.delete(ids=ids[100:250])
        collection.query(query_embeddings=rng.standard_normal((1, DIM)).astype(np.float32))
        shutil.copytree(folder_of(), saved)  # the save made right after the first rebuild
        collection.upsert(ids=ids[250:400], embeddings=rng.standard_normal((150, DIM)).astype(np.float32))
        collection.delete(ids=ids[400:450])
        collection.query(query_embeddings=rng.standard_normal((1, DIM)).astype(np.float32))


def _query_exactly(address: str, data: Path, rng: np.random.Generator) -> None:
    stored = read_collection(data, NAME)
    assert len(stored.ids) == 3000 - 150 - 50
    queries = np.concatenate([rng.standard_normal((30, DIM)).astype(np.float32),
                              stored.vectors[rng.choice(len(stored.ids), 10, replace=False)]])
    with closing(segmentdb.Client(address, timeout=60.0)) as client:
        got = client.get_collection(NAME).query(query_embeddings=queries, n_results=10,
                                                include=["distances"])
    assert_exact_answers(got, stored, queries, 10)


def _vector_worker_lines(service) -> list[str]:
    pid = processes.wait_for_roles(service.process.pid, {"vector-worker-1"})["vector-worker-1"]
    return processes.log_lines_of(service.log(), pid)


@pytest.mark.parametrize("case", [*CASES, "no-damage"])
def test_a_damaged_segment_folder_is_rebuilt_and_answers_exactly(tmp_path, services, case):
    damage, reason = CASES.get(case, (_no_damage, None))
    data = tmp_path / "data"
    rng = np.random.default_rng(17)
    service = services.start(data, vector_workers=1)
    folder_of = lambda: data / "index" / read_collection(data, NAME).vector_segment_id  # noqa: E731
    _fill(service.address, rng, folder_of, tmp_path / "first-save")
    assert services.stop(service) == 0, service.log()[-4000:]
    folder = folder_of()
    assert {"hnsw_index.bin", "deleted_labels.bin", "manifest.json"} <= {p.name for p in folder.iterdir()}

    damage(folder, tmp_path / "first-save")
    service = services.start(data, vector_workers=1)
    _query_exactly(service.address, data, rng)
    lines = "\n".join(_vector_worker_lines(service))
    if case == "no-damage":
        assert REBUILT not in lines, f"an intact folder was rebuilt, not loaded:\n{lines}"
        loaded = [line for line in lines.splitlines() if LOADED in line]
        assert loaded and " INFO " in loaded[0], f"no load logged:\n{lines}"
    else:
        assert f"{REBUILT} 2800 vectors" in lines, f"no rebuild logged after {case}:\n{lines}"
        if reason is None:
            assert INVALID not in lines
        else:
            warning = [line for line in lines.splitlines() if INVALID in line]
            assert warning and reason in warning[0] and " WARNING " in warning[0], (
                f"expected a WARNING naming {reason!r}:\n{lines}")
    assert services.stop(service) == 0, service.log()[-4000:]

    # The rebuilt folder was saved properly: the next start loads it without a rebuild.
    service = services.start(data, vector_workers=1)
    _query_exactly(service.address, data, rng)
    lines = "\n".join(_vector_worker_lines(service))
    assert REBUILT not in lines and INVALID not in lines and LOADED in lines, lines
    assert services.stop(service) == 0, service.log()[-4000:]
