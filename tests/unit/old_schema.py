"""Collections written the way schema versions before 0006 wrote them, for the migration
tests that build old databases (today's store_collections writes today's columns)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass

from metadata_worker import collection_config
from metadata_worker.domain import (DEFAULT_DATABASE, DEFAULT_TENANT, METADATA_SCOPE,
                                    METADATA_SEGMENT_TYPE, VECTOR_SCOPE, VECTOR_SEGMENT_TYPE)


@dataclass(frozen=True)
class OldCollection:
    id: str
    metadata_segment_id: str
    vector_segment_id: str


def create_collection(conn: sqlite3.Connection, name: str) -> OldCollection:
    """A collection of the default database with the default HNSW configuration."""
    (database_id,) = conn.execute("SELECT id FROM databases WHERE tenant_id = ? AND name = ?",
                                  (DEFAULT_TENANT, DEFAULT_DATABASE)).fetchone()
    made = OldCollection(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    conn.execute("INSERT INTO collections (id, name, database_id, dimension, config_json) "
                 "VALUES (?, ?, ?, NULL, ?)",
                 (made.id, name, database_id,
                  json.dumps(collection_config.resolve_create({}, None), sort_keys=True)))
    conn.executemany("INSERT INTO segments (id, type, scope, collection) VALUES (?, ?, ?, ?)",
                     [(made.metadata_segment_id, METADATA_SEGMENT_TYPE, METADATA_SCOPE, made.id),
                      (made.vector_segment_id, VECTOR_SEGMENT_TYPE, VECTOR_SCOPE, made.id)])
    return made
