"""Rendezvous hashing: stable, balanced, minimal movement when the worker set changes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter

import pytest

from gateway.routing import parse_workers, preferred_worker, rank_workers, score

WORKERS = ["10.0.0.1:7001", "10.0.0.2:7001", "10.0.0.3:7001"]
SEGMENTS = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(3000)]


def test_ranking_is_a_permutation_of_the_workers():
    for segment in SEGMENTS[:50]:
        assert sorted(rank_workers(segment, WORKERS)) == sorted(WORKERS)


def test_ranking_ignores_the_order_workers_are_listed_in():
    for segment in SEGMENTS[:200]:
        assert rank_workers(segment, WORKERS) == rank_workers(segment, list(reversed(WORKERS)))


def test_scores_are_stable_across_processes():
    # Python's hash() is salted per process; the route must not be.
    code = ("from gateway.routing import rank_workers; "
            f"print([rank_workers(s, {WORKERS!r})[0] for s in {SEGMENTS[:20]!r}])")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, env={"PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([rank_workers(s, WORKERS)[0] for s in SEGMENTS[:20]])


def test_known_value_pins_the_hash_function():
    # A change of hash function would move every segment between releases; catch it here.
    assert score("a:1", "seg") == 15018401955994776577
    assert rank_workers("00000000-0000-0000-0000-000000000001", WORKERS) == [
        "10.0.0.2:7001", "10.0.0.3:7001", "10.0.0.1:7001"]


def test_balance_over_three_workers():
    counts = Counter(preferred_worker(segment, WORKERS) for segment in SEGMENTS)
    assert set(counts) == set(WORKERS)
    expected = len(SEGMENTS) / len(WORKERS)
    for worker, count in counts.items():
        assert abs(count - expected) < 0.1 * expected, (worker, counts)


def test_removing_a_worker_moves_only_its_segments():
    removed = WORKERS[1]
    remaining = [w for w in WORKERS if w != removed]
    moved = 0
    for segment in SEGMENTS:
        before = rank_workers(segment, WORKERS)
        after = rank_workers(segment, remaining)
        if before[0] != removed:
            assert after[0] == before[0]
        else:
            moved += 1
            # The segment goes to the worker that was next in line: the failover target.
            assert after[0] == before[1]
    assert 0.25 * len(SEGMENTS) < moved < 0.42 * len(SEGMENTS)


def test_adding_a_worker_takes_about_a_quarter():
    added = WORKERS + ["10.0.0.4:7001"]
    moved = [s for s in SEGMENTS if preferred_worker(s, WORKERS) != preferred_worker(s, added)]
    assert all(preferred_worker(s, added) == "10.0.0.4:7001" for s in moved)
    assert 0.18 * len(SEGMENTS) < len(moved) < 0.32 * len(SEGMENTS)


def test_no_workers_is_an_error():
    with pytest.raises(ValueError):
        preferred_worker("seg", [])


def test_named_workers_are_ranked_by_name_not_address():
    # serve's sockets move to a new temp folder every start; the owner must not move.
    first = {"unix:/tmp/a1/vw-1.sock": "vector-worker-1", "unix:/tmp/a1/vw-2.sock": "vector-worker-2"}
    again = {"unix:/tmp/b7/vw-1.sock": "vector-worker-1", "unix:/tmp/b7/vw-2.sock": "vector-worker-2"}
    moved_by_address = 0
    for segment in SEGMENTS[:300]:
        before = first[rank_workers(segment, list(first), first)[0]]
        after = again[rank_workers(segment, list(again), again)[0]]
        assert before == after
        moved_by_address += (first[rank_workers(segment, list(first))[0]]
                             != again[rank_workers(segment, list(again))[0]])
    assert moved_by_address > 50  # what hashing the addresses did: about half moved


def test_parse_workers_reads_names_and_plain_addresses():
    addresses, names = parse_workers(" vw-1=unix:/tmp/x/a.sock, 10.0.0.2:7001 ,"
                                     "unix:/tmp/odd=name.sock")
    assert addresses == ("unix:/tmp/x/a.sock", "10.0.0.2:7001", "unix:/tmp/odd=name.sock")
    assert names == {"unix:/tmp/x/a.sock": "vw-1", "10.0.0.2:7001": "10.0.0.2:7001",
                     "unix:/tmp/odd=name.sock": "unix:/tmp/odd=name.sock"}


def test_a_name_without_an_address_is_refused():
    with pytest.raises(ValueError, match="--vector-workers: 'vw-1=' names a worker"):
        parse_workers("vw-1=")
