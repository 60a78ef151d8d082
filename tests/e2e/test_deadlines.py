"""A client's deadline through the gateway to the metadata worker: a write that runs out of
time is answered DEADLINE_EXCEEDED and leaves all of it or none of it (docs/internals.md,
"Deadlines"); a deadline too short for the request to even arrive stores nothing."""

from __future__ import annotations

import time

import grpc
import numpy as np

from segmentdb import vectors
from segmentdb.v1 import record_service_pb2 as rs
from segmentdb.v1 import record_service_pb2_grpc as rs_grpc

N, DIMENSION = 10_000, 128  # a 5 MiB request: far more than a millisecond on the wire


def _add(channel, collection, rng, timeout: float) -> grpc.StatusCode:
    request = rs.AddRecordsRequest(
        collection_id=str(collection.id), ids=[f"r{i}" for i in range(N)],
        embeddings=vectors.encode(rng.random((N, DIMENSION), np.float32)))
    try:
        rs_grpc.RecordServiceStub(channel).AddRecords(request, timeout=timeout)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err
        return err.code()
    return grpc.StatusCode.OK


def _counts(collection, seconds: float = 1.0) -> set[int]:
    """Every count seen over `seconds` (a write still committing would show up here)."""
    seen, until = set(), time.monotonic() + seconds
    while time.monotonic() < until:
        seen.add(collection.count())
        time.sleep(0.05)
    return seen


def test_a_tiny_deadline_on_a_large_add_stores_nothing(service, make_collection, rng):
    collection = make_collection()
    with grpc.insecure_channel(service.address) as channel:
        assert _add(channel, collection, rng, timeout=0.001) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert _counts(collection) == {0}
    # The collection is not damaged: the same add with time enough stores everything.
    with grpc.insecure_channel(service.address) as channel:
        assert _add(channel, collection, rng, timeout=60) == grpc.StatusCode.OK
    assert collection.count() == N


def test_deadlines_around_the_write_time_leave_all_or_nothing(service, make_collection, rng):
    """Deadlines from "cannot arrive" to "ample", the middle ones fractions of the measured
    time of the same write, so some expire while the metadata worker's transaction runs."""
    outcomes = []

    def attempt(i: int, timeout: float) -> str:
        collection = make_collection(f"-{i}")
        started = time.monotonic()
        code = _add(channel, collection, rng, timeout)
        took = time.monotonic() - started
        seen = _counts(collection, seconds=0.5)
        outcomes.append((round(timeout, 3), code.name, sorted(seen)))
        if code == grpc.StatusCode.OK:
            assert seen == {N}, outcomes
        else:  # rolled back, or committed just as the deadline passed: never a part
            assert seen <= {0, N}, outcomes
        return took

    with grpc.insecure_channel(service.address) as channel:
        ample = attempt(0, 60)
        for i, fraction in enumerate([0.25, 0.5, 0.75, 0.9, 1.1], start=1):
            attempt(i, ample * fraction)
        attempt(9, 0.02)
    print("deadline outcomes:", outcomes)
    assert outcomes[0][1] == "OK" and outcomes[-1][1] == "DEADLINE_EXCEEDED", outcomes
