"""`segmentdb vacuum --path DIR`: vacuum a data folder that no service is running on.

The same steps as the online vacuum (gateway/vacuum.py), done in this process:
1. The folder lock is taken (FolderLockedError while a metadata worker serves the folder:
   use `segmentdb vacuum --target` then). A database with pending migrations is refused
   rather than migrated behind the operator's back: `segmentdb migrate` first.
2. Each vector segment folder whose saved index holds at least min_deleted_fraction
   deleted entries is rebuilt from one SQLite snapshot (vector_worker.segment_compaction),
   saved atomically (segment_files.save, under the folder's flock) and its checkpoint
   recorded, which purges the collection's log through it.
3. Folders under index/ that belong to no collection (a collection deleted while its
   vector worker was down) are removed: they are caches of nothing.
4. The SQLite half (metadata_worker.vacuum): applied-log purge, VACUUM, -wal truncated,
   the run recorded in maintenance_runs with mode "offline".
The result has the shape of AdminService.Vacuum's response (as a dict), plus
`orphan_folders_removed` and `mode`.
"""

from __future__ import annotations

import re
import shutil
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from segmentdb import errors
from segmentdb.maintenance import (
    DEFAULT_MIN_DELETED_FRACTION, INDEX_DIR, check_min_deleted_fraction, deleted_fraction,
    tree_bytes,
)

# (segments done, segments in all) after each segment.
Progress = Callable[[int, int], None]
_SEGMENT_FOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def vacuum_folder(path: str | Path, min_deleted_fraction: float = DEFAULT_MIN_DELETED_FRACTION,
                  progress: Optional[Progress] = None) -> dict[str, Any]:
    from metadata_worker import offline_migrate, store_collections
    from metadata_worker.store import Store
    from metadata_worker.vacuum import IndexFigures, StorageVacuum

    fraction = check_min_deleted_fraction(min_deleted_fraction, "--min-deleted-fraction")
    data = Path(path)
    plan = offline_migrate.plan(data)  # NotFoundError without a database
    if plan.state.pending:
        raise errors.FailedPreconditionError(
            f"{plan.db_path} is at schema version {plan.state.version} and this segmentdb "
            f"needs {plan.state.known_version}: run `segmentdb migrate --path {data}` first "
            "(vacuum does not migrate)")
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    index_before = tree_bytes(data / INDEX_DIR)
    store = Store(data)  # FolderLockedError while a metadata worker runs on it
    try:
        collections = [c for _rowid, c in store.read(store_collections.list_every_collection,
                                                      0, 0)]
        with_vectors = [c for c in collections if c.dimension]
        segments = []
        for done, collection in enumerate(with_vectors, 1):
            segments.append(_compact(store, data, collection, fraction))
            if progress:
                progress(done, len(with_vectors))
        orphans = _remove_orphan_folders(data, {c.vector_segment_id for c in collections})
        index_after = tree_bytes(data / INDEX_DIR)
        storage = StorageVacuum(store).run(
            started,
            IndexFigures(bytes_before=index_before, bytes_after=index_after,
                         segments_examined=len(segments),
                         segments_rebuilt=sum(s["rebuilt"] for s in segments),
                         segments_failed=sum(bool(s["error"]) for s in segments),
                         orphan_folders_removed=len(orphans)),
            mode="offline")
    finally:
        store.close()
    return {
        "mode": "offline",
        "sqlite_bytes_before": storage.sqlite_bytes_before,
        "sqlite_bytes_after": storage.sqlite_bytes_after,
        "index_bytes_before": index_before, "index_bytes_after": index_after,
        "bytes_before": storage.sqlite_bytes_before + index_before,
        "bytes_after": storage.sqlite_bytes_after + index_after,
        "log_entries_before": storage.log_entries_before,
        "log_entries_after": storage.log_entries_after,
        "segments": segments, "orphan_folders_removed": orphans,
        "maintenance_run_id": storage.maintenance_run_id,
        "seconds": time.monotonic() - clock,
    }


def _compact(store, data: Path, collection, fraction: float) -> dict[str, Any]:
    from metadata_worker import convert, store_checkpoints, store_collections, store_log
    from vector_worker import segment_compaction, segment_files
    from vector_worker.convert import params_from_spec

    params = params_from_spec(convert.segment_spec(collection))
    folder = segment_files.segment_folder(data, params.segment_id)
    entry = {"collection_id": collection.id, "segment_id": params.segment_id,
             "worker_address": "", "live_count": 0, "deleted_count": 0, "rebuilt": False,
             "bytes_before": tree_bytes(folder), "bytes_after": 0, "error": ""}
    counts = segment_files.saved_counts(data, params)
    if counts is not None:
        entry["live_count"], entry["deleted_count"] = counts
    live, deleted = counts or (0, 0)
    if deleted and deleted_fraction(live, deleted) >= fraction:
        count = store.read(store_collections.record_count, collection.id)
        with closing(store.stream(store_log.scan, collection.id, 0)) as pages:
            segment = segment_compaction.build_from_snapshot(params, pages, count)
        outcome = segment_files.save(data, segment)
        if outcome is segment_files.SaveOutcome.SAVED:
            store.write(store_checkpoints.report_persisted, params.segment_id, collection.id,
                        segment.applied_sequence)
            entry["rebuilt"] = True
        else:
            entry["error"] = (f"the rebuilt index was not saved ({outcome.value}: the folder "
                              "is locked or newer; is a vector worker still running on it?)")
    entry["bytes_after"] = tree_bytes(folder)
    return entry


def _remove_orphan_folders(data: Path, known_segment_ids: set[str]) -> list[str]:
    """Remove index/<uuid>/ folders of segments SQLite no longer has; returns their names."""
    root = data / INDEX_DIR
    if not root.is_dir():
        return []
    removed = []
    for folder in sorted(root.iterdir()):
        if (folder.is_dir() and not folder.is_symlink() and _SEGMENT_FOLDER.match(folder.name)
                and folder.name not in known_segment_ids):
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed

