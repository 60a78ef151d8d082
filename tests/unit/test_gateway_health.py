"""The gateway's view of vector-worker health and its hang watch, against real in-process
gRPC servers.

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

from gateway.hang_watch import HangWatch, WorkerChannel
from gateway.worker_health import PROBE_INTERVAL_SECONDS, WorkerHealth

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


class Watched:
    """A WorkerChannel to `address` under a HangWatch (period 0.5 s, 2 failed checks), with
    health checks over a channel of its own, as the gateway wires them."""

    def __init__(self, address: str):
        self.worker = WorkerChannel(address, [])
        self.health_channel = grpc.insecure_channel(address)
        self.tracker = WorkerHealth({address: self.health_channel})
        self.hung_reports: list[str] = []
        self.watch = HangWatch({address: self.worker}, self.tracker.alive,
                               lambda _address, why: self.hung_reports.append(why),
                               period=0.5, failed_allowed=2)

    def wait(self, seconds: str) -> tuple[bytes | None, grpc.RpcError | None, bool]:
        """A blocking Wait call through the watched channel: (answer, error, hung?)."""
        with self.worker.call() as pending:
            try:
                return _wait_call(pending.channel)(seconds.encode()), None, pending.hung()
            except grpc.RpcError as err:
                return None, err, pending.hung()

    def close(self) -> None:
        self.watch.close()
        self.tracker.close()
        self.worker.close()
        self.health_channel.close()


def test_a_slow_call_on_a_live_worker_is_not_cut_short(worker):
    watched = Watched(worker.address)
    try:
        answer, error, hung = watched.wait("2.5")  # five watch periods, health answering
        assert (answer, error, hung) == (b"done", None, False)
        assert watched.hung_reports == []
    finally:
        watched.close()


def test_a_call_on_a_hung_worker_is_ended_after_failed_checks():
    hung_worker = FakeWorker(with_health=False)  # health never answers SERVING
    watched = Watched(hung_worker.address)
    try:
        started = time.monotonic()
        answer, error, hung = watched.wait("30")
        assert time.monotonic() - started < 5
        assert answer is None and hung
        assert error.code() == grpc.StatusCode.CANCELLED
        assert len(watched.hung_reports) == 1 and "2 health checks" in watched.hung_reports[0]
        # The replacement channel works: a short call goes through (and is not hung).
        assert watched.wait("0") == (b"done", None, False)
    finally:
        watched.close()
        hung_worker.stop()


def test_a_failed_call_returns_at_once_for_the_caller_to_read():
    watched = Watched("127.0.0.1:1")  # nothing listens there
    try:
        started = time.monotonic()
        answer, error, hung = watched.wait("0")
        assert time.monotonic() - started < 2
        assert answer is None and not hung and error.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        watched.close()


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
