"""Read Chroma's `index_metadata.pickle` without letting it run code.

A pickle is a program: its GLOBAL/STACK_GLOBAL opcodes name any importable callable (such as
`os.system`) and REDUCE calls it. Every such name goes through `Unpickler.find_class` (the
extension-registry opcodes too), so a subclass whose find_class answers only for an exact
allow-list, and raises for everything else, cannot be made to import or call anything.
Persistent ids (PERSID) are refused by the base class already.

What the real files contain:
- chromadb 0.5.x (Python): an instance of
  `chromadb.segment.impl.vector.local_persistent_hnsw.PersistentData` (protocol 5: NEWOBJ of
  that class, then BUILD with a dict of plain ints, strings and dicts). The one allowed
  global maps to `_PersistentData` below, an empty class, so building it sets attributes
  and nothing else.
- chromadb 1.x (Rust, serde-pickle): a plain dict, protocol 3, no globals at all.

Both carry `id_to_label` (record id -> hnswlib label), `label_to_id`, `id_to_seq_id`
(0.5.x: the log sequence of the write that set each vector; empty in 1.x), `dimensionality`,
`total_elements_added` and `max_seq_id` (a legacy field).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

from segmentdb.chroma_import import ChromaFormatError

FILENAME = "index_metadata.pickle"


class UnsafePickleError(ChromaFormatError):
    """The pickle names a global outside the allow-list; nothing was imported or run."""


class _PersistentData:
    """Stand-in for chromadb's PersistentData: takes no arguments, holds what BUILD sets."""

    __slots__ = ("__dict__",)


_ALLOWED = {
    ("chromadb.segment.impl.vector.local_persistent_hnsw", "PersistentData"): _PersistentData,
}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            raise UnsafePickleError(
                f"{self._source}: refusing to load: the pickle references {module}.{name}, "
                "which a Chroma index_metadata.pickle never contains (only "
                "chromadb...PersistentData or no class at all); the file may be tampered "
                "with. Nothing from it was run."
            )
        return allowed


@dataclass(frozen=True)
class IndexMetadata:
    id_to_label: dict[str, int]
    id_to_seq_id: dict[str, int]
    max_seq_id: int | None  # legacy; the max_seq_id table is what Chroma reads first


def loads(data: bytes, source: str = "<bytes>") -> object:
    """Unpickle with the allow-list (raises UnsafePickleError, ChromaFormatError)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a damaged file
        raise ChromaFormatError(f"{source}: not a readable pickle ({exc})") from None


def read(path: Path) -> IndexMetadata:
    """The id <-> label map of one vector segment, checked for the expected shape."""
    source = str(path)
    loaded = loads(path.read_bytes(), source)
    fields = loaded.__dict__ if isinstance(loaded, _PersistentData) else loaded
    if not isinstance(fields, dict) or not isinstance(fields.get("id_to_label"), dict):
        raise ChromaFormatError(
            f"{source}: expected Chroma's index metadata (a PersistentData object or a dict "
            f"with id_to_label), got {type(loaded).__name__}"
        )
    id_to_label = fields["id_to_label"]
    id_to_seq_id = fields.get("id_to_seq_id") or {}
    max_seq_id = fields.get("max_seq_id")
    for name, mapping in (("id_to_label", id_to_label), ("id_to_seq_id", id_to_seq_id)):
        if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and type(v) is int for k, v in mapping.items()):
            raise ChromaFormatError(f"{source}: {name} is not a map of string ids to integers")
    if max_seq_id is not None and type(max_seq_id) is not int:
        raise ChromaFormatError(f"{source}: max_seq_id is not an integer")
    return IndexMetadata(dict(id_to_label), dict(id_to_seq_id), max_seq_id)
