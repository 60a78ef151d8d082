"""The full-text index (embedding_fulltext_search, FTS5 trigram) kept in step with documents.

Called by the record writers inside their transaction, so the index changes exactly
when the documents do. Its only reader is filters.py's `$contains` pre-filter.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Iterable


def insert(conn: sqlite3.Connection, rows: Iterable[tuple[int, str | None]]) -> None:
    """Index [(label, document)] of new records; None documents are not indexed."""
    conn.executemany(
        "INSERT INTO embedding_fulltext_search (rowid, document) VALUES (?, ?)",
        [(label, doc) for label, doc in rows if doc is not None],
    )


def replace(conn: sqlite3.Connection, rows: list[tuple[int, str]]) -> None:
    """New documents of existing records."""
    if not rows:
        return
    delete(conn, [label for label, _ in rows])
    insert(conn, rows)


def delete(conn: sqlite3.Connection, labels: list[int]) -> None:
    if labels:
        conn.execute(
            "DELETE FROM embedding_fulltext_search WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(labels),),
        )


def delete_segment(conn: sqlite3.Connection, metadata_segment_id: str) -> None:
    """Every indexed document of one collection (before its records are deleted)."""
    conn.execute(
        "DELETE FROM embedding_fulltext_search "
        "WHERE rowid IN (SELECT id FROM embeddings WHERE segment_id = ?)",
        (metadata_segment_id,),
    )
