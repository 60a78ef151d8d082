"""Client threads that write continuously and keep a ledger of what was acknowledged.

Each writer owns its ids (prefix `w<n>-`), so its ledger alone says what they must hold:
  - an acknowledged call (returned without error) is applied to `state`;
  - a failed call is kept as a FailedBatch with the state before and the state it would
    have produced; its ids are frozen (never written again), so after the run SQLite must
    show, for every failed batch, either all of `after` or all of `before` — never a mix.
Calls are never retried: a retry would blur which of the two states a batch left.

Read-your-writes is checked on the way: after an acknowledged add to an exact-path
collection, querying one of the added vectors must return that id first (distance ~0).
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

import segmentdb


@dataclass(frozen=True)
class Record:
    vector: np.ndarray  # float32
    document: str
    metadata: dict

    def same_as(self, vector: np.ndarray, document, metadata) -> bool:
        return (np.asarray(vector, dtype=np.float32).tobytes() == self.vector.tobytes()
                and document == self.document and metadata == self.metadata)


@dataclass
class FailedBatch:
    kind: str  # add | upsert | delete
    collection: str
    before: dict  # id -> Record | None
    after: dict  # id -> Record | None
    error: str


@dataclass
class Ledger:
    state: dict = field(default_factory=dict)  # (collection, id) -> Record (acknowledged, live)
    frozen: set = field(default_factory=set)  # (collection, id) touched by a failed call
    failed: list = field(default_factory=list)
    acknowledged: int = 0
    queries_ok: int = 0
    queries_failed: int = 0
    read_your_writes_violations: list = field(default_factory=list)


class Writer(threading.Thread):
    """Writes until `target` calls were acknowledged, `stop` is set, or `deadline` passes."""

    def __init__(self, number: int, address: str, collections: list[str], dimension: int,
                 target: int, stop: threading.Event, exact_collections: set[str],
                 deadline_s: float = 120.0, batch: int = 10):
        super().__init__(name=f"writer-{number}", daemon=True)
        self.number = number
        self.address = address
        self.collection_names = collections
        self.dimension = dimension
        self.target = target
        self.stop_event = stop
        self.exact_collections = exact_collections
        self.deadline = time.monotonic() + deadline_s
        self.batch = batch
        self.rng = np.random.default_rng(1000 + number)
        self.ledger = Ledger()
        self.next_id = 0
        self.version = 0
        self.crash: str | None = None  # a bug in the writer itself, reported by the test

    # ----- records -----------------------------------------------------------------

    def _record(self, uid: str) -> Record:
        self.version += 1
        v = self.version
        vector = self.rng.standard_normal(self.dimension).astype(np.float32)
        metadata = {"writer": self.number, "version": v, "tag": f"t{v % 7}",
                    "score": float(v) / 3.0, "flag": v % 2 == 0}
        return Record(vector, f"writer {self.number} id {uid} version {v}", metadata)

    def _own_live(self, collection: str) -> list[str]:
        return [uid for (c, uid) in self.ledger.state
                if c == collection and (c, uid) not in self.ledger.frozen]

    # ----- the loop ----------------------------------------------------------------

    def run(self) -> None:
        try:
            client = segmentdb.Client(self.address, timeout=15.0)
            try:
                self._loop(client)
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - surfaced by the test through self.crash
            self.crash = traceback.format_exc()

    def _loop(self, client) -> None:
        handles: dict[str, object] = {}
        while (self.ledger.acknowledged < self.target and not self.stop_event.is_set()
               and time.monotonic() < self.deadline):
            name = self.collection_names[int(self.rng.integers(len(self.collection_names)))]
            try:
                if name not in handles:
                    handles[name] = client.get_collection(name)
            except segmentdb.errors.SegmentDBError:
                time.sleep(0.05)
                continue
            collection = handles[name]
            roll = self.rng.random()
            live = self._own_live(name)
            if roll < 0.6 or len(live) < 5:
                ok = self._write_add(collection, name)
            elif roll < 0.85:
                ok = self._write_upsert(collection, name, live)
            else:
                ok = self._write_delete(collection, name, live)
            if not ok:
                time.sleep(0.05)  # the service is restarting a process: don't spin

    def _call(self, kind: str, name: str, before: dict, after: dict, call) -> bool:
        try:
            call()
        except segmentdb.errors.SegmentDBError as exc:
            self.ledger.failed.append(FailedBatch(kind, name, before, after, repr(exc)))
            self.ledger.frozen.update((name, uid) for uid in before)
            return False
        self.ledger.acknowledged += 1
        for uid, record in after.items():
            if record is None:
                self.ledger.state.pop((name, uid), None)
            else:
                self.ledger.state[(name, uid)] = record
        return True

    def _write_add(self, collection, name: str) -> bool:
        ids = [f"w{self.number}-{self.next_id + i}" for i in range(self.batch)]
        self.next_id += self.batch
        records = {uid: self._record(uid) for uid in ids}
        ok = self._call("add", name, dict.fromkeys(ids), records, lambda: collection.add(
            ids=ids, embeddings=np.stack([r.vector for r in records.values()]),
            documents=[r.document for r in records.values()],
            metadatas=[r.metadata for r in records.values()]))
        if ok and name in self.exact_collections:
            self._check_read_your_write(collection, ids[-1], records[ids[-1]])
        return ok

    def _write_upsert(self, collection, name: str, live: list[str]) -> bool:
        chosen = [str(uid) for uid in self.rng.choice(live, size=min(5, len(live)), replace=False)]
        before = {uid: self.ledger.state[(name, uid)] for uid in chosen}
        after = {uid: self._record(uid) for uid in chosen}
        return self._call("upsert", name, before, after, lambda: collection.upsert(
            ids=chosen, embeddings=np.stack([r.vector for r in after.values()]),
            documents=[r.document for r in after.values()],
            metadatas=[r.metadata for r in after.values()]))

    def _write_delete(self, collection, name: str, live: list[str]) -> bool:
        chosen = [str(uid) for uid in self.rng.choice(live, size=min(3, len(live)), replace=False)]
        before = {uid: self.ledger.state[(name, uid)] for uid in chosen}
        return self._call("delete", name, before, dict.fromkeys(chosen),
                          lambda: collection.delete(ids=chosen))

    def _check_read_your_write(self, collection, uid: str, record: Record) -> None:
        try:
            got = collection.query(query_embeddings=record.vector[None, :], n_results=1,
                                   include=["distances"])
        except segmentdb.errors.SegmentDBError:
            self.ledger.queries_failed += 1
            return
        self.ledger.queries_ok += 1
        if got["ids"][0][:1] != [uid]:
            self.ledger.read_your_writes_violations.append(
                f"{uid}: acknowledged add, then query of its vector returned {got['ids'][0]} "
                f"at {got['distances'][0]}")


def expected_state(writers: list[Writer], name: str, stored_by_id: dict,
                   base: dict | None = None) -> tuple[dict, list[str]]:
    """What `name` must hold (id -> Record): `base` (written before the writers started) plus
    the ledgers and, for each failed batch, whichever of before/after SQLite shows. Also
    returns the failed batches that are half applied."""
    expected: dict = dict(base or {})
    for writer in writers:
        for (collection, uid), record in writer.ledger.state.items():
            if collection == name:
                expected[uid] = record
    half_applied: list[str] = []
    for writer in writers:
        for batch in writer.ledger.failed:
            if batch.collection != name:
                continue
            applied = {uid: _matches(stored_by_id.get(uid), batch.after[uid]) for uid in batch.after}
            absent = {uid: _matches(stored_by_id.get(uid), batch.before[uid]) for uid in batch.before}
            if all(applied.values()):
                outcome = batch.after
            elif all(absent.values()):
                outcome = batch.before
            else:
                half_applied.append(f"{batch.kind} {sorted(batch.after)} ({batch.error}): "
                                    f"applied {applied}, unapplied {absent}")
                continue
            for uid, record in outcome.items():
                if record is None:
                    expected.pop(uid, None)
                else:
                    expected[uid] = record
    return expected, half_applied


def _matches(stored, record: Record | None) -> bool:
    if record is None:
        return stored is None
    return stored is not None and record.same_as(*stored)
