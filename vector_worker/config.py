"""The vector worker's settings: command-line flags over SEGMENTDB_* environment variables
over the config file (segmentdb.config_file, layered under the environment) over defaults. This module is the only reader of the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

from segmentdb.config_file import parse_log_format, parse_metrics_port, parse_shutdown_grace
from segmentdb.serving import DEFAULT_MAX_MESSAGE_BYTES
from segmentdb.tls import InternalClientTls, ServerTls
from segmentdb.units import parse_size
from vector_worker.memory_budget import AUTO as AUTO_BUDGET
from vector_worker.memory_budget import resolve as resolve_budget

# Setting -> environment variable (a flag on the command line wins over it).
ENVIRONMENT = {
    "path": "SEGMENTDB_PATH",
    "metadata": "SEGMENTDB_METADATA",
    "host": "SEGMENTDB_HOST",
    "port": "SEGMENTDB_PORT",
    "port_file": "SEGMENTDB_PORT_FILE",
    "max_message_size": "SEGMENTDB_MAX_MESSAGE_SIZE",
    "log_level": "SEGMENTDB_LOG_LEVEL",
    "memory_budget": "SEGMENTDB_MEMORY_BUDGET",
    "idle_ttl": "SEGMENTDB_IDLE_TTL",
    "tail_interval": "SEGMENTDB_TAIL_INTERVAL",
    "name": "SEGMENTDB_WORKER_NAME",
    "internal_token_file": "SEGMENTDB_INTERNAL_TOKEN_FILE",
    "log_format": "SEGMENTDB_LOG_FORMAT",
    "metrics_port": "SEGMENTDB_METRICS_PORT",
    "metrics_host": "SEGMENTDB_METRICS_HOST",
    "shutdown_grace": "SEGMENTDB_SHUTDOWN_GRACE",
    "internal_tls_cert": "SEGMENTDB_INTERNAL_TLS_CERT",
    "internal_tls_key": "SEGMENTDB_INTERNAL_TLS_KEY",
    "internal_tls_ca": "SEGMENTDB_INTERNAL_TLS_CA",
    "internal_tls_server_name": "SEGMENTDB_INTERNAL_TLS_SERVER_NAME",
}

DEFAULTS = {
    "path": None,
    "metadata": None,
    "host": "127.0.0.1",
    "port": "0",
    "port_file": None,
    "max_message_size": str(DEFAULT_MAX_MESSAGE_BYTES),
    "log_level": "INFO",
    # Half of the memory available to the process (cgroup limit, else RAM): unlimited let
    # memory only grow. `segmentdb serve` passes each of its K workers its share explicitly.
    "memory_budget": AUTO_BUDGET,
    "idle_ttl": "0",
    # Seconds between background catch-ups of loaded segments with the log (0 = off).
    "tail_interval": "1.0",
    # A stable name (serve: vector-worker-N; Kubernetes: the pod name) under which the worker
    # remembers its loaded segments and reloads them after a restart; none = don't.
    "name": None,
    # The shared internal token (segmentdb.internal_auth): required from callers, sent to
    # the metadata worker; none = off.
    "internal_token_file": None,
    "log_format": "text",
    # Prometheus /metrics port; None = off, 0 = any free port (in the port file).
    "metrics_port": None,
    "metrics_host": "127.0.0.1",
    "shutdown_grace": None,  # 5 seconds
    # Internal TLS (segmentdb.tls): this worker's port, and the CA of the metadata worker's.
    "internal_tls_cert": None,
    "internal_tls_key": None,
    "internal_tls_ca": None,
    "internal_tls_server_name": None,
}


@dataclass(frozen=True)
class VectorWorkerConfig:
    # The data folder; segments live in <path>/index/<segment_id>/.
    path: str
    # HOST:PORT of the metadata worker (log and rebuild scans).
    metadata_address: str
    host: str = "127.0.0.1"
    # 0 = any free port (reported in the port file).
    port: int = 0
    # Where to write {"port": N, "pid": P} once SERVING.
    port_file: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    log_level: str = "INFO"
    # Bytes of loaded segments (vectors + graph at capacity) to stay within; 0 = unlimited
    # (the dataclass default, for embedding; the command line's default is auto).
    memory_budget_bytes: int = 0
    # Where memory_budget_bytes came from, for the start-up log ("auto: half of ...").
    memory_budget_source: str = "unlimited"
    # Unload segments unused for this many seconds; 0 = never.
    idle_ttl_seconds: float = 0.0
    # Every this many seconds a background thread applies the log to loaded segments and
    # saves those due, so writes to unqueried collections are saved and the log purged; 0 = off.
    tail_interval_seconds: float = 1.0
    # Names <path>/index/.working-set-<name>.json (vector_worker/working_set.py); None = off.
    name: str | None = None
    # File holding the shared internal token (segmentdb.internal_auth); None = off.
    internal_token_file: str | None = None
    log_format: str = "text"  # text or json (JSON lines)
    # Prometheus /metrics on metrics_host:metrics_port; None = off, 0 = any free port.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Seconds in-flight calls may finish after SIGTERM (before segments are persisted).
    shutdown_grace: float = 5.0
    # TLS of this worker's port (--internal-tls-cert/-key); None = plaintext.
    tls: ServerTls | None = None
    # TLS to the metadata worker (--internal-tls-ca, --internal-tls-server-name).
    metadata_tls: InternalClientTls | None = None


def defaults(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Flag defaults: the environment where set, else the built-in defaults."""
    environ = os.environ if environ is None else environ
    return {key: environ.get(var, DEFAULTS[key]) for key, var in ENVIRONMENT.items()}


def make_config(*, path: str, metadata: str, host: str, port: str | int,
                port_file: str | None, max_message_size: str | int,
                log_level: str, memory_budget: str | int = AUTO_BUDGET,
                idle_ttl: str | float = 0,
                tail_interval: str | float = DEFAULTS["tail_interval"],
                name: str | None = None,
                internal_token_file: str | None = None, log_format: str = "text",
                metrics_port: str | int | None = None,
                metrics_host: str = "127.0.0.1",
                shutdown_grace: str | float | None = None,
                internal_tls_cert: str | None = None, internal_tls_key: str | None = None,
                internal_tls_ca: str | None = None,
                internal_tls_server_name: str | None = None,
                config: str | None = None) -> VectorWorkerConfig:
    """Validated config from raw flag values; ValueError names the flag and the fix.

    `config` (--config FILE) is accepted and ignored: __main__ has already layered the
    file's values under the environment that supplied the flags' defaults.
    """
    if not path:
        raise ValueError("--path: required (the data folder; env SEGMENTDB_PATH)")
    if not metadata or ":" not in metadata:
        raise ValueError(
            f"--metadata: expected HOST:PORT of the metadata worker, got {metadata!r} "
            "(env SEGMENTDB_METADATA)")
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"--port: expected a number, got {port!r}") from None
    if not 0 <= port_number <= 65535:
        raise ValueError(f"--port: {port_number} is not in 0..65535 (0 = any free port)")
    max_bytes = parse_size(max_message_size)
    if max_bytes <= 0:
        raise ValueError("--max-message-size: must be > 0")
    try:
        budget, budget_source = resolve_budget(memory_budget)
    except ValueError as exc:
        raise ValueError(f"--memory-budget: {exc}, or auto (half of the available memory, "
                         "the default) or 0 (unlimited); env SEGMENTDB_MEMORY_BUDGET") from None
    try:
        ttl = float(idle_ttl)
    except ValueError:
        raise ValueError(
            f"--idle-ttl: expected a number of seconds, got {idle_ttl!r} "
            "(0 = never unload idle segments; env SEGMENTDB_IDLE_TTL)") from None
    if ttl < 0 or ttl != ttl:
        raise ValueError(f"--idle-ttl: must be >= 0 seconds, got {idle_ttl!r} (0 = never)")
    tail = _seconds(tail_interval, "--tail-interval",
                    "0 = off: loaded segments apply the log only when queried; "
                    "env SEGMENTDB_TAIL_INTERVAL")
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"--name: {name!r} must be 1-100 characters of [A-Za-z0-9._-] "
                         "starting with a letter or digit (it names a file; env "
                         "SEGMENTDB_WORKER_NAME)")
    return VectorWorkerConfig(path=path, metadata_address=metadata, host=host,
                              port=port_number, port_file=port_file or None,
                              max_message_bytes=max_bytes, log_level=log_level,
                              memory_budget_bytes=budget, memory_budget_source=budget_source,
                              idle_ttl_seconds=ttl, tail_interval_seconds=tail,
                              name=name or None,
                              internal_token_file=internal_token_file or None,
                              log_format=parse_log_format(log_format),
                              metrics_port=parse_metrics_port(metrics_port),
                              metrics_host=metrics_host or "127.0.0.1",
                              shutdown_grace=parse_shutdown_grace(shutdown_grace),
                              tls=ServerTls.internal(internal_tls_cert, internal_tls_key),
                              metadata_tls=InternalClientTls.from_flags(
                                  internal_tls_ca, internal_tls_server_name))


def _seconds(value: str | float, flag: str, meaning: str) -> float:
    """A finite number of seconds >= 0; ValueError names the flag and what 0 means."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(
            f"{flag}: expected a number of seconds, got {value!r} ({meaning})") from None
    if not 0 <= seconds < float("inf"):  # also refuses NaN
        raise ValueError(
            f"{flag}: must be a finite number of seconds >= 0, got {value!r} ({meaning})")
    return seconds
