"""The final records of one Chroma collection: metadata segment + index files + queue.

Chroma keeps each collection in three places that move at different times:

- the METADATA segment (tables embeddings/embedding_metadata) is written in the same call as
  every write and records `max_seq_id`: it is the truth for which ids exist, their documents
  and metadata, up to that sequence;
- the VECTOR segment's hnswlib files and index_metadata.pickle are rewritten only every
  `sync_threshold` writes (and, in 0.5.x, only for whole batches of `batch_size`): they hold
  the vectors as of the segment's `max_seq_id`, and nothing at all for a collection that
  never reached the threshold;
- `embeddings_queue`, the log, holds every write not yet applied by *all* segments (Chroma
  purges entries below the smallest max_seq_id), vectors included.

So: start from the metadata segment, replay queue entries after its max_seq_id with the
metadata segment's rules (a folder left by a crash may have some); start the vectors from
the index files, replay queue entries after the vector segment's max_seq_id with the vector
segment's rules. A record deleted in either place is gone, whatever older copies say.

Exact bits: where the queue still holds the entry that last wrote a record's vector, its
float32 bytes are used (a cosine index keeps only normalized vector x length, which can
differ from what was written in the last bit). 0.5.x pickles name that entry
(id_to_seq_id); for the others the index copy is what Chroma itself would return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmentdb.chroma_import import ChromaFormatError
from segmentdb.chroma_import.chroma_sqlite import (
    ADD, DELETE, DOCUMENT_KEY, UPDATE, UPSERT, ChromaRecord, QueueEntry,
)
from segmentdb.chroma_import.hnsw_files import IndexFiles
from segmentdb.chroma_import.safe_pickle import IndexMetadata


@dataclass
class FinalRecord:
    id: str
    document: str | None
    metadata: dict | None
    vector: np.ndarray  # float32


@dataclass
class Replayed:
    records: list[FinalRecord]
    from_index: int   # vectors taken from the hnswlib files
    from_queue: int   # vectors taken from embeddings_queue (exact written bits)


def _merge(record: ChromaRecord, metadata: dict | None) -> None:
    """Chroma's update rule: each given key replaces, a None value removes the key;
    "chroma:document" is the document."""
    for key, value in (metadata or {}).items():
        if key == DOCUMENT_KEY:
            record.document = value
        elif value is None:
            record.metadata.pop(key, None)
        else:
            record.metadata[key] = value


def replay_metadata(records: list[ChromaRecord], queue: list[QueueEntry],
                    applied_through: int | None) -> list[ChromaRecord]:
    """The live records after the queue entries the metadata segment had not applied."""
    live = {r.id: r for r in records}
    for entry in queue:
        if applied_through is not None and entry.seq <= applied_through:
            continue
        existing = live.get(entry.id)
        if entry.operation == DELETE:
            live.pop(entry.id, None)
        elif existing is not None and entry.operation in (UPDATE, UPSERT):
            _merge(existing, entry.metadata)
        elif existing is None and entry.operation in (ADD, UPSERT):
            fresh = ChromaRecord(entry.id, None, {})
            _merge(fresh, entry.metadata)
            live[entry.id] = fresh
        # ADD of an existing id and UPDATE of an unknown id are ignored, as Chroma does.
    return list(live.values())


def index_vectors(index: IndexFiles | None, metadata: IndexMetadata | None
                  ) -> dict[str, np.ndarray]:
    """id -> vector of the persisted index (elements marked deleted are left out)."""
    if index is None or metadata is None:
        return {}
    # hnswlib's own rule when it loads: a label seen twice belongs to the later element.
    position = {int(label): i for i, label in enumerate(index.labels)}
    out = {}
    for record_id, label in metadata.id_to_label.items():
        i = position.get(label)
        if i is not None and not index.deleted[i]:
            out[record_id] = index.vectors[i]
    return out


def replay(collection_name: str, records: list[ChromaRecord], queue: list[QueueEntry],
           metadata_applied_through: int | None, index: IndexFiles | None,
           metadata: IndexMetadata | None, vector_applied_through: int | None) -> Replayed:
    live = replay_metadata(records, queue, metadata_applied_through)
    vectors = index_vectors(index, metadata)
    exact: set[str] = set()
    by_seq = {e.seq: e for e in queue}
    for record_id, seq in (metadata.id_to_seq_id if metadata else {}).items():
        entry = by_seq.get(seq)
        if record_id in vectors and entry is not None and entry.id == record_id \
                and entry.vector is not None:
            vectors[record_id] = entry.vector
            exact.add(record_id)
    for entry in queue:
        if vector_applied_through is not None and entry.seq <= vector_applied_through:
            continue
        present = entry.id in vectors
        if entry.operation == DELETE:
            vectors.pop(entry.id, None)
            exact.discard(entry.id)
        elif entry.vector is None:
            continue  # a metadata-only write
        elif entry.operation == UPSERT or (entry.operation == ADD and not present) \
                or (entry.operation == UPDATE and present):
            vectors[entry.id] = entry.vector
            exact.add(entry.id)
    out, missing = [], []
    for record in live:
        vector = vectors.get(record.id)
        if vector is None:
            missing.append(record.id)
            continue
        out.append(FinalRecord(record.id, record.document, record.metadata or None,
                               np.asarray(vector, np.float32)))
    if missing:
        raise ChromaFormatError(
            f"collection {collection_name!r}: {len(missing)} record(s) have no embedding in the "
            f"index files or in embeddings_queue (e.g. {missing[0]!r}); the folder is "
            "incomplete (was an index folder deleted or copied while Chroma was writing?)"
        )
    from_queue = sum(1 for r in out if r.id in exact)
    return Replayed(out, len(out) - from_queue, from_queue)
