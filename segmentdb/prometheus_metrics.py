"""Prometheus metrics of a segmentdb process: the RPC metrics every server records, the
process's own collectors (segment cache, log, SQLite), and the HTTP endpoint that serves them.

Imported only when the process serves metrics (segmentdb.metrics.enable): prometheus-client
costs ~30 ms of import per process, paid four times over by every cold start of `segmentdb
serve`, for an endpoint that is off unless --metrics-port is given.

Names follow go-grpc-prometheus (`grpc_server_handled_total{grpc_service, grpc_method,
grpc_code, grpc_type}` and friends), so existing gRPC dashboards and alerts work unchanged.
Values a process already keeps (the segment cache's counters, the log length) are read at
scrape time by a custom collector instead of being copied into metric objects as they change.

Each process serves its own registry (the default one: it also holds prometheus-client's
process_* and python_* metrics) on its own port; `segmentdb serve` gives each child one
(docs/internals.md, "Observability").
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from segmentdb.version import __version__

log = logging.getLogger(__name__)

_RPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

RPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _RPC_LABELS)
RPC_HANDLED = Counter("grpc_server_handled_total",
                      "RPCs completed on the server, by status code.", (*_RPC_LABELS, "grpc_code"))
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status (whole stream for streaming RPCs).",
    _RPC_LABELS,
    # From a cached count (~0.5 ms) to a cold segment rebuild or a backup stream.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
             30, 60, 300),
)
RPC_IN_FLIGHT = Gauge("segmentdb_rpc_in_flight", "RPCs being handled right now.",
                      ("grpc_service", "grpc_method"))
# The gateway's Chroma-compatible HTTP API (gateway.http): `route` is the route template
# (e.g. /api/v2/tenants/{tenant}/databases/{database}/collections), never the raw path, so
# the label set stays bounded.
HTTP_REQUESTS = Counter("segmentdb_http_requests_total",
                        "HTTP API requests completed, by route template and status.",
                        ("method", "route", "status"))
HTTP_SECONDS = Histogram(
    "segmentdb_http_request_seconds", "Time from an HTTP API request's arrival to its response.",
    ("method", "route"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
             30, 60, 300),
)
HTTP_IN_FLIGHT = Gauge("segmentdb_http_requests_in_flight",
                       "HTTP API requests being handled right now.", ("method", "route"))
PROCESS_INFO = Info("segmentdb_process", "Which segmentdb process this is.")


def describe_process(role: str) -> None:
    """Label this process's metrics endpoint (gateway, metadata-worker, vector-worker)."""
    PROCESS_INFO.info({"role": role, "version": __version__})


class RpcMetrics:
    """What segmentdb.rpc_observer records per RPC."""

    def started(self, kind: str, service: str, method: str) -> None:
        RPC_STARTED.labels(kind, service, method).inc()
        RPC_IN_FLIGHT.labels(service, method).inc()

    def finished(self, kind: str, service: str, method: str, code: str, seconds: float) -> None:
        RPC_IN_FLIGHT.labels(service, method).dec()
        RPC_HANDLED.labels(kind, service, method, code).inc()
        RPC_SECONDS.labels(kind, service, method).observe(seconds)


class HttpMetrics:
    """What gateway.http.endpoint records per HTTP request."""

    def started(self, method: str, route: str) -> None:
        HTTP_IN_FLIGHT.labels(method, route).inc()

    def finished(self, method: str, route: str, status: int, seconds: float,
                 started: bool = True) -> None:
        if started:
            HTTP_IN_FLIGHT.labels(method, route).dec()
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_SECONDS.labels(method, route).observe(seconds)


class ReadAtScrape(Collector):
    """A collector whose metric families `collect()` builds from live state at scrape time.

    `describe()` returns the same families built without reading state, so registering does
    not touch the store or the cache.
    """

    def __init__(self, build: Callable[[bool], Iterable[Metric]]):
        self._build = build

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self._build(True))
        except Exception:  # noqa: BLE001 - a failing read must not break the whole scrape
            log.warning("metrics collection failed", exc_info=True)
            return []

    def describe(self) -> Iterable[Metric]:
        return list(self._build(False))


_registered: dict[str, Collector] = {}


def register(key: str, collector: Collector) -> Collector:
    """Register `collector` under `key`, replacing the one an earlier start registered."""
    previous = _registered.pop(key, None)
    if previous is not None:
        REGISTRY.unregister(previous)
    REGISTRY.register(collector)
    _registered[key] = collector
    return collector


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Serve GET /metrics on host:port in a daemon thread; 0 picks a free port. Returns the
    bound port."""
    server, _thread = start_http_server(port, addr=host)
    bound = server.server_port
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound
