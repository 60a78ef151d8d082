"""What every process agrees on about maintenance: the vacuum's rebuild threshold and how a
data folder's disk use is measured.

A vector segment's index keeps each deleted entry's slot (hnswlib's mark_deleted leaves the
vector and its graph links in place, and the saved file holds them). A vacuum rebuilds a
segment from SQLite once deleted entries make up DEFAULT_MIN_DELETED_FRACTION (20%) of its
index: below that a rebuild - a full re-indexing of the live vectors - costs more than the
space it returns, and search quality is unaffected (deleted entries still route the graph).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

DEFAULT_MIN_DELETED_FRACTION = 0.2
DB_FILENAME = "chroma.sqlite3"
WAL_SUFFIX = "-wal"
INDEX_DIR = "index"


def check_min_deleted_fraction(value: float, field: str = "min_deleted_fraction") -> float:
    """`value` if it is a fraction in (0, 1], else InvalidArgumentError naming `field`."""
    # Imported here: the CLI reads this module's constants while parsing `segmentdb serve`,
    # which must not import grpc (through errors) before it starts its children.
    from segmentdb import errors

    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) \
            or not 0.0 < value <= 1.0:
        raise errors.InvalidArgumentError(
            f"{field}: {value!r} is not a fraction in (0, 1]; e.g. 0.2 rebuilds indexes "
            "whose entries are at least 20% deleted")
    return float(value)


def deleted_fraction(live: int, deleted: int) -> float:
    """deleted / (live + deleted); 0 for an empty index."""
    total = live + deleted
    return deleted / total if total else 0.0


def tree_bytes(path: str | Path) -> int:
    """Bytes of the files under `path` (0 if it does not exist), not following links."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # removed while we walked (a save's temp file)
                pass
    return total


def database_bytes(db_path: str | Path) -> int:
    """A SQLite file plus its -wal file (the -shm index holds no data)."""
    total = 0
    for path in (str(db_path), str(db_path) + WAL_SUFFIX):
        try:
            total += os.stat(path).st_size
        except FileNotFoundError:  # no -wal file between a TRUNCATE checkpoint and a write
            pass
    return total


def sqlite_bytes(data_path: str | Path) -> int:
    """<data>/chroma.sqlite3 plus its -wal file."""
    return database_bytes(Path(data_path) / DB_FILENAME)


def index_bytes(data_path: str | Path) -> int:
    """Every vector segment folder under <data>/index/ together."""
    return tree_bytes(Path(data_path) / INDEX_DIR)
