"""The backup manifest: what a backup holds, as a proto on the wire and JSON on disk.

A backup is a plain data folder (`chroma.sqlite3`) plus `backup-manifest.json`, which
names every file with its size and sha256, the snapshot's log position, schema version,
the segmentdb that took it and when. Shared by the metadata worker (which fills it in),
the gateway (which checks the request) and the client (which writes and verifies it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, BinaryIO, Callable, Optional

from segmentdb import errors
from segmentdb.v1 import backup_pb2

MANIFEST_NAME = "backup-manifest.json"
FORMAT = "segmentdb-backup"
FORMAT_VERSION = 1
INDEX_NOTE = "not included: each collection's index is rebuilt from chroma.sqlite3 on first use"

DEFAULT_CHUNK_BYTES = 1024 * 1024
MIN_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
# Files are hashed and copied in blocks of this size.
COPY_BLOCK_BYTES = 1024 * 1024


def chunk_bytes(requested: int) -> int:
    """BackupRequest.chunk_bytes resolved: 0 means the default; outside the range is refused."""
    if requested == 0:
        return DEFAULT_CHUNK_BYTES
    if not MIN_CHUNK_BYTES <= requested <= MAX_CHUNK_BYTES:
        raise errors.InvalidArgumentError(
            f"chunk_bytes: {requested} is outside {MIN_CHUNK_BYTES}-{MAX_CHUNK_BYTES}; pass 0 "
            f"for the default ({DEFAULT_CHUNK_BYTES}) or a size in that range")
    return requested


@dataclass(frozen=True)
class FileEntry:
    path: str        # relative, "/"-separated
    size_bytes: int
    sha256: str      # lowercase hex


@dataclass(frozen=True)
class Manifest:
    format_version: int
    created_at: str
    segmentdb_version: str
    schema_version: int
    log_position: int
    collections: int
    records: int
    files: tuple[FileEntry, ...] = field(default_factory=tuple)

    @classmethod
    def from_proto(cls, message: backup_pb2.BackupManifest) -> "Manifest":
        return cls(format_version=message.format_version, created_at=message.created_at,
                   segmentdb_version=message.segmentdb_version,
                   schema_version=message.schema_version, log_position=message.log_position,
                   collections=message.collections, records=message.records,
                   files=tuple(FileEntry(safe_relative_path(f.path, "manifest.files.path"),
                                         f.size_bytes, f.sha256.lower())
                               for f in message.files))

    def to_proto(self) -> backup_pb2.BackupManifest:
        return backup_pb2.BackupManifest(
            format_version=self.format_version, created_at=self.created_at,
            segmentdb_version=self.segmentdb_version, schema_version=self.schema_version,
            log_position=self.log_position, collections=self.collections, records=self.records,
            files=[backup_pb2.BackupFile(path=f.path, size_bytes=f.size_bytes, sha256=f.sha256)
                   for f in self.files])

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": self.format_version,
            "created_at": self.created_at, "segmentdb_version": self.segmentdb_version,
            "schema_version": self.schema_version, "log_position": self.log_position,
            "collections": self.collections, "records": self.records,
            "index_folders": INDEX_NOTE,
            "files": [{"path": f.path, "size_bytes": f.size_bytes, "sha256": f.sha256}
                      for f in self.files],
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> "Manifest":
        """Parse and check a manifest read from `where` (named in every error)."""
        def bad(what: str) -> errors.DataLossError:
            return errors.DataLossError(f"{where}: {what}; this is not an intact segmentdb "
                                        "backup (take a new one)")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"not a segmentdb backup manifest (expected \"format\": \"{FORMAT}\")")
        version = data.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise bad("format_version is missing or not a positive integer")
        if version > FORMAT_VERSION:
            raise errors.FailedPreconditionError(
                f"{where}: backup format version {version} was written by a newer segmentdb "
                f"(this one reads up to {FORMAT_VERSION}); restore it with that version")
        ints = {}
        for key in ("schema_version", "log_position", "collections", "records"):
            value = data.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(f"{key} is missing or not a non-negative integer")
            ints[key] = value
        files = data.get("files")
        if not isinstance(files, list) or not files:
            raise bad("files is missing or empty")
        entries = []
        for i, item in enumerate(files):
            if not isinstance(item, dict):
                raise bad(f"files[{i}] is not an object")
            path, size, sha = item.get("path"), item.get("size_bytes"), item.get("sha256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise bad(f"files[{i}].size_bytes is not a non-negative integer")
            if not isinstance(sha, str) or len(sha) != 64:
                raise bad(f"files[{i}].sha256 is not 64 hex digits")
            entries.append(FileEntry(safe_relative_path(path, f"{where}: files[{i}].path"),
                                     size, sha.lower()))
        return cls(format_version=version, created_at=str(data.get("created_at", "")),
                   segmentdb_version=str(data.get("segmentdb_version", "")), files=tuple(entries),
                   **ints)


def safe_relative_path(path: Any, field_name: str) -> str:
    """`path` if it is a relative path that stays inside its folder; DataLossError if not
    (a manifest or archive must never make restore write outside its target)."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise errors.DataLossError(f"{field_name}: {path!r} is not a relative file path")
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        raise errors.DataLossError(
            f"{field_name}: {path!r} leaves the backup's folder; refusing to restore it")
    return str(pure)


def copy_hashed(source: BinaryIO, target: Optional[BinaryIO], limit: Optional[int] = None,
                on_bytes: Optional[Callable[[int], None]] = None) -> tuple[int, str]:
    """Copy `source` to `target` (None: only read) in blocks; returns (bytes, sha256 hex).
    Reads at most `limit` bytes when given."""
    digest = hashlib.sha256()
    total = 0
    while limit is None or total < limit:
        want = COPY_BLOCK_BYTES if limit is None else min(COPY_BLOCK_BYTES, limit - total)
        block = source.read(want)
        if not block:
            break
        digest.update(block)
        if target is not None:
            target.write(block)
        total += len(block)
        if on_bytes is not None:
            on_bytes(len(block))
    return total, digest.hexdigest()
