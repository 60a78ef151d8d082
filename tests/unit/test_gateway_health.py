"""The gateway's view of vector-worker health, against real in-process gRPC servers.

A tiny server with a "Wait" method (sleeps as long as asked) and, optionally, grpc.health.v1
stands in for a worker: with health it is a busy-but-alive worker; without health it is a
hung one (its health checks never answer SERVING).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.worker_health import (
    PROBE_INTERVAL_SECONDS,
    WorkerHealth,
    WorkerHungError,
    wait_guarded,
)

WAIT_METHOD = "/test.Sleeper/Wait"


class FakeWorker:
    """A real gRPC server: Wait(seconds as ascii bytes) -> b"done"; health optional."""

    def __init__(self, with_health: bool = True):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler("test.Sleeper", {
            "Wait": grpc.unary_unary_rpc_method_handler(self._wait),
        })
        self.server.add_generic_rpc_handlers((handler,))
        self.health = health.HealthServicer()
        if with_health:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
            self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self.server.start()

    @staticmethod
    def _wait(request: bytes, context) -> bytes:
        time.sleep(float(request.decode()))
        return b"done"

    def stop(self) -> None:
        self.server.stop(0).wait()


@pytest.fixture()
def worker():
    started = FakeWorker()
    yield started
    started.stop()


def _wait_call(channel: grpc.Channel):
    return channel.unary_unary(WAIT_METHOD)


def test_order_puts_down_workers_last_but_keeps_them():
    channels = {a: grpc.insecure_channel(a) for a in ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]}
    tracker = WorkerHealth(channels)
    try:
        ranked = list(channels)
        assert tracker.order(ranked) == ranked
        tracker.mark_down("127.0.0.1:1", "test")
        assert tracker.order(ranked) == ["127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:1"]
        for address in ranked:
            tracker.mark_down(address, "test")
        # Every worker down: still every worker, in rendezvous order (try rather than fail).
        assert tracker.order(ranked) == ranked
    finally:
        tracker.close()
        for channel in channels.values():
            channel.close()


def test_a_down_worker_is_marked_up_once_it_answers_serving(worker):
    channel = grpc.insecure_channel(worker.address)
    tracker = WorkerHealth({worker.address: channel})
    try:
        worker.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        tracker.mark_down(worker.address, "test")
        time.sleep(PROBE_INTERVAL_SECONDS * 3)
        assert tracker.is_down(worker.address)  # NOT_SERVING keeps it down
        worker.health.set("", health_pb2.HealthCheckResponse.SERVING)
        deadline = time.monotonic() + 5
        while tracker.is_down(worker.address) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tracker.is_down(worker.address)
    finally:
        tracker.close()
        channel.close()


def test_a_slow_call_on_a_live_worker_is_not_cut_short(worker):
    channel = grpc.insecure_channel(worker.address)
    tracker = WorkerHealth({worker.address: channel})
    try:
        future = _wait_call(channel).future(b"2.5")
        wait_guarded(future, lambda: tracker.alive(worker.address), probe_after=0.5,
                     failed_probes_allowed=2)
        assert future.result() == b"done"
    finally:
        tracker.close()
        channel.close()


def test_a_call_on_a_hung_worker_is_cancelled_after_failed_checks():
    hung = FakeWorker(with_health=False)  # health never answers SERVING
    channel = grpc.insecure_channel(hung.address)
    tracker = WorkerHealth({hung.address: channel})
    try:
        future = _wait_call(channel).future(b"30")
        started = time.monotonic()
        with pytest.raises(WorkerHungError):
            wait_guarded(future, lambda: tracker.alive(hung.address), probe_after=0.5,
                         failed_probes_allowed=2)
        assert time.monotonic() - started < 5
        assert future.cancelled() or future.done()
    finally:
        tracker.close()
        channel.close()
        hung.stop()


def test_a_failed_call_returns_at_once_for_the_caller_to_read():
    channel = grpc.insecure_channel("127.0.0.1:1")  # nothing listens there
    tracker = WorkerHealth({"127.0.0.1:1": channel})
    try:
        future = _wait_call(channel).future(b"0")
        wait_guarded(future, lambda: tracker.alive("127.0.0.1:1"), probe_after=0.5,
                     failed_probes_allowed=2)
        with pytest.raises(grpc.RpcError) as info:
            future.result()
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        tracker.close()
        channel.close()


def test_concurrent_liveness_checks_share_one_probe(worker):
    channel = grpc.insecure_channel(worker.address)
    tracker = WorkerHealth({worker.address: channel})
    calls = []
    original = tracker._check

    def counting(address):
        calls.append(address)
        return original(address)

    tracker._check = counting
    try:
        threads = [threading.Thread(target=tracker.alive, args=(worker.address,))
                   for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1
    finally:
        tracker.close()
        channel.close()
