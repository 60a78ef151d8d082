"""restore_backup on archives built here with tarfile: the layouts people make by hand are
accepted, and nothing in an archive can make restore write outside its target (no `..`, no
absolute paths, no links followed). These exercise file handling only; the e2e tests restore
real backups taken from a running service."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, strategies as st

from segmentdb import errors
from segmentdb.backup_manifest import MANIFEST_NAME, safe_relative_path
from segmentdb.restore import restore_backup

DATABASE = b"SQLite format 3\x00" + bytes(range(256)) * 64


def _manifest(files: dict[str, bytes]) -> bytes:
    return json.dumps({
        "format": "segmentdb-backup", "format_version": 1, "created_at": "2024-01-01T00:00:00Z",
        "segmentdb_version": "0.1.0", "schema_version": 1, "log_position": 0,
        "collections": 0, "records": 0,
        "files": [{"path": p, "size_bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                  for p, d in files.items()],
    }).encode()


def _tar(path: Path, members: list[tuple[str, bytes | None, str | None]]) -> Path:
    """members: (name, data, symlink target); data None + target = a symlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_top_level_and_dot_slash_layouts_restore(tmp_path):
    manifest = _manifest({"chroma.sqlite3": DATABASE})
    for i, prefix in enumerate(["", "./", "nightly/", "./nightly/"]):
        archive = _tar(tmp_path / f"a{i}.tar.gz", [(f"{prefix}junk.txt", b"x", None),
                                                   (f"{prefix}chroma.sqlite3", DATABASE, None),
                                                   (f"{prefix}{MANIFEST_NAME}", manifest, None)])
        result = restore_backup(archive, tmp_path / f"r{i}")
        target = Path(result.path)
        assert sorted(p.name for p in target.iterdir()) == ["chroma.sqlite3"]
        assert (target / "chroma.sqlite3").read_bytes() == DATABASE
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "nightly/../../evil.txt", "/tmp/evil-abs.txt"])
def test_members_that_leave_the_folder_are_refused(tmp_path, evil):
    manifest = _manifest({"chroma.sqlite3": DATABASE})
    archive = _tar(tmp_path / "a.tar.gz", [(evil, b"pwned", None),
                                           ("chroma.sqlite3", DATABASE, None),
                                           (MANIFEST_NAME, manifest, None)])
    (tmp_path / "deep").mkdir()
    with pytest.raises(errors.DataLossError, match="leaves the backup's folder"):
        restore_backup(archive, tmp_path / "deep" / "target")
    assert not (tmp_path / "deep" / "target").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()
    assert not Path("/tmp/evil-abs.txt").exists()


def test_links_are_never_followed_or_extracted(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(DATABASE)  # same bytes, so only refusing the link protects it
    manifest = _manifest({"chroma.sqlite3": DATABASE})
    archive = _tar(tmp_path / "a.tar.gz", [("chroma.sqlite3", None, str(secret)),
                                           (MANIFEST_NAME, manifest, None)])
    with pytest.raises(errors.DataLossError, match="chroma.sqlite3 is missing"):
        restore_backup(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_an_archive_without_exactly_one_manifest_is_not_a_backup(tmp_path):
    manifest = _manifest({"chroma.sqlite3": DATABASE})
    two = _tar(tmp_path / "two.tar.gz", [("a/" + MANIFEST_NAME, manifest, None),
                                         ("b/" + MANIFEST_NAME, manifest, None)])
    with pytest.raises(errors.DataLossError, match="found 2"):
        restore_backup(two, tmp_path / "t1")
    none = _tar(tmp_path / "none.tar.gz", [("chroma.sqlite3", DATABASE, None)])
    with pytest.raises(errors.DataLossError, match="found 0"):
        restore_backup(none, tmp_path / "t2")
    not_tar = tmp_path / "plain.bin"
    not_tar.write_bytes(b"hello")
    with pytest.raises(errors.InvalidArgumentError, match="neither a backup folder nor"):
        restore_backup(not_tar, tmp_path / "t3")


@given(st.text(alphabet=st.sampled_from(list("ab./\\\x00 ")), max_size=12))
def test_an_accepted_relative_path_always_stays_inside_its_folder(path):
    base = Path("/base/folder")
    try:
        safe = safe_relative_path(path, "path")
    except errors.DataLossError:
        return
    resolved = Path(os.path.normpath(base / safe))
    assert resolved != base and base in resolved.parents
    assert PurePosixPath(safe).parts == tuple(path.split("/"))
