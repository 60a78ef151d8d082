"""Receive a backup stream (AdminService.Backup) and write it on the client's machine.

The output is a plain data folder (`chroma.sqlite3` + `backup-manifest.json`), or the same
folder as one archive when the path ends in `.tar`, `.tar.gz` or `.tgz` (its members sit in a
top-level folder named after the archive, so `tar xzf nightly.tar.gz` gives `nightly/`).
Every file's size and sha256 are checked against the manifest as it arrives; the output is
written to a hidden temp path and renamed into place only when complete and verified.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from segmentdb import atomic_install, errors
from segmentdb.backup_manifest import MANIFEST_NAME, FileEntry, Manifest

# on_progress(phase, done, total): phase "snapshot" counts SQLite pages copied on the
# metadata worker, "download" counts bytes received.
Progress = Callable[[str, int, int], None]

# Fast gzip: the bulk of a database is float32 vectors, which barely compress at any level.
GZIP_LEVEL = 1


def archive_kind(path: str | os.PathLike) -> Optional[str]:
    """"tar" or "tar.gz" for an archive path, None for a folder."""
    name = str(path).lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    return None


def archive_folder_name(path: Path) -> str:
    """The top-level folder inside an archive: the archive's name without its ending."""
    name = path.name
    for ending in (".tar.gz", ".tgz", ".tar"):
        if name.lower().endswith(ending):
            return name[: -len(ending)] or "backup"
    return name


@dataclass(frozen=True)
class BackupResult:
    path: str
    format: str          # "folder", "tar" or "tar.gz"
    bytes: int           # size of what was written (the archive, or the folder's files)
    seconds: float
    manifest: Manifest

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "manifest": self.manifest.to_json()}


class _Incoming:
    """The stream's messages in their required order: progress*, manifest, chunks."""

    def __init__(self, responses: Iterable, on_progress: Optional[Progress]):
        self._responses = iter(responses)
        self._progress = on_progress or (lambda *_: None)
        self.received = 0
        self.total = 0

    def manifest(self) -> Manifest:
        for message in self._responses:
            part = message.WhichOneof("part")
            if part == "progress":
                self._progress("snapshot", message.progress.pages_copied,
                               message.progress.pages_total)
            elif part == "manifest":
                manifest = Manifest.from_proto(message.manifest)
                self.total = sum(f.size_bytes for f in manifest.files)
                self._progress("download", 0, self.total)
                return manifest
            else:
                raise _broken(f"a {part or 'empty'} message arrived before the manifest")
        raise _broken("the stream ended before the manifest")

    def chunks(self, entry: FileEntry) -> Iterator[bytes]:
        """The bytes of `entry`, in order; stops after exactly size_bytes."""
        offset = 0
        while offset < entry.size_bytes:
            message = next(self._responses, None)
            if message is None:
                raise _broken(f"the stream ended after {offset} of {entry.size_bytes} bytes "
                              f"of {entry.path}")
            chunk = message.chunk if message.WhichOneof("part") == "chunk" else None
            if chunk is None or chunk.path != entry.path or chunk.offset != offset:
                raise _broken(f"expected {entry.path} at offset {offset}")
            if offset + len(chunk.data) > entry.size_bytes:
                raise _broken(f"{entry.path} is longer than the manifest's {entry.size_bytes}")
            offset += len(chunk.data)
            self.received += len(chunk.data)
            self._progress("download", self.received, self.total)
            yield chunk.data

    def finish(self) -> None:
        if next(self._responses, None) is not None:
            raise _broken("more messages arrived after the last file")


class _FileReader(io.RawIOBase):
    """One file's chunks as a readable file (for tarfile.addfile), hashed as read."""

    def __init__(self, entry: FileEntry, chunks: Iterator[bytes]):
        self.entry = entry
        self._chunks = chunks
        self._buffer = b""
        self._digest = sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            data = next(self._chunks, None)
            if data is None:
                return 0
            self._digest.update(data)
            self._buffer = data
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def verify(self) -> None:
        got = self._digest.hexdigest()
        if got != self.entry.sha256:
            raise errors.DataLossError(
                f"{self.entry.path} arrived with sha256 {got} but the manifest says "
                f"{self.entry.sha256}; nothing was written, take the backup again")


def check_out(out: str | os.PathLike, force: bool = False) -> None:
    """Refuse `out` before asking the service for anything (save checks again)."""
    atomic_install.check_target(Path(out), force, "--out", folder=archive_kind(out) is None)


def save(responses: Iterable, out: str | os.PathLike, force: bool = False,
         on_progress: Optional[Progress] = None) -> BackupResult:
    """Write a backup stream to `out` (folder or archive by its ending), atomically."""
    started = time.monotonic()
    out = Path(out)
    kind = archive_kind(out)
    check_out(out, force)
    temp = atomic_install.temp_sibling(out, "partial")
    incoming = _Incoming(responses, on_progress)
    try:
        manifest = incoming.manifest()
        if kind is None:
            written = _write_folder(temp, manifest, incoming)
        else:
            written = _write_archive(temp, kind, archive_folder_name(out), manifest, incoming)
        incoming.finish()
        atomic_install.install(temp, out)
    except BaseException:
        atomic_install.discard(temp)
        raise
    return BackupResult(path=str(out), format=kind or "folder", bytes=written,
                        seconds=time.monotonic() - started, manifest=manifest)


def _manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_json(), indent=2) + "\n").encode()


def _write_folder(temp: Path, manifest: Manifest, incoming: _Incoming) -> int:
    temp.mkdir()
    written = 0
    for entry in manifest.files:
        target = temp / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        reader = _FileReader(entry, incoming.chunks(entry))
        with open(target, "wb") as fh:
            while block := reader.read(1024 * 1024):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        reader.verify()
        written += entry.size_bytes
    data = _manifest_bytes(manifest)
    with open(temp / MANIFEST_NAME, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    atomic_install.fsync_path(temp)
    return written + len(data)


def _write_archive(temp: Path, kind: str, folder: str, manifest: Manifest,
                   incoming: _Incoming) -> int:
    now = time.time()
    options: dict[str, Any] = {"compresslevel": GZIP_LEVEL} if kind == "tar.gz" else {}
    with open(temp, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz" if kind == "tar.gz" else "w",
                          format=tarfile.PAX_FORMAT, **options) as tar:
            top = tarfile.TarInfo(folder)
            top.type, top.mode, top.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(top)
            # The manifest first: a reader streaming the archive learns what follows.
            data = _manifest_bytes(manifest)
            info = tarfile.TarInfo(f"{folder}/{MANIFEST_NAME}")
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
            for entry in manifest.files:
                info = tarfile.TarInfo(f"{folder}/{entry.path}")
                info.size, info.mode, info.mtime = entry.size_bytes, 0o644, now
                reader = _FileReader(entry, incoming.chunks(entry))
                tar.addfile(info, io.BufferedReader(reader, 1024 * 1024))
                reader.verify()
        raw.flush()
        os.fsync(raw.fileno())
        return raw.tell()


def _broken(what: str) -> errors.DataLossError:
    return errors.DataLossError(f"the backup stream is broken: {what}; nothing was written, "
                                "take the backup again")
