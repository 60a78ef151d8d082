"""The SQLite file: connections, the folder lock, and how work runs in transactions.

`Store` owns `<data>/chroma.sqlite3`. Writes run one at a time on a single writer
connection, each as ONE `BEGIN IMMEDIATE ... COMMIT` (all or nothing; with
synchronous=FULL a commit is durable, which is what acknowledges a write). Reads run on
per-thread connections in their own transaction, so each read sees one WAL snapshot.

The operations themselves live in store_collections / store_records / store_log as plain
functions taking a connection; callers pass them to `Store.read` / `Store.write`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from segmentdb import errors

from metadata_worker import migrate, regex_dialect
# Re-exported: the lock lives in its own module so `segmentdb serve` can check it without
# importing sqlite3 and grpc.
from metadata_worker.folder_lock import (  # noqa: F401
    DB_FILENAME, LOCK_SUFFIX, FolderLock, FolderLockedError)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000

T = TypeVar("T")


# SQLite's primary result codes for "no space": SQLITE_FULL (ENOSPC) and SQLITE_IOERR, which
# is what a write past RLIMIT_FSIZE (EFBIG) becomes, like other failed writes and fsyncs.
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


def storage_full_error(exc: BaseException, db_path: Path) -> errors.StorageFullError | None:
    """The StorageFullError a failed write stands for, or None if it is another error."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or (code & 0xFF) not in (_SQLITE_FULL, _SQLITE_IOERR):
        return None
    return errors.StorageFullError(
        f"the disk holding {db_path.parent} (or the metadata worker's file-size limit) is full "
        f"({exc}): nothing was written; free some space and retry the write"
    )


def _regexp(pattern: str | None, text: str | None) -> int | None:
    # SQLite evaluates `text REGEXP pattern` as regexp(pattern, text). Python re, plus
    # Chroma's mid-pattern inline flags (metadata_worker.regex_dialect; cached there).
    if pattern is None or text is None:
        return None
    return 1 if regex_dialect.compile_pattern(pattern).search(text) else 0


WRITER_CACHE_KIB = 128 * 1024
# Readers do not memory-map the file (0). Mapping it (1 GiB) made fetches of 1000 records up
# to 2x faster but counted every page read in the worker's resident memory: 310 MiB instead
# of 61 MiB after querying a 100k x 384 collection, while k=10 queries and 10% filters
# measured the same (0.71 vs 0.75 ms, 3.9 vs 3.4 ms). Memory that grows with the database
# is what users of other vector databases complain about; the OS page cache still holds the
# file without it counting against the process.
READER_MMAP_BYTES = 0


def connect(db_path: str | Path, cache_kib: int | None = None,
            mmap_bytes: int = 0) -> sqlite3.Connection:
    """A connection with segmentdb's settings. Autocommit mode: callers BEGIN/COMMIT."""
    conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a COMMIT is on disk when it returns, so an acknowledged write survives power loss.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    if cache_kib:
        conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    if mmap_bytes:
        conn.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    return conn


def connect_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection (for looking at a folder another process may own). Raises
    sqlite3.OperationalError if the file does not exist: it is never created."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


class Store:
    """The open database of one data folder (locked, migrated)."""

    def __init__(self, data_path: str | Path, on_locked: Callable[[], None] | None = None):
        """Lock the folder, call `on_locked()` (the server binds there), open and migrate."""
        self.data_path = Path(data_path)
        self.data_path.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_path / DB_FILENAME
        self._lock = FolderLock(self.db_path)
        self._lock.acquire()
        writer = None
        try:
            if on_locked is not None:
                on_locked()
            # A large page cache for the one writer: big batches update several B-trees
            # (records, 4 metadata indexes, full text) and the default 2 MiB thrashes.
            writer = connect(self.db_path, cache_kib=WRITER_CACHE_KIB)
            self.upgrade = migrate.upgrade(writer, self.db_path)
            if self.upgrade.applied:
                log.info("%s: schema version %d -> %d (applied %s)%s", self.db_path,
                         self.upgrade.from_version, self.upgrade.to_version,
                         ", ".join(map(str, self.upgrade.applied)),
                         f"; backup of the previous version: {self.upgrade.backup}"
                         if self.upgrade.backup else "")
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
        """Run `fn(conn, ...)` as one write transaction: committed entirely or not at all.

        A full disk (or RLIMIT_FSIZE) while writing or committing raises StorageFullError;
        the transaction is rolled back and the next write may succeed once space returns.
        """
        with self._write_lock:
            self._check_open()
            conn = self._writer_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = fn(conn, *args, **kwargs)
                conn.execute("COMMIT")  # may fail with SQLITE_FULL too: inside the try
            except BaseException as exc:
                self._roll_back()
                full = storage_full_error(exc, self.db_path)
                if full is not None:
                    log.error("write refused: %s", full.message)
                    raise full from exc
                raise
            return result

    def exclusive(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn(conn, ...)` on the writer connection outside any transaction, with
        writes held off: for statements SQLite refuses inside one (VACUUM, a TRUNCATE
        checkpoint). Disk-full errors become StorageFullError, as in `write`."""
        with self._write_lock:
            self._check_open()
            conn = self._writer_connection()
            try:
                return fn(conn, *args, **kwargs)
            except BaseException as exc:
                self._roll_back()
                full = storage_full_error(exc, self.db_path)
                if full is not None:
                    raise full from exc
                raise

    def _roll_back(self) -> None:
        """End the writer's failed transaction; SQLite rolls some errors (disk full, I/O)
        back itself. If the connection cannot even roll back, replace it: a write must
        never find a half-finished transaction on the writer."""
        conn = self._writer
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        except sqlite3.Error as exc:
            log.warning("rollback after a failed write failed (%s); reopening the writer", exc)
        try:
            conn.close()
        except sqlite3.Error:
            pass
        self._writer = None  # the next write opens a fresh one

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            # Opening reads the schema and the WAL and writes nothing, so it works on a
            # full disk; if it fails anyway the error reaches this caller, the next retries.
            self._writer = connect(self.db_path, cache_kib=WRITER_CACHE_KIB)
        return self._writer

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
        conn = connect(self.db_path, mmap_bytes=READER_MMAP_BYTES)
        try:
            conn.execute("BEGIN")
            yield from fn(conn, *args, **kwargs)
        finally:
            conn.close()

    def _reader(self) -> sqlite3.Connection:
        self._check_open()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.db_path, mmap_bytes=READER_MMAP_BYTES)
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
                self._writer_connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                # An optimisation, never fatal: committed writes stay in the -wal file,
                # which the next start reads (and checkpoints) before anything else.
                log.warning("WAL checkpoint at shutdown failed: %s", exc)
            if self._writer is not None:
                self._writer.close()
            self._lock.release()
