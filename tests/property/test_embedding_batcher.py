"""The embedding pool's batcher (gateway.embedding_pool.EmbeddingPool._next_batch), as a
state machine: requests of random sizes arrive between batches, batches are taken and
answered in any order. Invariants: no batch holds more than max_batch texts or mixes
functions; every text of every request goes into exactly one batch, in its request's order;
a request waiting when a batch is built gets at least one text into it when there is room
for everyone (a query is never starved by an import); every request finishes.

Pure scheduling logic, run on the real class without its processes (nothing is embedded).
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.embedding_pool import EmbeddingPool, _Request


class BatcherMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.pool = None
        self.requests: list[_Request] = []
        self.batched: dict[int, list[int]] = {}   # request index -> text positions batched
        self.open_batches: list[list[tuple[_Request, int, int]]] = []

    @rule(max_batch=st.integers(1, 16))
    @precondition(lambda self: self.pool is None)
    def start(self, max_batch):
        self.pool = EmbeddingPool(processes=1, threads=1, max_batch=max_batch)

    @rule(size=st.integers(1, 40), function=st.sampled_from(["default", "other"]))
    @precondition(lambda self: self.pool is not None)
    def arrive(self, size, function):
        texts = [f"r{len(self.requests)}t{i}" for i in range(size)]
        request = _Request(function, texts, np.zeros((size, 1), "<f4"))
        self.requests.append(request)
        self.batched[len(self.requests) - 1] = []
        self.pool._waiting.append(request)

    @rule()
    @precondition(lambda self: self.pool is not None and self.pool._waiting)
    def take_batch(self):
        waiting_same = [r for r in self.pool._waiting if r.function == self.pool._waiting[0].function]
        batch = self.pool._next_batch()
        assert batch, "a batch from a non-empty queue is never empty"
        assert sum(end - start for _, start, end in batch) <= self.pool.max_batch
        assert len({request.function for request, _, _ in batch}) == 1
        if len(waiting_same) <= self.pool.max_batch:
            assert {id(r) for r in waiting_same} == {id(r) for r, _, _ in batch}
        for request, start, end in batch:
            index = next(i for i, r in enumerate(self.requests) if r is request)
            self.batched[index].extend(range(start, end))
        self.open_batches.append(batch)

    @rule(data=st.data())
    @precondition(lambda self: self.open_batches)
    def answer(self, data):
        batch = self.open_batches.pop(data.draw(st.integers(0, len(self.open_batches) - 1)))
        for request, start, end in batch:
            request.pending -= end - start

    @invariant()
    def every_text_once_in_order(self):
        for index, positions in self.batched.items():
            assert positions == list(range(len(positions))), positions
            assert self.requests[index].next_text == len(positions)

    @invariant()
    def finished_means_all_batched_and_answered(self):
        for index, request in enumerate(self.requests):
            if request.finished():
                assert len(self.batched[index]) == len(request.texts) and request.pending == 0
            if request.next_text < len(request.texts):
                assert request in self.pool._waiting

    def teardown(self):
        # Drain: everything left is batched and answered, and then every request is done.
        while self.pool is not None and self.pool._waiting:
            self.take_batch()
        while self.open_batches:
            for request, start, end in self.open_batches.pop():
                request.pending -= end - start
        assert all(request.finished() for request in self.requests)


BatcherMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                            deadline=None)
TestBatcher = BatcherMachine.TestCase
