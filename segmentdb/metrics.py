"""Whether this process records Prometheus metrics, and the switch that turns them on.

Off unless the process serves a metrics endpoint (--metrics-port): then nothing imports
prometheus-client (segmentdb.prometheus_metrics) and the RPC observer records nothing but
its log line. `enable()` is called once, at server start, before the endpoint opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from segmentdb.prometheus_metrics import HttpMetrics, RpcMetrics

# The RPC metrics while enabled, else None (read by segmentdb.rpc_observer on every RPC).
rpc: Optional["RpcMetrics"] = None
# The gateway's HTTP API request metrics while enabled, else None (gateway.http.endpoint).
http: Optional["HttpMetrics"] = None


def enable(role: str, port: int, host: str,
           register_collectors: Callable[[], None] = lambda: None) -> int:
    """Record metrics from now on, label them with `role`, register the process's own
    collectors, serve them on host:port (0: any free port); returns the bound port."""
    global rpc, http
    from segmentdb import prometheus_metrics

    prometheus_metrics.describe_process(role)
    register_collectors()
    rpc = prometheus_metrics.RpcMetrics()
    http = prometheus_metrics.HttpMetrics()
    return prometheus_metrics.serve_metrics(port, host)
