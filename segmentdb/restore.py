"""Restore a backup (folder or archive) into a data folder, verified and atomic.

`restore_backup(source, path)`:
1. checks the target: missing or empty is fine; a non-empty one needs `force` and must be a
   segmentdb data folder (holds chroma.sqlite3) that no running metadata worker holds;
2. copies (folder) or extracts (archive, streamed once) every file into a hidden temp folder
   beside the target, hashing as it goes; archive members that are links, devices or paths
   leaving the folder are never written;
3. verifies every file the manifest lists (size and sha256) and the schema version (a backup
   from a newer segmentdb is refused, naming both versions); anything else is dropped;
4. renames the temp folder into place. The result is a plain data folder: `segmentdb serve
   --path DIR` opens it and rebuilds each collection's index on first use.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional

from segmentdb import atomic_install, errors
from segmentdb.backup_manifest import MANIFEST_NAME, Manifest, copy_hashed, safe_relative_path
from segmentdb.backup_writer import archive_kind

from metadata_worker.folder_lock import DB_FILENAME, LOCK_SUFFIX, FolderLock, FolderLockedError

LOCK_FILENAME = DB_FILENAME + LOCK_SUFFIX  # the metadata worker's FolderLock file

# on_progress(done, total): bytes read from the backup.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RestoreResult:
    path: str
    source: str
    bytes: int
    seconds: float
    manifest: Manifest

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "from": self.source, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "manifest": self.manifest.to_json()}


def restore_backup(source: str | os.PathLike, path: str | os.PathLike, force: bool = False,
                   on_progress: Optional[Progress] = None) -> RestoreResult:
    """Restore the backup at `source` (a backup folder, or a .tar/.tar.gz/.tgz of one) into
    the data folder `path`.

    >>> import segmentdb
    >>> segmentdb.restore_backup("./backups/nightly.tar.gz", "./segmentdb_data")
    RestoreResult(path='./segmentdb_data', ...)

    Raises DataLossError if the backup is damaged (a checksum or size differs from its
    manifest), FailedPreconditionError if `path` is not empty (without `force`), is in use, or
    the backup comes from a newer schema. Nothing is changed at `path` unless it succeeds.
    """
    started = time.monotonic()
    source, target = Path(source), Path(path)
    if not source.exists():
        raise errors.NotFoundError(f"--from: {source} does not exist; pass a backup folder or "
                                   "a .tar/.tar.gz/.tgz archive written by `segmentdb backup`")
    _check_target(source, target, force)
    with _FolderGuard(target):
        temp = atomic_install.temp_sibling(target, "restoring")
        try:
            temp.mkdir()
            if source.is_dir():
                folder, manifest, read = _copy_folder(source, temp, on_progress)
            else:
                if archive_kind(source) is None and not tarfile.is_tarfile(source):
                    raise errors.InvalidArgumentError(
                        f"--from: {source} is neither a backup folder nor a tar archive")
                folder, manifest, read = _extract_archive(source, temp, on_progress)
            _check_schema(manifest, source)
            _keep_only(folder, manifest)
            for entry in manifest.files:
                atomic_install.fsync_path(folder / entry.path)
            atomic_install.fsync_path(folder)
            atomic_install.install(folder, target)
        finally:
            atomic_install.discard(temp)
    return RestoreResult(path=str(target), source=str(source), bytes=read,
                         seconds=time.monotonic() - started, manifest=manifest)


# ------------------------------------------------------------ the target


def _check_target(source: Path, target: Path, force: bool) -> None:
    atomic_install.check_target(target, force, "--path", folder=True)
    if target.is_dir() and not atomic_install.is_empty_folder(target):
        if not (target / DB_FILENAME).exists():
            raise errors.FailedPreconditionError(
                f"--path: {target} is not empty and is not a segmentdb data folder (it has no "
                f"{DB_FILENAME}); refusing to replace it even with --force. Choose an empty "
                "or new folder")
        resolved_source, resolved_target = source.resolve(), target.resolve()
        if resolved_source == resolved_target or resolved_target in resolved_source.parents:
            raise errors.InvalidArgumentError(
                f"--from: {source} is inside --path {target}, which restoring replaces; move "
                "the backup elsewhere first")


class _FolderGuard:
    """Hold the target's metadata-worker lock (if it has one) while it is replaced, so the
    folder a running worker owns is never swapped under it, and none starts meanwhile."""

    def __init__(self, target: Path):
        self._target = target
        self._lock: Optional[FolderLock] = None

    def __enter__(self) -> "_FolderGuard":
        if not (self._target / LOCK_FILENAME).exists():
            return self
        lock = FolderLock(self._target / DB_FILENAME)
        try:
            lock.acquire()
        except FolderLockedError:
            raise errors.FailedPreconditionError(
                f"--path: a segmentdb metadata worker is using {self._target} (it holds "
                f"{lock.path}); stop the service before restoring into its folder") from None
        self._lock = lock
        return self

    def __exit__(self, *exc_info) -> None:
        if self._lock is not None:
            self._lock.release()


# ------------------------------------------------------------ reading the backup


def _copy_folder(source: Path, temp: Path, on_progress: Optional[Progress]):
    manifest = _read_manifest_file(source / MANIFEST_NAME, source)
    total = sum(f.size_bytes for f in manifest.files)
    done = [0]

    def count(n: int) -> None:
        done[0] += n
        if on_progress:
            on_progress(done[0], total)

    for entry in manifest.files:
        path = source / entry.path
        if not path.is_file():
            raise _damaged(source, f"{entry.path} is missing")
        (temp / entry.path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as fh, open(temp / entry.path, "wb") as out:
            size, sha = copy_hashed(fh, out, on_bytes=count)
        try:
            _check_file(source, entry, size, sha)
        except errors.DataLossError as exc:
            if not (source / LOCK_FILENAME).exists():
                raise
            raise errors.DataLossError(
                f"{exc.message} ({source} was served after the backup was taken - it has "
                f"{LOCK_FILENAME} - so it is a live data folder now, no longer the backup: "
                "serve it as it is, or take a new backup)") from None
    return temp, manifest, done[0]


def _read_manifest_file(path: Path, source: Path) -> Manifest:
    if not path.is_file():
        raise errors.DataLossError(
            f"{source}: no {MANIFEST_NAME}, so this is not a segmentdb backup (a data folder "
            "copied while the service was stopped can be served as it is)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(source, f"{MANIFEST_NAME} is not readable JSON ({exc})") from None
    return Manifest.from_json(data, f"{source}/{MANIFEST_NAME}")


class _CountingReader:
    """A raw file that reports how many bytes were read (progress through an archive)."""

    def __init__(self, fh: BinaryIO, total: int, on_progress: Optional[Progress]):
        self._fh, self._total, self._progress, self.done = fh, total, on_progress, 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.done += len(data)
        if self._progress:
            self._progress(self.done, self._total)
        return data


def _extract_archive(source: Path, temp: Path, on_progress: Optional[Progress]):
    """Extract regular files (one streamed pass), then find and check the manifest."""
    found: dict[str, tuple[int, str]] = {}
    with open(source, "rb") as raw:
        reader = _CountingReader(raw, source.stat().st_size, on_progress)
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue  # folders are made as needed; links and devices never
                    name = safe_relative_path(member.name.removeprefix("./"),
                                              f"{source}: archive member")
                    out = temp / name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as data, open(out, "wb") as fh:
                        found[name] = copy_hashed(data, fh)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _damaged(source, f"the archive is unreadable ({exc})") from None
    manifests = [name for name in found
                 if name == MANIFEST_NAME or (name.endswith("/" + MANIFEST_NAME)
                                             and name.count("/") == 1)]
    if len(manifests) != 1:
        raise errors.DataLossError(
            f"{source}: expected one {MANIFEST_NAME} at the top of the archive or in its "
            f"top folder, found {len(manifests)}; this is not a segmentdb backup archive")
    prefix = manifests[0][: -len(MANIFEST_NAME)]
    manifest = _read_manifest_file(temp / manifests[0], source)
    for entry in manifest.files:
        if prefix + entry.path not in found:
            raise _damaged(source, f"{entry.path} is missing")
        _check_file(source, entry, *found[prefix + entry.path])
    return temp / prefix if prefix else temp, manifest, reader.done


def _check_file(source: Path, entry, size: int, sha: str) -> None:
    if size != entry.size_bytes:
        raise _damaged(source, f"{entry.path} has {size} bytes but the manifest says "
                               f"{entry.size_bytes}")
    if sha != entry.sha256:
        raise _damaged(source, f"{entry.path} has sha256 {sha} but the manifest says "
                               f"{entry.sha256}")


def _damaged(source: Path, what: str) -> errors.DataLossError:
    return errors.DataLossError(f"backup {source} is corrupted: {what}; nothing was restored")


# ------------------------------------------------------------ after verifying


def _check_schema(manifest: Manifest, source: Path) -> None:
    from metadata_worker import migrate  # reads the migration files only; no database

    known = max((m.version for m in migrate.available()), default=0)
    if manifest.schema_version > known:
        raise errors.FailedPreconditionError(
            f"{source}: the backup has schema version {manifest.schema_version} (segmentdb "
            f"{manifest.segmentdb_version}) but this segmentdb knows versions up to {known}; "
            "restore it with a newer segmentdb")


def _keep_only(folder: Path, manifest: Manifest) -> None:
    """Leave exactly the manifest's files: the restored folder is a plain data folder."""
    keep = {folder / entry.path for entry in manifest.files}
    # Deepest first, so a folder is looked at after everything in it.
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif path not in keep:
            path.unlink()
