"""gateway.query_batcher: concurrent submits on one key share batches; answers and errors
reach the right callers; a lone submit runs at once, alone."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from gateway.query_batcher import QueryBatcher


def test_a_lone_query_runs_at_once_in_a_batch_of_its_own():
    seen = []
    batcher = QueryBatcher(lambda items: seen.append(list(items)) or [i * 10 for i in items])
    assert batcher.submit("c", 4) == 40
    assert seen == [[4]]


def _run_concurrently(batcher, submissions):
    results, errors = {}, {}

    def call(key, item):
        try:
            results[(key, item)] = batcher.submit(key, item)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            errors[(key, item)] = exc

    threads = [threading.Thread(target=call, args=s) for s in submissions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads), "a submit never returned"
    return results, errors


def test_queries_arriving_during_a_batch_go_together_in_the_next():
    release = threading.Event()
    batches = []

    def run(items):
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(5)  # hold the first batch while the others arrive
        return [item + 1 for item in items]

    batcher = QueryBatcher(run, max_in_flight=1)
    first = threading.Thread(target=lambda: batcher.submit("c", 0))
    first.start()
    while not batches:
        time.sleep(0.001)
    waiting = [threading.Thread(target=batcher.submit, args=("c", i)) for i in range(1, 9)]
    for thread in waiting:
        thread.start()
    while len(batcher._keys["c"].waiting) < 8:
        time.sleep(0.001)
    release.set()
    first.join(5)
    for thread in waiting:
        thread.join(5)
    assert batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 9)) and len(batches) == 2
    assert batcher._keys == {}  # nothing left behind


def test_an_error_reaches_every_member_of_its_batch_and_no_other():
    def run(items):
        time.sleep(0.01)
        if any(item < 0 for item in items):
            raise ValueError(f"bad batch {sorted(items)}")
        return list(items)

    batcher = QueryBatcher(run)
    results, errors = _run_concurrently(batcher, [("ok", i) for i in range(10)] + [("bad", -1)])
    assert {key for key, _ in errors} == {"bad"}
    assert all(results[("ok", i)] == i for i in range(10))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 1000)), min_size=1,
                max_size=40),
       st.integers(1, 3), st.integers(1, 5))
def test_every_submit_gets_its_own_answer(submissions, in_flight, max_batch):
    calls = []

    def run(items):
        calls.append(len(items))
        time.sleep(0.001)
        return [("answer", item) for item in items]

    batcher = QueryBatcher(run, max_in_flight=in_flight, max_batch=max_batch)
    results, errors = _run_concurrently(batcher, submissions)
    assert not errors
    for key, item in submissions:
        assert results[(key, item)] == ("answer", item)
    assert max(calls) <= max_batch
    assert batcher._keys == {}


def test_outcome_count_mismatch_is_an_error_not_a_hang():
    batcher = QueryBatcher(lambda items: [])
    with pytest.raises(RuntimeError, match="gave 0 outcomes"):
        batcher.submit("c", 1)
