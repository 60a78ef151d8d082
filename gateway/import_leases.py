"""One live stream per import: a resumed import waits for the stream it replaces.

A client that dies mid-import (or cancels) leaves the gateway's relay for that stream
running until the chunk it is committing returns from the metadata worker. A second stream
with the same import id that read the import's progress during that commit would report a
`committed_records` one chunk short and then resend the chunk — which the worker answers
`already_committed`, so nothing is written twice, but the resumed import's accounting
(`resumed_from`, `inserted`) would depend on timing. So each stream holds a lease on
(collection, import id) from its start to its end; the lease of a cancelled stream is given
up as soon as the RPC is over AND no chunk of it is being committed, and no chunk of it
starts committing after the RPC is over (one may still have been read from the client's
stream, as the cancellation arrives). The next stream of the
import waits for it, then reads the progress. The wait is bounded (by the new stream's
deadline and WAIT_SECONDS): a stream whose connection vanished silently holds its lease
until keepalive notices, and the import must not fail for that — after the bound the new
stream takes the lease over, and the worker's `already_committed` answers keep it exact.

This is one gateway's view: two gateways relaying the same import at once are not ordered
by it (the worker's per-chunk transaction still keeps the data exact).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from segmentdb import errors

# How long a new stream waits for the stream it replaces: one chunk's commit, with a wide
# margin for a busy disk.
WAIT_SECONDS = 15.0


class _Lease:
    __slots__ = ("ended", "committing")

    def __init__(self) -> None:
        self.ended = False       # the RPC is over (finished, failed or cancelled)
        self.committing = False  # a chunk of this stream is in the metadata worker


class ImportLeases:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: dict[tuple[str, str], _Lease] = {}

    def acquire(self, collection_id: str, import_id: str,
                wait_seconds: Optional[float]) -> "_Lease":
        key = (collection_id, import_id)
        limit = WAIT_SECONDS if wait_seconds is None else min(WAIT_SECONDS, wait_seconds)
        give_up = time.monotonic() + limit
        with self._changed:
            while key in self._held:
                left = give_up - time.monotonic()
                if left <= 0:
                    break  # take it over: the old stream's release no longer matches
                self._changed.wait(left)
            lease = _Lease()
            self._held[key] = lease
            return lease

    def end(self, collection_id: str, import_id: str, lease: "_Lease") -> None:
        """The RPC is over (called from its termination callback or its own finally)."""
        with self._changed:
            lease.ended = True
            self._release_if_idle(collection_id, import_id, lease)

    @contextmanager
    def committing(self, collection_id: str, import_id: str, lease: "_Lease") -> Iterator[None]:
        """Around one chunk's commit. A chunk read after its RPC ended is not committed:
        the next stream may already have read the progress without it."""
        with self._changed:
            if lease.ended:
                raise errors.CancelledError(
                    f"import_id {import_id!r}: the stream ended before this chunk was "
                    f"committed; the resumed import sends it again")
            lease.committing = True
        try:
            yield
        finally:
            with self._changed:
                lease.committing = False
                self._release_if_idle(collection_id, import_id, lease)

    def _release_if_idle(self, collection_id: str, import_id: str, lease: "_Lease") -> None:
        key = (collection_id, import_id)
        if lease.ended and not lease.committing and self._held.get(key) is lease:
            del self._held[key]
            self._changed.notify_all()
