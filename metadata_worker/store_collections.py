"""Tenants, databases, collections and their segments (functions of a connection).

Run them through Store.read / Store.write. Empty tenant or database names mean
default_tenant / default_database.
"""

from __future__ import annotations

import json
import sqlite3
import uuid

from segmentdb import embedding_functions, errors

from metadata_worker import collection_config, store_fulltext, store_metadata
from metadata_worker.domain import (
    DEFAULT_DATABASE, DEFAULT_TENANT, METADATA_SCOPE, METADATA_SEGMENT_TYPE, VECTOR_SCOPE,
    VECTOR_SEGMENT_TYPE, Collection, Database,
)

# One row per collection with everything a Collection needs, its segments included.
_COLLECTION_SELECT = """
SELECT c.id, c.name, d.tenant_id, d.name, d.id, c.config_json, c.dimension,
       (SELECT id FROM segments WHERE collection = c.id AND scope = 'METADATA'),
       (SELECT id FROM segments WHERE collection = c.id AND scope = 'VECTOR'),
       c.embedding_function_json
FROM collections c JOIN databases d ON d.id = c.database_id
"""


def _tenant(name: str) -> str:
    return name or DEFAULT_TENANT


def _database(name: str) -> str:
    return name or DEFAULT_DATABASE


def _no_limit(limit: int) -> int:
    return limit if limit > 0 else -1  # SQLite: LIMIT -1 is unlimited


# -- tenants -----------------------------------------------------------------------------------

def create_tenant(conn: sqlite3.Connection, name: str) -> str:
    if not name:
        raise errors.InvalidArgumentError("name: the tenant name must not be empty")
    try:
        conn.execute("INSERT INTO tenants (id) VALUES (?)", (name,))
    except sqlite3.IntegrityError:
        raise errors.UniqueConstraintError(f"tenant {name!r} already exists") from None
    return name


def get_tenant(conn: sqlite3.Connection, name: str) -> str:
    name = _tenant(name)
    if conn.execute("SELECT 1 FROM tenants WHERE id = ?", (name,)).fetchone() is None:
        raise errors.NotFoundError(f"tenant {name!r} does not exist; create it first")
    return name


# -- databases ---------------------------------------------------------------------------------

def create_database(conn: sqlite3.Connection, tenant: str, name: str) -> Database:
    tenant = get_tenant(conn, tenant)
    if not name:
        raise errors.InvalidArgumentError("name: the database name must not be empty")
    db = Database(str(uuid.uuid4()), name, tenant)
    try:
        conn.execute("INSERT INTO databases (id, name, tenant_id) VALUES (?, ?, ?)",
                     (db.id, db.name, db.tenant))
    except sqlite3.IntegrityError:
        raise errors.UniqueConstraintError(
            f"database {name!r} already exists in tenant {tenant!r}"
        ) from None
    return db


def get_database(conn: sqlite3.Connection, tenant: str, name: str) -> Database:
    tenant, name = _tenant(tenant), _database(name)
    row = conn.execute("SELECT id FROM databases WHERE tenant_id = ? AND name = ?",
                       (tenant, name)).fetchone()
    if row is None:
        get_tenant(conn, tenant)  # a missing tenant is the better message
        raise errors.NotFoundError(f"database {name!r} does not exist in tenant {tenant!r}")
    return Database(row[0], name, tenant)


def list_databases(conn: sqlite3.Connection, tenant: str, limit: int, offset: int) -> list[Database]:
    tenant = get_tenant(conn, tenant)
    rows = conn.execute(
        "SELECT id, name FROM databases WHERE tenant_id = ? ORDER BY rowid LIMIT ? OFFSET ?",
        (tenant, _no_limit(limit), offset),
    ).fetchall()
    return [Database(r[0], r[1], tenant) for r in rows]


def delete_database(conn: sqlite3.Connection, tenant: str, name: str) -> list[str]:
    """Deletes the database and its collections; returns the vector segment ids removed."""
    db = get_database(conn, tenant, name)
    removed = []
    for (collection_id,) in conn.execute(
        "SELECT id FROM collections WHERE database_id = ? ORDER BY rowid", (db.id,)
    ).fetchall():
        removed.extend(_delete_collection_rows(conn, collection_id))
    conn.execute("DELETE FROM databases WHERE id = ?", (db.id,))
    return removed


def reset_all(conn: sqlite3.Connection) -> list[str]:
    """Chroma's reset: every collection (records, log, segments), every database but
    default_tenant's default_database and every tenant but default_tenant, in the caller's
    one transaction. Returns the vector segment ids removed."""
    removed = []
    for (collection_id,) in conn.execute("SELECT id FROM collections ORDER BY rowid").fetchall():
        removed.extend(_delete_collection_rows(conn, collection_id))
    conn.execute("DELETE FROM databases WHERE NOT (tenant_id = ? AND name = ?)",
                 (DEFAULT_TENANT, DEFAULT_DATABASE))
    conn.execute("DELETE FROM tenants WHERE id != ?", (DEFAULT_TENANT,))
    return removed


# -- collections -------------------------------------------------------------------------------

def _from_row(conn: sqlite3.Connection, row) -> Collection:
    return Collection(
        id=row[0], name=row[1], tenant=row[2], database=row[3], database_id=row[4],
        metadata=store_metadata.read_collection_metadata(conn, row[0]),
        hnsw=json.loads(row[5]), dimension=row[6],
        metadata_segment_id=row[7], vector_segment_id=row[8],
        embedding_function=json.loads(row[9]) if row[9] is not None else None,
    )


def create_collection(conn: sqlite3.Connection, tenant: str, database: str, name: str,
                      metadata: dict | None, hnsw: dict,
                      get_or_create: bool, collection_id: str | None = None,
                      embedding_function: dict | None = None,
                      ) -> tuple[Collection, bool]:
    """(collection, created). With get_or_create an existing collection is returned as is.
    `collection_id` keeps a given id (import-chroma keeps Chroma's); default a new UUID.
    `embedding_function`: the checked spec (segmentdb.embedding_functions) to record; None
    records the default function, as Chroma does."""
    if not name:
        raise errors.InvalidCollectionNameError("name: the collection name must not be empty")
    db = get_database(conn, tenant, database)
    existing = conn.execute(
        _COLLECTION_SELECT + " WHERE c.database_id = ? AND c.name = ?", (db.id, name)
    ).fetchone()
    if existing is not None:
        if get_or_create:
            return _from_row(conn, existing), False
        raise errors.UniqueConstraintError(
            f"collection {name!r} already exists in {db.tenant}/{db.name}; use get_or_create "
            "or pick another name"
        )
    if collection_id is None:
        collection_id = str(uuid.uuid4())
    elif conn.execute("SELECT 1 FROM collections WHERE id = ?", (collection_id,)).fetchone():
        raise errors.UniqueConstraintError(f"collection id {collection_id!r} already exists")
    if embedding_function is None:
        embedding_function = embedding_functions.default_spec()
    conn.execute(
        "INSERT INTO collections (id, name, database_id, dimension, config_json, "
        "embedding_function_json) VALUES (?, ?, ?, NULL, ?, ?)",
        (collection_id, name, db.id, json.dumps(hnsw, sort_keys=True),
         json.dumps(embedding_function, sort_keys=True)),
    )
    conn.executemany(
        "INSERT INTO segments (id, type, scope, collection) VALUES (?, ?, ?, ?)",
        [(str(uuid.uuid4()), METADATA_SEGMENT_TYPE, METADATA_SCOPE, collection_id),
         (str(uuid.uuid4()), VECTOR_SEGMENT_TYPE, VECTOR_SCOPE, collection_id)],
    )
    store_metadata.write_collection_metadata(conn, collection_id, metadata)
    return get_collection_by_id(conn, collection_id), True


def get_collection_by_id(conn: sqlite3.Connection, collection_id: str) -> Collection:
    row = conn.execute(_COLLECTION_SELECT + " WHERE c.id = ?", (collection_id,)).fetchone()
    if row is None:
        raise errors.NotFoundError(
            f"collection_id: collection {collection_id!r} does not exist (deleted?)"
        )
    return _from_row(conn, row)


def get_collection_by_name(conn: sqlite3.Connection, tenant: str, database: str,
                           name: str) -> Collection:
    db = get_database(conn, tenant, database)
    row = conn.execute(_COLLECTION_SELECT + " WHERE c.database_id = ? AND c.name = ?",
                       (db.id, name)).fetchone()
    if row is None:
        raise errors.NotFoundError(
            f"collection {name!r} does not exist in {db.tenant}/{db.name}"
        )
    return _from_row(conn, row)


def list_collections(conn: sqlite3.Connection, tenant: str, database: str,
                     limit: int, offset: int) -> list[Collection]:
    db = get_database(conn, tenant, database)
    rows = conn.execute(
        _COLLECTION_SELECT + " WHERE c.database_id = ? ORDER BY c.rowid LIMIT ? OFFSET ?",
        (db.id, _no_limit(limit), offset),
    ).fetchall()
    return [_from_row(conn, r) for r in rows]


def list_every_collection(conn: sqlite3.Connection, after_rowid: int,
                          limit: int) -> list[tuple[int, Collection]]:
    """(rowid, collection) of every tenant's and database's collections after `after_rowid`,
    in creation order: what maintenance walks, a page at a time."""
    rows = conn.execute("SELECT rowid, id FROM collections WHERE rowid > ? ORDER BY rowid "
                        "LIMIT ?", (after_rowid, _no_limit(limit))).fetchall()
    return [(rowid, get_collection_by_id(conn, collection_id)) for rowid, collection_id in rows]


def count_collections(conn: sqlite3.Connection, tenant: str, database: str) -> int:
    db = get_database(conn, tenant, database)
    return conn.execute("SELECT COUNT(*) FROM collections WHERE database_id = ?",
                        (db.id,)).fetchone()[0]


def modify_collection(conn: sqlite3.Connection, collection_id: str, new_name: str | None,
                      new_metadata: dict | None, replace_metadata: bool,
                      requested_hnsw: dict,
                      embedding_function: dict | None = None) -> Collection:
    """Rename, replace the metadata (when `replace_metadata`), change mutable HNSW params,
    record another embedding function (a checked spec; None keeps the current one)."""
    current = get_collection_by_id(conn, collection_id)
    new_hnsw = collection_config.resolve_modify(
        current.hnsw, requested_hnsw, new_metadata if replace_metadata else None)
    if new_name is not None and new_name != current.name:
        taken = conn.execute("SELECT 1 FROM collections WHERE database_id = ? AND name = ?",
                             (current.database_id, new_name)).fetchone()
        if taken:
            raise errors.UniqueConstraintError(
                f"new_name: collection {new_name!r} already exists in "
                f"{current.tenant}/{current.database}; pick another name"
            )
        conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new_name, collection_id))
    if replace_metadata:
        store_metadata.write_collection_metadata(conn, collection_id, new_metadata)
    if new_hnsw != current.hnsw:
        conn.execute("UPDATE collections SET config_json = ? WHERE id = ?",
                     (json.dumps(new_hnsw, sort_keys=True), collection_id))
    if embedding_function is not None and embedding_function != current.embedding_function:
        _check_function_dimension(current, embedding_function)
        conn.execute("UPDATE collections SET embedding_function_json = ? WHERE id = ?",
                     (json.dumps(embedding_function, sort_keys=True), collection_id))
    return get_collection_by_id(conn, collection_id)


def _check_function_dimension(current: Collection, spec: dict) -> None:
    """A function whose vectors could never be stored in this collection is refused."""
    function = embedding_functions.function_of(spec)
    if function and current.dimension is not None and current.dimension != function.dimension:
        raise errors.FailedPreconditionError(
            f"new_configuration.embedding_function: {function.name!r} makes "
            f"{function.dimension}-dimensional vectors but the collection holds "
            f"{current.dimension}-dimensional ones; keep the current function, or create a "
            "new collection for it")


def delete_collection(conn: sqlite3.Connection, tenant: str, database: str,
                      name: str) -> list[str]:
    """Deletes the collection, its records and log; returns its vector segment id."""
    collection = get_collection_by_name(conn, tenant, database, name)
    return _delete_collection_rows(conn, collection.id)


def _delete_collection_rows(conn: sqlite3.Connection, collection_id: str) -> list[str]:
    vector_ids = [r[0] for r in conn.execute(
        "SELECT id FROM segments WHERE collection = ? AND scope = ?",
        (collection_id, VECTOR_SCOPE),
    ).fetchall()]
    for (segment_id,) in conn.execute(
        "SELECT id FROM segments WHERE collection = ? AND scope = ?",
        (collection_id, METADATA_SCOPE),
    ).fetchall():
        store_fulltext.delete_segment(conn, segment_id)
    # Records and their metadata go by ON DELETE CASCADE; the log has no foreign key.
    conn.execute("DELETE FROM embeddings_log WHERE collection_id = ?", (collection_id,))
    conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
    return vector_ids


def record_count(conn: sqlite3.Connection, collection_id: str) -> int:
    """Live records of the collection (0 if it does not exist): collections.record_count,
    which the record writes keep exact in their own transactions (migration 0003)."""
    row = conn.execute("SELECT record_count FROM collections WHERE id = ?",
                       (collection_id,)).fetchone()
    return row[0] if row else 0


def add_to_record_count(conn: sqlite3.Connection, collection_id: str, delta: int) -> None:
    """Called by every write that inserts (delta > 0) or deletes (delta < 0) records, in
    its transaction."""
    if delta:
        conn.execute("UPDATE collections SET record_count = record_count + ? WHERE id = ?",
                     (delta, collection_id))


def set_dimension(conn: sqlite3.Connection, collection_id: str, dimension: int) -> None:
    conn.execute("UPDATE collections SET dimension = ? WHERE id = ? AND dimension IS NULL",
                 (dimension, collection_id))
