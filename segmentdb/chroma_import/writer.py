"""Write imported collections into a segmentdb data folder through the metadata worker's store.

In-process: `metadata_worker.store.Store` opens (and migrates) `<data>/chroma.sqlite3` under
its folder lock, and every write below is one of its own transaction functions
(store_collections.create_tenant / create_database / create_collection / set_dimension,
store_records.add), so the folder is exactly what a metadata worker would have written for
the same API calls, log entries included. No index files are written: vector workers build
each segment from SQLite on first load (the index folder is derived).

Every value is first checked with the gateway's own rules (segmentdb.wire + gateway.validation,
the code that checks API requests), so an import never stores what segmentdb would refuse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gateway import validation
from metadata_worker import store_collections, store_records
from metadata_worker.domain import DEFAULT_DATABASE, DEFAULT_TENANT, RecordWrite
from metadata_worker.store import Store
from segmentdb import errors, wire
from segmentdb.chroma_import import ChromaFormatError
from segmentdb.chroma_import.replay import FinalRecord

BATCH_RECORDS = 1000  # records per transaction


def _checked(what: str, check) -> None:
    try:
        check()
    except errors.SegmentDBError as exc:
        raise ChromaFormatError(f"{what}: segmentdb cannot store it: {exc.message}") from None


class SegmentdbWriter:
    """An open segmentdb folder being filled; close() releases it."""

    def __init__(self, path: Path):
        self.store = Store(path)
        self._scopes = {(DEFAULT_TENANT, DEFAULT_DATABASE)}
        self._tenants = {DEFAULT_TENANT}

    def close(self) -> None:
        self.store.close()

    def tenant(self, tenant: str) -> None:
        """Create the tenant unless it exists."""
        _checked(f"tenant {tenant!r}", lambda: validation.tenant_name(tenant, default=False))
        if tenant not in self._tenants:
            self.store.write(store_collections.create_tenant, tenant)
            self._tenants.add(tenant)

    def scope(self, tenant: str, database: str) -> None:
        """Create the tenant and database unless they exist."""
        self.tenant(tenant)
        _checked(f"database {database!r}",
                 lambda: validation.database_name(database, default=False))
        if (tenant, database) not in self._scopes:
            self.store.write(store_collections.create_database, tenant, database)
            self._scopes.add((tenant, database))

    def collection(self, tenant: str, database: str, name: str, collection_id: str,
                   metadata: dict | None, hnsw: dict, dimension: int | None,
                   embedding_function: dict | None = None) -> None:
        where = f"collection {tenant}/{database}/{name}"
        _checked(where, lambda: validation.collection_name(name))
        _checked(f"{where} metadata", lambda: validation.metadata(
            wire.metadata_to_proto(metadata, "metadata"), "metadata", allow_null=False))
        self.scope(tenant, database)
        self.store.write(store_collections.create_collection, tenant, database, name,
                         metadata, hnsw, False, collection_id, embedding_function)
        if dimension:
            self.store.write(store_collections.set_dimension, collection_id, dimension)

    def records(self, collection_name: str, collection_id: str, records: list[FinalRecord],
                on_written=None) -> None:
        """Add the records in batches, each batch one transaction, in the given order."""
        for start in range(0, len(records), BATCH_RECORDS):
            batch = records[start:start + BATCH_RECORDS]
            ids = [r.id for r in batch]
            _checked(f"collection {collection_name!r} ids", lambda: validation.record_ids(
                ids, required=True))
            for r in batch:
                _checked(f"collection {collection_name!r} record {r.id!r} metadata",
                         lambda r=r: validation.metadata(
                             wire.metadata_to_proto(r.metadata, "metadata"), "metadata",
                             allow_null=False, record=True))
            vectors = np.stack([r.vector for r in batch]).astype(np.float32, copy=False)
            if not np.isfinite(vectors).all():
                bad = next(r.id for r in batch if not np.isfinite(r.vector).all())
                raise ChromaFormatError(f"collection {collection_name!r} record {bad!r}: the "
                                        "embedding holds NaN or infinity")
            write = RecordWrite(ids=ids, vectors=vectors,
                                documents=[r.document for r in batch],
                                metadatas=[r.metadata for r in batch])
            _, inserted = self.store.write(store_records.add, collection_id, write)
            if inserted != len(batch):
                raise ChromaFormatError(f"collection {collection_name!r}: {len(batch) - inserted}"
                                        " duplicate record ids")
            if on_written is not None:
                on_written(len(batch))
