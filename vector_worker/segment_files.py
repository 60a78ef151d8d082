"""A segment on disk: `<path>/index/<segment_id>/`, saved atomically, verified on load.

Files:
  hnsw_index.bin      hnswlib's save_index output
  deleted_labels.bin  labels marked deleted in the index (little-endian int64) — hnswlib can't
                      list them and get_ids_list() includes them, so we keep them ourselves
  manifest.json       {format_version, segment_id, collection_id, dimension, space,
                      max_neighbors, ef_construction, applied_sequence, capacity, live_count,
                      index_sha256, deleted_labels_sha256}

Save writes temp files in the folder, fsyncs them, replaces the data files and then the
manifest (last), and fsyncs the folder. The manifest's sha256s tie it to the data files, so a
crash between two replaces is detected at load. Load returns None (after a WARNING saying why)
on any mismatch, missing file, truncation or hnswlib error: the caller rebuilds, because these
folders are a cache of what SQLite holds.

Both take an flock on the folder's `.lock` (shared to load, exclusive to save), waiting at
most LOCK_WAIT seconds: a worker holding it may be stopped (SIGSTOP, a frozen VM) mid-save,
and the fallback worker must go on serving. A load that can't get the lock raises FolderBusy
(the caller rebuilds in memory); a save that can't get it is skipped (BUSY) — the log is
purged only through what was saved, so the records stay in it. A save also refuses (STALE) to
replace a folder whose manifest is further along the log than the segment in memory: after a
failover and return, the other worker's newer save must win. Under the exclusive lock no
other save can be running, so a save first removes temp files (`*.tmp-<pid>`) that a killed
save left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import mmap
import os
import shutil
import threading
import time
from enum import Enum
from pathlib import Path

import hnswlib
import numpy as np

from segmentdb import atomic_install
from vector_worker.convert import SegmentParams
from vector_worker.segment import Segment

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_FILE = "hnsw_index.bin"
DELETED_FILE = "deleted_labels.bin"
MANIFEST_FILE = "manifest.json"
# K vector workers may share one data folder (`segmentdb serve`): saves and loads of one
# segment take this advisory lock so a save never interleaves with another worker's.
LOCK_FILE = ".lock"
_LABEL_DTYPE = np.dtype("<i8")
# Seconds a load or save waits for the folder lock before giving up (see the module doc).
LOCK_WAIT = 5.0
_LOCK_POLL = 0.05
# Marks our temp files: `<file>.tmp-<pid>`.
_TMP_MARK = ".tmp-"


class SaveOutcome(Enum):
    SAVED = "saved"
    BUSY = "busy"  # another process held the folder lock for LOCK_WAIT seconds
    STALE = "stale"  # the folder holds a newer save than the segment in memory


class _Invalid(Exception):
    """Why a folder can't be loaded (turned into a WARNING + rebuild)."""


class FolderBusy(Exception):
    """The folder lock stayed held by another process for the whole wait (load raises it:
    the caller rebuilds in memory and does not save over a save in progress)."""


def _identity(params: SegmentParams) -> dict:
    """What ties a folder to its collection: written into the manifest, checked on load."""
    return {
        "segment_id": params.segment_id,
        "collection_id": params.collection_id,
        "dimension": params.dimension,
        "space": params.space,
        "max_neighbors": params.max_neighbors,
        "ef_construction": params.ef_construction,
    }


def segment_folder(root: str | Path, segment_id: str) -> Path:
    """`<root>/index/<segment_id>` where root is the worker's --path."""
    return Path(root) / "index" / segment_id


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Sha256InBackground:
    """sha256 of a file on its own thread, while the caller loads the same file.

    Checking a 100k x 384 index (150 MB) took 0.11 s before hnswlib's 0.20 s load, on the
    cold-start path. The digest is one `update` over a read-only mapping of the whole file:
    hashlib drops the GIL for the whole call, so it runs beside hnswlib's load (which holds
    the GIL) on the other core. Nothing loaded is used before `matches()` says yes.

    The constructor returns only once the thread is about to enter hashlib: started and
    left alone, the thread could not even open the file until hnswlib's load gave the GIL
    back, and the two ran one after the other (0.24 s instead of 0.14 s at 100k x 384).
    """

    def __init__(self, path: Path):
        self._path = path
        self._digest: str | None = None
        self._error: OSError | None = None
        self._hashing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segment-sha256", daemon=True)
        self._thread.start()
        self._hashing.wait()

    def _run(self) -> None:
        try:
            with open(self._path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size == 0:
                    self._digest = hashlib.sha256().hexdigest()
                    return
                with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    digest = hashlib.sha256()
                    self._hashing.set()  # the next line drops the GIL until it is done
                    digest.update(mapped)
                    self._digest = digest.hexdigest()
        except OSError as exc:
            self._error = exc
        finally:
            self._hashing.set()

    def wait(self) -> None:
        self._thread.join()

    def matches(self, expected: str) -> bool:
        self._thread.join()
        if self._error is not None:
            raise _Invalid(f"{self._path.name} is unreadable ({self._error})")
        return self._digest == expected


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def _folder_lock(folder: Path, exclusive: bool, wait: float | None = None):
    """Hold the folder's flock; raises FolderBusy after `wait` seconds (LOCK_WAIT if None).
    Polled with LOCK_NB: a blocking flock can't be given a timeout."""
    wait = LOCK_WAIT if wait is None else wait
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FolderBusy(f"{folder / LOCK_FILE} stayed locked by another process "
                                    f"for {wait:g}s") from None
                time.sleep(_LOCK_POLL)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def save(root: str | Path, segment: Segment, lock_wait: float | None = None) -> SaveOutcome:
    """Persist `segment` atomically and reset its dirty counter (SAVED); or leave the folder
    as it is, with a log line saying why (BUSY: lock held elsewhere; STALE: the folder is
    newer). Raises OSError when the disk write fails."""
    folder = segment_folder(root, segment.segment_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _folder_lock(folder, exclusive=True, wait=lock_wait):
            _remove_stale_temp_files(folder)
            saved_sequence = _saved_sequence(folder)
            if saved_sequence is not None and saved_sequence > segment.applied_sequence:
                log.info("segment %s: not saved: %s holds a newer save (applied %d) than this "
                         "copy (applied %d), written by another worker; keeping that one",
                         segment.segment_id, folder, saved_sequence, segment.applied_sequence)
                return SaveOutcome.STALE
            _save_locked(folder, segment, segment.params)
    except FolderBusy as why:
        log.warning("segment %s: save skipped: %s; its log entries stay until a later save "
                    "succeeds, so nothing is lost", segment.segment_id, why)
        return SaveOutcome.BUSY
    return SaveOutcome.SAVED


def _remove_stale_temp_files(folder: Path) -> None:
    """Delete temp files of saves killed mid-way (caller holds the exclusive lock, so no
    save is writing them now)."""
    for path in folder.iterdir():
        if _TMP_MARK in path.name:
            log.info("segment folder %s: removing %s, left by an interrupted save",
                     folder, path.name)
            path.unlink(missing_ok=True)


def _saved_sequence(folder: Path) -> int | None:
    """The applied_sequence in the folder's manifest; None when there is no readable one."""
    try:
        return int(json.loads((folder / MANIFEST_FILE).read_text())["applied_sequence"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_locked(folder: Path, segment: Segment, params: SegmentParams) -> None:
    suffix = f"{_TMP_MARK}{os.getpid()}"
    tmp_index = folder / (INDEX_FILE + suffix)
    tmp_deleted = folder / (DELETED_FILE + suffix)
    tmp_manifest = folder / (MANIFEST_FILE + suffix)
    try:
        # One consistent moment: no write may land between the index and its bookkeeping.
        with segment.lock:
            segment.save_index(str(tmp_index))
            tmp_deleted.write_bytes(segment.deleted_labels().astype(_LABEL_DTYPE).tobytes())
            manifest = {
                "format_version": FORMAT_VERSION,
                **_identity(params),
                "applied_sequence": segment.applied_sequence,
                "capacity": segment.capacity,
                "live_count": segment.live_count,
            }
            dirty_saved = segment.dirty
        for path in (tmp_index, tmp_deleted):
            _fsync_file(path)
        manifest["index_sha256"] = _sha256(tmp_index)
        manifest["deleted_labels_sha256"] = _sha256(tmp_deleted)
        with open(tmp_manifest, "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_index, folder / INDEX_FILE)
        os.replace(tmp_deleted, folder / DELETED_FILE)
        os.replace(tmp_manifest, folder / MANIFEST_FILE)  # last: it commits the save
        atomic_install.fsync_path(folder)
    finally:
        for path in (tmp_index, tmp_deleted, tmp_manifest):
            path.unlink(missing_ok=True)
    with segment.lock:
        # Writes applied while we hashed stay counted as dirty.
        segment.dirty = max(0, segment.dirty - dirty_saved)
        segment.persisted_sequence = max(segment.persisted_sequence,
                                         manifest["applied_sequence"])


def saved_capacity(root: str | Path, params: SegmentParams) -> int | None:
    """The capacity in a saved segment's manifest, or None when there is none or it is
    unreadable: lets the cache make room before loading. Not verified (load does that)."""
    try:
        manifest = json.loads((segment_folder(root, params.segment_id) / MANIFEST_FILE).read_text())
        return int(manifest["capacity"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def saved_counts(root: str | Path, params: SegmentParams) -> tuple[int, int] | None:
    """(live, deleted) entries of the saved index, from its manifest and the size of its
    deleted-labels file; None when there is no readable save of this segment. Not
    verified (load does that): enough to decide whether a rebuild is worth it."""
    folder = segment_folder(root, params.segment_id)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        if manifest.get("segment_id") != params.segment_id:
            return None
        deleted = (folder / DELETED_FILE).stat().st_size // _LABEL_DTYPE.itemsize
        return int(manifest["live_count"]), int(deleted)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load(root: str | Path, params: SegmentParams, lock_wait: float | None = None) -> Segment | None:
    """The saved segment for `params`, or None (logged) when it must be rebuilt. Raises
    FolderBusy when another process holds the folder lock for longer than the wait."""
    folder = segment_folder(root, params.segment_id)
    if not folder.exists():
        return None  # never saved here: a plain miss, not worth a warning
    started = time.monotonic()
    try:
        with _folder_lock(folder, exclusive=False, wait=lock_wait):
            segment = _load(folder, params)
    except _Invalid as why:
        log.warning("segment %s in %s will be rebuilt from the metadata worker: %s",
                    params.segment_id, folder, why)
        return None
    log.info("segment %s: loaded %d vectors (applied %d) from %s in %.2fs",
             params.segment_id, segment.live_count, segment.applied_sequence, folder,
             time.monotonic() - started)
    return segment


def _load(folder: Path, params: SegmentParams) -> Segment:
    manifest_path = folder / MANIFEST_FILE
    index_path = folder / INDEX_FILE
    deleted_path = folder / DELETED_FILE
    for path in (manifest_path, index_path, deleted_path):
        if not path.is_file():
            raise _Invalid(f"{path.name} is missing")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise _Invalid(f"{MANIFEST_FILE} is unreadable ({exc})") from None
    if not isinstance(manifest, dict):
        raise _Invalid(f"{MANIFEST_FILE} is not a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _Invalid(f"format_version {manifest.get('format_version')!r} != {FORMAT_VERSION}")
    for key, want in _identity(params).items():
        if manifest.get(key) != want:
            raise _Invalid(f"manifest {key} is {manifest.get(key)!r}, the collection has {want!r}")
    try:
        applied = int(manifest["applied_sequence"])
        capacity = int(manifest["capacity"])
        live_count = int(manifest["live_count"])
        index_sha = str(manifest["index_sha256"])
        deleted_sha = str(manifest["deleted_labels_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _Invalid(f"manifest field missing or malformed ({exc!r})") from None
    index_check = _Sha256InBackground(index_path)
    try:
        return _load_checked(index_path, deleted_path, params, index_check, index_sha,
                             deleted_sha, applied, capacity, live_count)
    finally:
        index_check.wait()  # on every path: no digest thread outlives the load


def _load_checked(index_path: Path, deleted_path: Path, params: SegmentParams,
                  index_check: _Sha256InBackground, index_sha: str, deleted_sha: str,
                  applied: int, capacity: int, live_count: int) -> Segment:
    if _sha256(deleted_path) != deleted_sha:
        raise _Invalid(f"{DELETED_FILE} does not match the manifest's sha256")
    raw_deleted = deleted_path.read_bytes()
    if len(raw_deleted) % _LABEL_DTYPE.itemsize:
        raise _Invalid(f"{DELETED_FILE} is not a whole number of int64 labels")
    deleted = np.frombuffer(raw_deleted, dtype=_LABEL_DTYPE).tolist()

    index = hnswlib.Index(space=params.space, dim=params.dimension)
    try:
        index.load_index(str(index_path), max_elements=capacity)
    except (RuntimeError, ValueError, MemoryError) as exc:
        if not index_check.matches(index_sha):
            raise _Invalid(f"{INDEX_FILE} does not match the manifest's sha256 "
                           "(truncated or replaced)") from None
        raise _Invalid(f"hnswlib could not load {INDEX_FILE} ({exc})") from None
    if not index_check.matches(index_sha):
        raise _Invalid(f"{INDEX_FILE} does not match the manifest's sha256 (truncated or replaced)")
    if index.get_max_elements() != capacity:
        raise _Invalid(f"index capacity {index.get_max_elements()} != manifest {capacity}")
    index.set_num_threads(params.num_threads)
    # The segment copies the index's vectors into its mirror (vector_mirror.from_index).
    segment = Segment(params, index, deleted=deleted, applied_sequence=applied,
                      saved_file=str(index_path))
    if segment.live_count != live_count:
        raise _Invalid(f"index holds {segment.live_count} live labels, the manifest says "
                       f"{live_count}")
    segment.persisted_sequence = applied
    return segment


def delete(root: str | Path, segment_id: str) -> bool:
    """Remove a segment's folder; False when there was none."""
    folder = segment_folder(root, segment_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
