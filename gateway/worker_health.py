"""Which vector workers are up, as this gateway sees them.

A worker is marked down when a call to it fails at the transport (UNAVAILABLE without an
answer from the worker) or when it stops answering health checks while a call is pending
(a hung process, e.g. SIGSTOPped: gateway.hang_watch). Calls skip down workers: the segment goes to the next
worker in rendezvous order. A background thread health-checks each down worker every
`PROBE_INTERVAL_SECONDS` and marks it up again when it answers SERVING, so ownership goes
back to it by itself.

Liveness is a grpc.health.v1 Check with a short timeout, separate from the call it guards:
a worker that is busy (a cold load or a rebuild can take many seconds) still answers it from
another server thread, so slow calls are never cut short; a hung worker does not.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)

# How often the background thread health-checks a worker marked down.
PROBE_INTERVAL_SECONDS = 0.5
# How long one health check may take before it counts as unanswered.
PROBE_TIMEOUT_SECONDS = 1.0
# A liveness answer this recent is reused by concurrent callers instead of asking again.
PROBE_REUSE_SECONDS = 0.5


class WorkerHealth:
    """Up/down state of the vector workers, with a prober that brings workers back."""

    def __init__(self, channels: dict[str, grpc.Channel]):
        self._health_stubs = {address: health_pb2_grpc.HealthStub(channel)
                              for address, channel in channels.items()}
        self._lock = threading.Lock()
        self._down: dict[str, str] = {}  # address -> why it was marked down
        # address -> (monotonic time of the last answer, alive?)
        self._last_probe: dict[str, tuple[float, bool]] = {}
        self._probe_locks = {address: threading.Lock() for address in channels}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe_down_workers,
                                        name="vector-worker-prober", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ state

    def is_down(self, address: str) -> bool:
        with self._lock:
            return address in self._down

    def down_workers(self) -> dict[str, str]:
        with self._lock:
            return dict(self._down)

    def mark_down(self, address: str, reason: str) -> None:
        with self._lock:
            newly = address not in self._down
            self._down[address] = reason
        if newly:
            log.warning("vector worker %s marked down (%s); its segments go to the next "
                        "worker in rendezvous order until it answers health checks", address,
                        reason)

    def mark_up(self, address: str) -> None:
        with self._lock:
            was_down = self._down.pop(address, None) is not None
        if was_down:
            log.info("vector worker %s is SERVING again; it serves its segments again", address)

    def order(self, ranked: Sequence[str]) -> list[str]:
        """`ranked` (rendezvous order) with up workers first, down ones last.

        Down workers stay in the list: when every worker is down we still try them rather
        than fail without trying (the marks may be stale).
        """
        with self._lock:
            down = set(self._down)
        return [a for a in ranked if a not in down] + [a for a in ranked if a in down]

    # ------------------------------------------------------------ liveness

    def alive(self, address: str) -> bool:
        """Does the worker answer a health check with SERVING within PROBE_TIMEOUT_SECONDS?

        Concurrent callers share one check per worker (a hung worker would otherwise get
        one check per pending call).
        """
        with self._probe_locks[address]:
            last = self._last_probe.get(address)
            if last is not None and time.monotonic() - last[0] < PROBE_REUSE_SECONDS:
                return last[1]
            answer = self._check(address)
            self._last_probe[address] = (time.monotonic(), answer)
            return answer

    def _check(self, address: str) -> bool:
        try:
            response = self._health_stubs[address].Check(
                health_pb2.HealthCheckRequest(service=""), timeout=PROBE_TIMEOUT_SECONDS)
        except grpc.RpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def _probe_down_workers(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL_SECONDS):
            for address in self.down_workers():
                if self._check(address):
                    self.mark_up(address)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT_SECONDS + 1)
