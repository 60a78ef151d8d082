"""Log retention: a collection's write-ahead log stays bounded even if no segment saves.

The log is otherwise purged only when a vector worker saves a segment (store_checkpoints),
and a segment is brought up to date only when it is queried or loaded. A collection that
is written to but never queried, or whose segment stays evicted, would keep every entry.

So after each acknowledged write the metadata worker checks the collection: once more than
`limit` entries remain after its purged_through, it purges all but the newest `limit // 2`
(so a busy collection purges once per `limit // 2` writes, not on every write) and raises
purged_through. With a collection that writes alone that is "through last seq - limit/2";
counting entries rather than sequence numbers keeps the promise when several collections'
writes interleave in the one sequence.

Correctness does not depend on a segment having seen what is purged: ReadLog reports
purged_through, and a vector worker whose segment (in memory or in its folder) is behind it
has missed entries and rebuilds from ScanVectors, a consistent snapshot of SQLite, which
holds every record. Purging early only costs that worker a rebuild, never a wrong answer.

The purge runs in its own short transaction after the write's transaction committed: the
write is already durable and acknowledged whatever happens here, so a failure is logged
and the next write tries again.
"""

from __future__ import annotations

import logging
import sqlite3

from metadata_worker import store_log
from metadata_worker.store import Store

log = logging.getLogger(__name__)


def _nth_newest(conn: sqlite3.Connection, collection_id: str, after: int, n: int) -> int | None:
    """The seq_id of the collection's (n+1)-th newest entry after `after` (n = 0: the newest),
    or None if it has no more than n entries there. Walks at most n+1 rows of the
    (collection_id, seq_id) index, from the newest down."""
    row = conn.execute(
        "SELECT seq_id FROM embeddings_log WHERE collection_id = ? AND seq_id > ? "
        "ORDER BY seq_id DESC LIMIT 1 OFFSET ?",
        (collection_id, after, n),
    ).fetchone()
    return row[0] if row else None


def headroom(conn: sqlite3.Connection, collection_id: str, limit: int) -> tuple[int, int]:
    """(log position, entries the collection may still log before it holds more than `limit`
    after its purged_through); the room is negative when it is over the limit."""
    purged = store_log.purged_through(conn, collection_id)
    position = store_log.position(conn, collection_id)
    # Sequence numbers are unique, so at most (position - purged) entries remain: a
    # collection that writes alone costs two index look-ups and no walk.
    if position - purged <= limit:
        return position, limit - (position - purged)
    (remaining,) = conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM embeddings_log WHERE collection_id = ? "
        "AND seq_id > ? ORDER BY seq_id DESC LIMIT ?)",
        (collection_id, purged, limit + 1),  # counting past limit + 1 would change nothing
    ).fetchone()
    return position, limit - remaining


def enforce(conn: sqlite3.Connection, collection_id: str, limit: int) -> int | None:
    """If the collection is over `limit`, purge all but its newest `limit // 2` entries and
    return the new purged_through; None if it was within the limit (nothing done)."""
    if headroom(conn, collection_id, limit)[1] >= 0:
        return None
    purged = store_log.purged_through(conn, collection_id)
    through = _nth_newest(conn, collection_id, purged, limit // 2)
    return store_log.purge(conn, collection_id, through)


class LogRetention:
    """Keeps each collection's log within `limit` entries after its writes (0: never; the
    log then waits for vector workers' checkpoints)."""

    # Forget the remembered checks past this many collections (deleted ones linger).
    MAX_REMEMBERED = 100_000

    def __init__(self, store: Store, limit: int):
        if limit < 0:
            raise ValueError(f"log retention {limit} is negative; pass 0 (keep entries until "
                             "segments are saved) or a number of entries")
        self.store = store
        self.limit = limit
        # collection id -> the log position before which it cannot be over the limit. From a
        # check at position P with room R, exceeding the limit takes R + 1 more entries of
        # the collection, and each has a sequence number above P. So writes that end below
        # P + R + 1 need no check: when collections interleave, counting their entries is a
        # walk of up to `limit` index rows, which this saves on nearly every write. A purge
        # by a checkpoint only lowers the count, so the bound stays safe; a restart forgets
        # it, which costs one check. Plain dict operations are atomic; a stale value from a
        # racing thread is still a sound bound, as each comes from one committed snapshot.
        self._next_check: dict[str, int] = {}

    def after_write(self, collection_id: str, log_sequence: int) -> int | None:
        """Call after a write to `collection_id` committed with `log_sequence` (its last
        entry, or the log position if it logged none). Returns the new purged_through if it
        purged, else None. Never raises: the write was already acknowledged."""
        if not self.limit or not collection_id:
            return None
        if log_sequence < self._next_check.get(collection_id, 0):
            return None
        try:
            # A read first, so the common case takes no write lock; `enforce` checks again
            # under it, as another write may have purged meanwhile.
            position, room = self.store.read(headroom, collection_id, self.limit)
            if room >= 0:
                if len(self._next_check) >= self.MAX_REMEMBERED:
                    self._next_check.clear()
                self._next_check[collection_id] = position + room + 1
                return None
            self._next_check.pop(collection_id, None)
            through = self.store.write(enforce, collection_id, self.limit)
        except Exception:  # noqa: BLE001 - logged; the next write to the collection retries
            log.exception("log retention: purging collection %s's log failed; the log keeps "
                          "its entries until a later write or a segment save purges them",
                          collection_id)
            return None
        if through is not None:
            log.info("log retention: collection %s had more than %d log entries; purged "
                     "through sequence %d (kept the newest %d; vector segments behind it "
                     "rebuild from SQLite)", collection_id, self.limit, through,
                     self.limit // 2)
        return through
