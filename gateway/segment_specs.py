"""What a gateway last learned about each collection's vector segment, to query in two hops.

A query needs the collection's SegmentSpec (which segment, dimension, HNSW settings) and its
log position (so the search sees every write acknowledged before the query). Asking the
metadata worker for them first (PrepareQuery) costs a full round trip on every query. The
gateway instead remembers both from earlier answers and searches at once; the FetchRecords
that follows returns the current spec and position from its snapshot, and the query checks
them (gateway.query). The cache is only a hint: a stale entry costs one more round trip,
never a wrong answer.

Bounded (least recently used dropped first) so a gateway in front of millions of collections
does not grow without limit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from segmentdb.internal.v1 import segment_pb2

DEFAULT_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Known:
    spec: segment_pb2.SegmentSpec
    # The highest log position seen for the collection (from reads and acknowledged writes).
    log_sequence: int


class SegmentSpecs:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES):
        self._max_entries = max_entries
        self._entries: OrderedDict[str, Known] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, collection_id: str) -> Known | None:
        with self._lock:
            known = self._entries.get(collection_id)
            if known is not None:
                self._entries.move_to_end(collection_id)
            return known

    def learn(self, collection_id: str, spec: segment_pb2.SegmentSpec, log_sequence: int) -> None:
        """Record a spec and position read from one metadata snapshot."""
        with self._lock:
            previous = self._entries.get(collection_id)
            # Positions only grow; answers from concurrent calls may arrive out of order.
            sequence = max(log_sequence, previous.log_sequence) if previous else log_sequence
            self._entries[collection_id] = Known(spec, sequence)
            self._entries.move_to_end(collection_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def wrote(self, collection_id: str, log_sequence: int) -> None:
        """An acknowledged write's position: the next search asks the worker to apply it."""
        with self._lock:
            previous = self._entries.get(collection_id)
            if previous is not None and log_sequence > previous.log_sequence:
                self._entries[collection_id] = Known(previous.spec, log_sequence)

    def forget(self, collection_id: str) -> None:
        with self._lock:
            self._entries.pop(collection_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
