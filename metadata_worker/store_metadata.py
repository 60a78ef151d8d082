"""Metadata rows: records' (embedding_metadata + embedding_metadata_array) and collections'.

Chroma's column layout: a value goes in the one column of its type (string_value,
int_value, float_value or bool_value as 0/1), so a bool is never an int and int/float
compare numerically in SQL. A key holds a scalar (embedding_metadata) or a list (one
row per element in embedding_metadata_array), never both.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from typing import Iterable

from metadata_worker.domain import DELETE


def _columns(value) -> tuple:
    """(string_value, int_value, float_value, bool_value) of one scalar."""
    if isinstance(value, bool):
        return (None, None, None, int(value))
    if isinstance(value, int):
        return (None, value, None, None)
    if isinstance(value, float):
        return (None, None, value, None)
    return (value, None, None, None)


def _value(string_value, int_value, float_value, bool_value):
    if string_value is not None:
        return string_value
    if int_value is not None:
        return int_value
    if float_value is not None:
        return float(float_value)
    return bool(bool_value)


def _labels_param(labels: Iterable[int]) -> str:
    return json.dumps(list(labels))


# -- records ----------------------------------------------------------------------------------

def insert(conn: sqlite3.Connection, segment_id: str,
           items: Iterable[tuple[int, dict | None]]) -> None:
    """Metadata of new records of one METADATA segment: [(label, metadata)]. DELETE values
    are simply left out. Each row carries the segment, which is what filters scan by."""
    scalars = []
    arrays = []
    for label, metadata in items:
        for key, value in (metadata or {}).items():
            if value is DELETE:
                continue
            if isinstance(value, list):
                arrays.extend((label, segment_id, key, pos, *_columns(v))
                              for pos, v in enumerate(value))
            else:
                scalars.append((label, segment_id, key, *_columns(value)))
    if scalars:
        conn.executemany(
            "INSERT INTO embedding_metadata (id, segment_id, key, string_value, int_value, "
            "float_value, bool_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            scalars,
        )
    if arrays:
        conn.executemany(
            "INSERT INTO embedding_metadata_array (id, segment_id, key, position, "
            "string_value, int_value, float_value, bool_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            arrays,
        )


def merge(conn: sqlite3.Connection, segment_id: str,
          items: Iterable[tuple[int, dict | None]]) -> None:
    """Update existing records key by key: a given key is replaced, DELETE removes it."""
    items = [(label, metadata) for label, metadata in items if metadata]
    touched = [(label, key) for label, metadata in items for key in metadata]
    if not touched:
        return
    conn.executemany("DELETE FROM embedding_metadata WHERE id = ? AND key = ?", touched)
    conn.executemany("DELETE FROM embedding_metadata_array WHERE id = ? AND key = ?", touched)
    insert(conn, segment_id, items)


def read(conn: sqlite3.Connection, labels: list[int]) -> dict[int, dict]:
    """{label: metadata} for the labels that have any metadata."""
    out: dict[int, dict] = defaultdict(dict)
    if not labels:
        return out
    param = _labels_param(labels)
    for label, key, s, i, f, b in conn.execute(
        "SELECT id, key, string_value, int_value, float_value, bool_value "
        "FROM embedding_metadata WHERE id IN (SELECT value FROM json_each(?))",
        (param,),
    ):
        out[label][key] = _value(s, i, f, b)
    for label, key, s, i, f, b in conn.execute(
        "SELECT id, key, string_value, int_value, float_value, bool_value "
        "FROM embedding_metadata_array WHERE id IN (SELECT value FROM json_each(?)) "
        "ORDER BY id, key, position",
        (param,),
    ):
        out[label].setdefault(key, []).append(_value(s, i, f, b))
    return out


# -- collections ------------------------------------------------------------------------------

def write_collection_metadata(conn: sqlite3.Connection, collection_id: str,
                              metadata: dict | None) -> None:
    """Replace a collection's metadata (scalars only; convert.py rejects lists)."""
    conn.execute("DELETE FROM collection_metadata WHERE collection_id = ?", (collection_id,))
    rows = [(collection_id, key, *_columns(value)) for key, value in (metadata or {}).items()
            if value is not DELETE]
    if rows:
        conn.executemany(
            "INSERT INTO collection_metadata "
            "(collection_id, key, string_value, int_value, float_value, bool_value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def read_collection_metadata(conn: sqlite3.Connection, collection_id: str) -> dict | None:
    rows = conn.execute(
        "SELECT key, string_value, int_value, float_value, bool_value "
        "FROM collection_metadata WHERE collection_id = ? ORDER BY key",
        (collection_id,),
    ).fetchall()
    return {key: _value(s, i, f, b) for key, s, i, f, b in rows} or None
