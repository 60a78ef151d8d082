"""One import: Chroma folder in, new segmentdb folder out, all or nothing.

The segmentdb folder is built in a hidden sibling `.<name>.import-<random>`
(segmentdb.atomic_install, as backups and restores are) and renamed onto
`--path` only when every collection is written, so a failed or interrupted import leaves no
half database behind (an import killed with -9 cannot clean up: it leaves that hidden
folder, which is safe to delete).
`--path` must not exist or be an empty folder: there is no merge mode (two folders that
both have a collection "docs" have no right answer; import into a new folder and move
collections with export/import). The Chroma folder is only read.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from segmentdb import atomic_install, embedding_functions
from segmentdb.chroma_import import ChromaFormatError, hnsw_files, hnsw_settings, replay, safe_pickle
from segmentdb.chroma_import.chroma_sqlite import ChromaCollection, ChromaSqlite
from segmentdb.chroma_import.writer import SegmentdbWriter

REPORTED_HNSW = ("space", "max_neighbors", "ef_construction", "ef_search", "sync_threshold",
                 "batch_size", "resize_factor")


@dataclass
class CollectionReport:
    tenant: str
    database: str
    name: str
    id: str
    records: int
    dimension: int | None
    hnsw: dict
    hnsw_source: str
    vectors_from_index_files: int
    vectors_from_queue: int


@dataclass
class ImportReport:
    source: str
    path: str
    chroma_format: str
    tenants: list[str]
    databases: list[str]
    collections: list[CollectionReport] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


class DestinationError(ChromaFormatError):
    """--path cannot receive an import."""


def check_destination(source: Path, dest: Path) -> None:
    if dest.exists():
        if not dest.is_dir():
            raise DestinationError(f"--path: {dest} exists and is not a folder")
        if any(dest.iterdir()):
            what = ("holds a segmentdb database" if (dest / "chroma.sqlite3").exists()
                    else "is not empty")
            raise DestinationError(
                f"--path: {dest} {what}; import-chroma writes a NEW folder and never merges "
                "into an existing one: pass a path that does not exist yet (or an empty folder)"
            )
    if dest == source or source in dest.parents:
        raise DestinationError(f"--path: {dest} is inside the Chroma folder {source}; write "
                               "the segmentdb folder elsewhere")


def _format(collections: list[ChromaCollection]) -> str:
    if any(c.schema or (c.config_json or {}).get("hnsw") is not None for c in collections):
        return "chromadb 1.x (Rust)"
    return "chromadb 0.5.x (Python)" if collections else "chromadb (no collections)"


def _index(source: Path, collection: ChromaCollection, cosine: bool):
    """(index files, index metadata) of the collection's vector segment, or Nones."""
    if collection.vector_segment is None:
        return None, None
    folder = source / collection.vector_segment
    pickle_path = folder / safe_pickle.FILENAME
    if not pickle_path.is_file():
        return None, None  # never persisted: every vector is still in the queue
    index = hnsw_files.read(folder, cosine=cosine)  # the pickle without its index is damage
    if index.header.count and collection.dimension and \
            index.header.dimension != collection.dimension:
        raise ChromaFormatError(
            f"{folder}: vectors of dimension {index.header.dimension}, but collection "
            f"{collection.name!r} has dimension {collection.dimension}"
        )
    return index, safe_pickle.read(pickle_path)


def _import_collection(chroma: ChromaSqlite, source: Path, collection: ChromaCollection,
                       writer: SegmentdbWriter, on_records) -> CollectionReport:
    config, config_source = hnsw_settings.segmentdb_configuration(collection)
    index, index_metadata = _index(source, collection, config["space"] == "cosine")
    vector_through = collection.vector_max_seq
    if vector_through is None and index_metadata is not None:
        vector_through = index_metadata.max_seq_id  # 0.5.x before the max_seq_id table
    records = chroma.records(collection.metadata_segment) if collection.metadata_segment else []
    result = replay.replay(collection.name, records, chroma.queue(collection.id),
                           collection.metadata_max_seq, index, index_metadata, vector_through)
    dimensions = {len(r.vector) for r in result.records}
    if collection.dimension:
        dimensions.add(collection.dimension)
    if len(dimensions) > 1:
        raise ChromaFormatError(f"collection {collection.name!r}: embeddings of several "
                                f"dimensions {sorted(dimensions)}")
    dimension = dimensions.pop() if dimensions else None
    writer.collection(collection.tenant, collection.database, collection.name, collection.id,
                      collection.metadata, config, dimension,
                      embedding_functions.from_chroma_config(collection.config_json))
    writer.records(collection.name, collection.id, result.records, on_records)
    return CollectionReport(
        collection.tenant, collection.database, collection.name, collection.id,
        len(result.records), dimension, {k: config[k] for k in REPORTED_HNSW}, config_source,
        result.from_index, result.from_queue)


def run_import(source: Path, dest: Path,
               on_start: Callable[[int], None] | None = None,
               on_records: Callable[[int], None] | None = None) -> ImportReport:
    """Import; `on_start(total records)` then `on_records(n)` after each batch written."""
    started = time.monotonic()
    source, dest = Path(source).resolve(), Path(dest).resolve()
    check_destination(source, dest)
    with ChromaSqlite(source) as chroma:
        collections = chroma.collections()
        report = ImportReport(str(source), str(dest), _format(collections), chroma.tenants(),
                              [f"{t}/{d}" for t, d in chroma.databases()])
        if on_start is not None:
            on_start(sum(chroma.record_count(c.metadata_segment) for c in collections))
        building = atomic_install.temp_sibling(dest, "import")
        try:
            writer = SegmentdbWriter(building)
            try:
                for tenant in report.tenants:
                    writer.tenant(tenant)  # also those without databases
                for tenant, database in chroma.databases():
                    writer.scope(tenant, database)
                for collection in collections:
                    report.collections.append(
                        _import_collection(chroma, source, collection, writer, on_records))
            finally:
                writer.close()
            atomic_install.install(building, dest)  # dest: missing or empty (checked above)
        except BaseException:
            atomic_install.discard(building)
            raise
    report.seconds = round(time.monotonic() - started, 3)
    return report
