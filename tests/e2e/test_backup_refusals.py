"""What backup and restore refuse, and that a refusal or failure leaves nothing behind:
corrupted backups, non-empty targets, newer schemas, cancelled and timed-out backups, bad
chunk sizes. Backups are taken from the session service over real gRPC."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import segmentdb
from segmentdb import errors

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def filled(collection, rng):
    collection.add(ids=[f"r{i}" for i in range(300)],
                   embeddings=rng.standard_normal((300, 8)).astype(np.float32),
                   documents=[f"doc {i}" for i in range(300)])
    return collection


def _leftovers(folder: Path) -> list[str]:
    """Hidden temp files/folders our atomic writes use, if any were left."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(".") and ("partial-" in p.name or "restoring-" in p.name
                                                 or "replaced-" in p.name))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_corrupted_backup_is_refused_with_one_line_and_nothing_is_restored(client, filled,
                                                                           tmp_path):
    client.backup(str(tmp_path / "backup"))
    client.backup(str(tmp_path / "backup.tar.gz"))
    database = tmp_path / "backup" / "chroma.sqlite3"
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0xFF
    database.write_bytes(bytes(data))

    with pytest.raises(errors.DataLossError, match="corrupted: chroma.sqlite3 has sha256"):
        segmentdb.restore_backup(tmp_path / "backup", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()

    done = _cli("restore", "--from", str(tmp_path / "backup"), "--path", str(tmp_path / "r2"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        "segmentdb: error: backup "), done.stderr
    assert "corrupted" in done.stderr and "nothing was restored" in done.stderr
    assert not (tmp_path / "r2").exists()

    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(errors.DataLossError, match="corrupted"):
        segmentdb.restore_backup(archive, tmp_path / "r3")
    assert not (tmp_path / "r3").exists()
    assert _leftovers(tmp_path) == []


def test_a_manifest_that_lies_about_a_size_or_schema_is_refused(client, filled, tmp_path):
    client.backup(str(tmp_path / "backup"))
    manifest_path = tmp_path / "backup" / "backup-manifest.json"
    original = json.loads(manifest_path.read_text())

    shorter = json.loads(json.dumps(original))
    shorter["files"][0]["size_bytes"] -= 1
    manifest_path.write_text(json.dumps(shorter))
    with pytest.raises(errors.DataLossError, match="bytes but the manifest says"):
        segmentdb.restore_backup(tmp_path / "backup", tmp_path / "restored")

    newer = dict(original, schema_version=999)
    manifest_path.write_text(json.dumps(newer))
    with pytest.raises(errors.FailedPreconditionError,
                       match=r"schema version 999 .* knows versions up to \d+"):
        segmentdb.restore_backup(tmp_path / "backup", tmp_path / "restored")

    escaping = json.loads(json.dumps(original))
    escaping["files"][0]["path"] = "../outside.sqlite3"
    manifest_path.write_text(json.dumps(escaping))
    with pytest.raises(errors.DataLossError, match="leaves the backup's folder"):
        segmentdb.restore_backup(tmp_path / "backup", tmp_path / "restored")
    assert not (tmp_path / "restored").exists() and not (tmp_path / "outside.sqlite3").exists()
    assert _leftovers(tmp_path) == []


def test_restore_refuses_a_non_empty_folder_unless_forced_onto_a_data_folder(client, filled,
                                                                           rng, tmp_path):
    client.backup(str(tmp_path / "first"))
    filled.add(ids=["later"], embeddings=rng.standard_normal((1, 8)).astype(np.float32))
    client.backup(str(tmp_path / "second.tgz"))

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me")
    with pytest.raises(errors.FailedPreconditionError, match="is not empty; pass --force"):
        segmentdb.restore_backup(tmp_path / "first", notes)
    with pytest.raises(errors.FailedPreconditionError, match="not a segmentdb data folder"):
        segmentdb.restore_backup(tmp_path / "first", notes, force=True)
    assert [p.name for p in notes.iterdir()] == ["todo.txt"]

    target = tmp_path / "data"
    done = _cli("restore", "--from", str(tmp_path / "first"), "--path", str(target), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["manifest"]["records"] >= 300
    first_sha = _sha(target / "chroma.sqlite3")
    assert first_sha == _sha(tmp_path / "first" / "chroma.sqlite3")

    done = _cli("restore", "--from", str(tmp_path / "second.tgz"), "--path", str(target))
    assert done.returncode == 1
    assert done.stderr.strip().endswith("choose another path") and done.stderr.count("\n") == 1
    assert _sha(target / "chroma.sqlite3") == first_sha  # untouched

    done = _cli("restore", "--from", str(tmp_path / "second.tgz"), "--path", str(target),
                "--force", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert _sha(target / "chroma.sqlite3") == summary["manifest"]["files"][0]["sha256"]
    assert _sha(target / "chroma.sqlite3") != first_sha
    assert sorted(p.name for p in target.iterdir()) == ["chroma.sqlite3"]
    assert _leftovers(tmp_path) == []

    with pytest.raises(errors.InvalidArgumentError, match="is inside --path"):
        (target / "nested").mkdir()
        client.backup(str(target / "nested" / "b.tar"))
        segmentdb.restore_backup(target / "nested" / "b.tar", target, force=True)


def test_backup_refuses_an_existing_out_unless_forced(client, filled, tmp_path):
    out = tmp_path / "nightly.tar"
    client.backup(str(out))
    before = out.stat().st_mtime_ns
    with pytest.raises(errors.FailedPreconditionError, match="exists; pass --force"):
        client.backup(str(out))
    assert out.stat().st_mtime_ns == before
    summary = client.backup(str(out), force=True)
    assert summary["format"] == "tar" and summary["bytes"] == out.stat().st_size
    (tmp_path / "folder.tgz").mkdir()
    with pytest.raises(errors.FailedPreconditionError, match="is a folder"):
        client.backup(str(tmp_path / "folder.tgz"))
    assert _leftovers(tmp_path) == []


def _snapshots_gone(service, timeout: float = 15.0) -> bool:
    folder = service.path / ".snapshots"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not folder.exists() or not any(folder.iterdir()):
            return True
        time.sleep(0.05)
    return False


class _Stop(Exception):
    pass


def test_a_cancelled_or_timed_out_backup_leaves_nothing_on_either_side(client, make_collection,
                                                                      rng, service, tmp_path):
    # ~2 MiB in 64 KiB chunks: gRPC flow control holds the stream while the client waits, so
    # the cancellation and the deadline arrive while the metadata worker is still sending.
    big = make_collection("big")
    big.add(ids=[f"b{i}" for i in range(3000)],
            embeddings=rng.standard_normal((3000, 64)).astype(np.float32))

    def stop_after_first_chunk(phase, done, total):
        if phase == "download" and done > 0:
            raise _Stop()

    with pytest.raises(_Stop):
        client.backup(str(tmp_path / "cancelled.tar.gz"), chunk_bytes=64 * 1024,
                      on_progress=stop_after_first_chunk)
    assert not (tmp_path / "cancelled.tar.gz").exists()
    assert _snapshots_gone(service), "the metadata worker kept the cancelled snapshot"
    # Whether the worker saw the cancel mid-stream ("backup stream ended early") or had
    # already pushed the whole snapshot into gRPC's buffers (BDP grows the windows past a
    # few MiB; seen in CI under load) is timing; what must hold either way is above.

    def slow(phase, done, total):
        if phase == "download":
            time.sleep(0.2)

    # The deadline passes while the client is still receiving (the worker may have sent
    # everything into gRPC's buffers by then): nothing is written, the snapshot is removed.
    with pytest.raises(errors.DeadlineExceededError):
        client.backup(str(tmp_path / "late"), timeout=1.0, chunk_bytes=64 * 1024,
                      on_progress=slow)
    assert not (tmp_path / "late").exists()
    assert _snapshots_gone(service), "the metadata worker kept the timed-out snapshot"
    assert _leftovers(tmp_path) == []

    # The service is fine and the next backup works.
    assert client.backup(str(tmp_path / "after"))["manifest"]["records"] >= 3000




@pytest.mark.parametrize("size", [1, 64 * 1024 - 1, 16 * 1024 * 1024 + 1])
def test_an_out_of_range_chunk_size_is_invalid_argument(client, tmp_path, size):
    with pytest.raises(errors.InvalidArgumentError, match="chunk_bytes"):
        client.backup(str(tmp_path / "b"), chunk_bytes=size)
    assert not (tmp_path / "b").exists()
