"""Put a finished file or folder in place atomically: build it beside the target, then rename.

Backups and restores are written to a hidden sibling of their target (same filesystem, so
the rename is atomic) and renamed into place only once complete and verified: a crash or an
error leaves either the old target or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from segmentdb import errors


def temp_sibling(target: Path, purpose: str) -> Path:
    """A fresh hidden path beside `target`, e.g. `.backup.tar.gz.partial-1a2b3c4d`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent / f".{target.name}.{purpose}-{uuid.uuid4().hex[:8]}"


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes renames inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def check_target(target: Path, force: bool, flag: str, folder: bool) -> None:
    """Refuse a target that exists and is not empty unless `force`; refuse one of the wrong
    kind always. `flag` names the option in the message."""
    if not os.path.lexists(target):
        return
    if folder and not target.is_dir():
        raise errors.FailedPreconditionError(
            f"{flag}: {target} exists and is not a folder; choose another path")
    if not folder and target.is_dir():
        raise errors.FailedPreconditionError(
            f"{flag}: {target} is a folder; an archive path must name a file (or drop the "
            ".tar/.tar.gz/.tgz ending to write a backup folder)")
    if folder and is_empty_folder(target):
        return
    if not force:
        what = "is not empty" if folder else "exists"
        raise errors.FailedPreconditionError(
            f"{flag}: {target} {what}; pass --force (force=True) to replace it, or choose "
            "another path")


def install(temp: Path, target: Path) -> None:
    """Rename the finished `temp` (file or folder) to `target`, replacing what is there.

    A file, or a folder onto a missing or empty one, is one atomic rename. A non-empty folder
    (checked with check_target first) is moved aside, replaced, then deleted; if the second
    rename fails the old folder is moved back.
    """
    if temp.is_dir() and target.is_dir() and not is_empty_folder(target):
        aside = temp_sibling(target, "replaced")
        os.rename(target, aside)
        try:
            os.rename(temp, target)
        except BaseException:
            os.rename(aside, target)
            raise
        fsync_path(target.parent)
        shutil.rmtree(aside, ignore_errors=True)
        return
    os.replace(temp, target)
    fsync_path(target.parent)


def discard(temp: Path) -> None:
    """Remove an unfinished temp file or folder (best effort: it is hidden and unused)."""
    if temp.is_dir() and not temp.is_symlink():
        shutil.rmtree(temp, ignore_errors=True)
    else:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass
