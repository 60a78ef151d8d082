"""The data folder's owner lock: an exclusive flock on `<data>/chroma.sqlite3.lock`.

One metadata worker per data folder: the worker holds this lock while it runs, and
`segmentdb serve` tries it before starting anything. Imports nothing heavy (no sqlite3, no
grpc), so the supervisor can check it first thing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DB_FILENAME = "chroma.sqlite3"
LOCK_SUFFIX = ".lock"


class FolderLockedError(RuntimeError):
    """Another metadata worker already owns this data folder."""


class FolderLock:
    """An exclusive flock on `<data>/chroma.sqlite3.lock`, held while the worker runs."""

    def __init__(self, db_path: Path):
        self.path = Path(f"{db_path}{LOCK_SUFFIX}")
        self._fh = None

    def acquire(self) -> None:
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise FolderLockedError(
                f"another metadata worker (pid {holder}) is already using "
                f"{self.path.parent}: its lock {self.path} is held. Stop that worker or "
                "pass a different --path; only one metadata worker may own a data folder."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
