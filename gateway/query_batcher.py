"""Coalescing concurrent queries on one collection into one internal round of calls.

Under concurrent load most of a query's cost is fixed per internal call (gRPC's ~0.5 ms
round trip and Python's per-message work on both ends), not per query vector. So while a
collection's queries are in flight, the ones that arrive meanwhile wait and then go
together: one Search with all their vectors, one FetchRecords for the union of the labels
(group commit, applied to reads). A query that finds nothing in flight goes at once, so a
single client never waits for company.

Generic over the work: `run(items)` returns one outcome per item, in order, or raises (then
every item of that batch gets the error). At most MAX_IN_FLIGHT batches per key run at once;
when one finishes and queries are waiting, the first waiter's thread leads the next batch
(each thread runs batches only until its own query is answered, so nobody's answer waits
behind a stranger's batch for long).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, Hashable, Sequence, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

MAX_IN_FLIGHT = 2
MAX_BATCH = 64


class _Waiter(Generic[Item, Outcome]):
    __slots__ = ("item", "done", "promoted", "outcome", "error")

    def __init__(self, item: Item):
        self.item = item
        self.done = False
        self.promoted = False
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None


class _Key:
    __slots__ = ("waiting", "in_flight")

    def __init__(self):
        self.waiting: deque[_Waiter] = deque()
        self.in_flight = 0


class QueryBatcher(Generic[Item, Outcome]):
    def __init__(self, run: Callable[[Sequence[Item]], Sequence[Outcome]],
                 max_in_flight: int = MAX_IN_FLIGHT, max_batch: int = MAX_BATCH):
        self._run = run
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._keys: dict[Hashable, _Key] = {}
        self._changed = threading.Condition()

    def submit(self, key: Hashable, item: Item) -> Outcome:
        waiter: _Waiter = _Waiter(item)
        with self._changed:
            state = self._keys.setdefault(key, _Key())
            state.waiting.append(waiter)
            if state.in_flight < self._max_in_flight:
                state.in_flight += 1
                waiter.promoted = True
        while True:
            with self._changed:
                while not (waiter.done or waiter.promoted):
                    self._changed.wait()
                if waiter.done and not waiter.promoted:
                    break
                # Promoted: lead a batch (ours, or others' if another leader took ours).
                waiter.promoted = False
            self._lead(key, state)
        if waiter.error is not None:
            raise waiter.error
        return waiter.outcome  # type: ignore[return-value]

    def _lead(self, key: Hashable, state: _Key) -> None:
        """Run one batch of the key's waiting items, then hand the slot on or free it."""
        with self._changed:
            batch = [state.waiting.popleft()
                     for _ in range(min(self._max_batch, len(state.waiting)))]
        if batch:
            try:
                outcomes = self._run([waiter.item for waiter in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} gave {len(outcomes)} outcomes")
                for waiter, outcome in zip(batch, outcomes):
                    waiter.outcome = outcome
            except BaseException as exc:  # noqa: BLE001 - every member gets the error
                for waiter in batch:
                    waiter.error = exc
        with self._changed:
            for waiter in batch:
                waiter.done = True
            # Hand the slot to the first waiter not already holding one (its thread leads
            # the next batch); with none, free the slot.
            successor = next((w for w in state.waiting if not w.promoted), None)
            if successor is not None:
                successor.promoted = True
            else:
                state.in_flight -= 1
                if state.in_flight == 0 and self._keys.get(key) is state:
                    del self._keys[key]
            self._changed.notify_all()
