"""The SQLite file: connections, the folder lock, and how work runs in transactions.

`Store` owns `<data>/chroma.sqlite3`. Writes run one at a time on a single writer
connection, each as ONE `BEGIN IMMEDIATE ... COMMIT` (all or nothing; with
synchronous=FULL a commit is durable, which is what acknowledges a write). Reads run on
per-thread connections in their own transaction, so each read sees one WAL snapshot.

The operations themselves live in store_collections / store_records / store_log as plain
functions taking a connection; callers pass them to `Store.read` / `Store.write`.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import re
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from metadata_worker import migrate

log = logging.getLogger(__name__)

DB_FILENAME = "chroma.sqlite3"
LOCK_SUFFIX = ".lock"
BUSY_TIMEOUT_MS = 30_000

T = TypeVar("T")


class FolderLockedError(RuntimeError):
    """Another metadata worker already owns this data folder."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _regexp(pattern: str | None, text: str | None) -> int | None:
    # SQLite evaluates `text REGEXP pattern` as regexp(pattern, text).
    if pattern is None or text is None:
        return None
    return 1 if _compiled(pattern).search(text) else 0


WRITER_CACHE_KIB = 128 * 1024


def connect(db_path: str | Path, cache_kib: int | None = None) -> sqlite3.Connection:
    """A connection with segmentdb's settings. Autocommit mode: callers BEGIN/COMMIT."""
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a COMMIT is on disk when it returns, so an acknowledged write survives power loss.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if cache_kib:
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    return conn


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


class Store:
    """The open database of one data folder (locked, migrated)."""

    def __init__(self, data_path: str | Path):
        self.data_path = Path(data_path)
        self.data_path.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_path / DB_FILENAME
        self._lock = FolderLock(self.db_path)
        self._lock.acquire()
        writer = None
        try:
            # A large page cache for the one writer: big batches update several B-trees
            # (records, 4 metadata indexes, full text) and the default 2 MiB thrashes.
            writer = connect(self.db_path, cache_kib=WRITER_CACHE_KIB)
            migrate.apply(writer)
        except BaseException:
            if writer is not None:
                writer.close()
            self._lock.release()
            raise
        self._writer = writer
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    # -- running work -------------------------------------------------------------------

    def write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(conn, ...)` as one write transaction: committed entirely or not at all."""
        with self._write_lock:
            self._check_open()
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args, **kwargs)
            except BaseException:
                if conn.in_transaction:  # some errors (disk full, I/O) already rolled back
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def read(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(conn, ...)` in one read transaction (one consistent snapshot)."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn, *args, **kwargs)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def stream(self, fn: Callable[..., Iterator[T]], *args, **kwargs) -> Iterator[T]:
        """Yield from `fn(conn, ...)` on a private connection holding one read transaction,
        so a long streamed read sees one snapshot and ties up no shared connection."""
        self._check_open()
        conn = connect(self.db_path)
        try:
            conn.execute("BEGIN")
            yield from fn(conn, *args, **kwargs)
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        self._check_open()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.db_path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the metadata store is closed")

    # -- shutdown -------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection (checkpointing the WAL) and release the folder lock."""
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            try:
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a checkpoint is an optimisation, never fatal
                log.warning("WAL checkpoint at shutdown failed: %s", exc)
            self._writer.close()
            self._lock.release()
