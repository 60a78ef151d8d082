"""The gateway's settings: a frozen dataclass, and the only reader of SEGMENTDB_* variables.

Every flag of `segmentdb gateway` has an environment variable that supplies its default;
a flag given on the command line wins. A config file (segmentdb.config_file) is layered
under the environment by __main__.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from gateway.routing import parse_workers
from segmentdb.config_file import (parse_bool, parse_http_port, parse_log_format,
                                   parse_metrics_port, parse_shutdown_grace)
from segmentdb.serving import DEFAULT_MAX_MESSAGE_BYTES
from segmentdb.tls import InternalClientTls, ServerTls
from segmentdb.units import parse_size

DEFAULT_PORT = 50051
DEFAULT_MAX_BATCH_SIZE = 100_000
# Chroma's HTTP API (gateway.http) listens here by default, Chroma's own default port.
DEFAULT_HTTP_PORT = 8000

# flag destination -> (environment variable, default when the variable is unset)
ENVIRONMENT = {
    "metadata": ("SEGMENTDB_METADATA", None),
    "vector_workers": ("SEGMENTDB_VECTOR_WORKERS", None),
    "host": ("SEGMENTDB_HOST", "127.0.0.1"),
    "port": ("SEGMENTDB_PORT", str(DEFAULT_PORT)),
    "port_file": ("SEGMENTDB_PORT_FILE", None),
    "max_message_size": ("SEGMENTDB_MAX_MESSAGE_SIZE", "256MiB"),
    "max_batch_size": ("SEGMENTDB_MAX_BATCH_SIZE", str(DEFAULT_MAX_BATCH_SIZE)),
    "log_level": ("SEGMENTDB_LOG_LEVEL", "INFO"),
    # Security (docs/internals.md "Security"): files only, never secrets on the command line.
    "auth_tokens_file": ("SEGMENTDB_AUTH_TOKENS_FILE", None),
    "tls_cert": ("SEGMENTDB_TLS_CERT", None),
    "tls_key": ("SEGMENTDB_TLS_KEY", None),
    "tls_client_ca": ("SEGMENTDB_TLS_CLIENT_CA", None),
    "internal_token_file": ("SEGMENTDB_INTERNAL_TOKEN_FILE", None),
    "log_format": ("SEGMENTDB_LOG_FORMAT", "text"),
    "metrics_port": ("SEGMENTDB_METRICS_PORT", None),
    "metrics_host": ("SEGMENTDB_METRICS_HOST", "127.0.0.1"),
    "shutdown_grace": ("SEGMENTDB_SHUTDOWN_GRACE", None),
    "internal_tls_ca": ("SEGMENTDB_INTERNAL_TLS_CA", None),
    "internal_tls_server_name": ("SEGMENTDB_INTERNAL_TLS_SERVER_NAME", None),
    # The embedding pool (gateway/embedding_pool.py): model processes, torch threads in
    # each ("auto": half the CPUs, at least 1), most texts per model batch.
    "embedding_processes": ("SEGMENTDB_EMBEDDING_PROCESSES", "1"),
    "embedding_threads": ("SEGMENTDB_EMBEDDING_THREADS", "auto"),
    "embedding_max_batch": ("SEGMENTDB_EMBEDDING_MAX_BATCH", "64"),
    # Chroma's HTTP API v2 (gateway.http): 0 = off, "auto" = any free port.
    "http_port": ("SEGMENTDB_HTTP_PORT", str(DEFAULT_HTTP_PORT)),
    "http_host": ("SEGMENTDB_HTTP_HOST", "127.0.0.1"),
    "allow_reset": ("SEGMENTDB_ALLOW_RESET", "false"),
}
# Setting -> environment variable, the shape segmentdb.config_file takes.
SETTINGS = {dest: var for dest, (var, _default) in ENVIRONMENT.items()}


def environment_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Flag defaults: the SEGMENTDB_* variable when set, else the built-in default."""
    env = os.environ if environ is None else environ
    return {dest: env.get(var, default) for dest, (var, default) in ENVIRONMENT.items()}


@dataclass(frozen=True)
class GatewayConfig:
    metadata_address: str
    vector_worker_addresses: tuple[str, ...]
    # address -> the name rendezvous hashing scores it by (gateway.routing); unnamed
    # workers are scored by their address.
    vector_worker_names: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    port_file: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    log_level: str = "INFO"
    # Bearer tokens (gateway.auth_tokens); None = no authentication (today's behaviour).
    auth_tokens_file: str | None = None
    # The public port's TLS (segmentdb.tls.ServerTls); None = plaintext.
    tls: ServerTls | None = None
    # The shared internal token sent to the workers (segmentdb.internal_auth).
    internal_token_file: str | None = None
    log_format: str = "text"          # text or json (JSON lines)
    metrics_port: int | None = None   # Prometheus /metrics; None = off, 0 = any free port
    metrics_host: str = "127.0.0.1"
    shutdown_grace: float = 5.0       # seconds in-flight calls may finish after SIGTERM
    # TLS to the workers (--internal-tls-ca, --internal-tls-server-name); None = plaintext.
    internal_tls: InternalClientTls | None = None
    embedding_processes: int = 1      # model processes of the embedding pool
    embedding_threads: int = 1        # torch threads per model process
    embedding_max_batch: int = 64     # most texts per model batch
    # Chroma's HTTP API: None = off, 0 = any free port (in the port file as "http_port").
    http_port: int | None = None
    http_host: str = "127.0.0.1"
    # POST /api/v2/reset wipes every tenant, database and collection; refused when False.
    allow_reset: bool = False

    def __post_init__(self) -> None:
        if not self.metadata_address:
            raise ValueError("--metadata: the metadata worker's HOST:PORT is required")
        if not self.vector_worker_addresses:
            raise ValueError("--vector-workers: give at least one vector worker HOST:PORT")
        if len(set(self.vector_worker_addresses)) != len(self.vector_worker_addresses):
            raise ValueError("--vector-workers: each address may appear only once")
        if len(set(self.vector_worker_names.values())) != len(self.vector_worker_names):
            raise ValueError("--vector-workers: each worker name may appear only once")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port: {self.port} is not a TCP port (0-65535; 0 picks a free one)")
        if self.max_message_bytes < 1024:
            raise ValueError("--max-message-size: must be at least 1KiB")
        if self.max_batch_size < 1:
            raise ValueError("--max-batch-size: must be at least 1")
        if not 1 <= self.embedding_processes <= 64:
            raise ValueError("--embedding-processes: must be between 1 and 64")
        if not 1 <= self.embedding_threads <= 256:
            raise ValueError("--embedding-threads: must be between 1 and 256 (or auto)")
        if not 1 <= self.embedding_max_batch <= 4096:
            raise ValueError("--embedding-max-batch: must be between 1 and 4096")
        if self.http_port is not None and not 0 <= self.http_port <= 65535:
            raise ValueError(f"--http-port: {self.http_port} is not a TCP port (1-65535; 0 = "
                             "off, auto = any free port)")
        if self.http_port is not None and self.http_host.startswith("unix:"):
            raise ValueError("--http-host: the HTTP API listens on TCP only; give an address "
                             "like 127.0.0.1 or 0.0.0.0")

    @classmethod
    def from_strings(
        cls,
        *,
        metadata: str | None,
        vector_workers: str | None,
        host: str,
        port: str | int,
        port_file: str | None,
        max_message_size: str | int,
        max_batch_size: str | int,
        log_level: str,
        auth_tokens_file: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        tls_client_ca: str | None = None,
        internal_token_file: str | None = None,
        log_format: str = "text",
        metrics_port: str | int | None = None,
        metrics_host: str = "127.0.0.1",
        shutdown_grace: str | float | None = None,
        internal_tls_ca: str | None = None,
        internal_tls_server_name: str | None = None,
        embedding_processes: str | int = 1,
        embedding_threads: str | int = "auto",
        embedding_max_batch: str | int = 64,
        http_port: str | int | None = None,
        http_host: str | None = None,
        allow_reset: str | bool | None = None,
    ) -> "GatewayConfig":
        """Build from flag/environment strings; raises ValueError naming the bad setting."""
        try:
            port_number = int(port)
        except ValueError:
            raise ValueError(f"--port: {port!r} is not a number") from None
        try:
            batch = int(max_batch_size)
        except ValueError:
            raise ValueError(f"--max-batch-size: {max_batch_size!r} is not a number") from None
        try:
            message_bytes = parse_size(max_message_size)
        except ValueError as exc:
            raise ValueError(f"--max-message-size: {exc}") from None
        workers, names = parse_workers(vector_workers or "")
        return cls(
            metadata_address=(metadata or "").strip(),
            vector_worker_addresses=workers,
            vector_worker_names=names,
            host=host,
            port=port_number,
            port_file=port_file or None,
            max_message_bytes=message_bytes,
            max_batch_size=batch,
            log_level=log_level,
            auth_tokens_file=auth_tokens_file or None,
            tls=ServerTls.from_flags(tls_cert, tls_key, tls_client_ca),
            internal_token_file=internal_token_file or None,
            log_format=parse_log_format(log_format),
            metrics_port=parse_metrics_port(metrics_port),
            metrics_host=metrics_host or "127.0.0.1",
            shutdown_grace=parse_shutdown_grace(shutdown_grace),
            internal_tls=InternalClientTls.from_flags(internal_tls_ca,
                                                      internal_tls_server_name),
            embedding_processes=_integer(embedding_processes, "--embedding-processes"),
            embedding_threads=(default_embedding_threads()
                               if str(embedding_threads).strip().lower() == "auto"
                               else _integer(embedding_threads, "--embedding-threads")),
            embedding_max_batch=_integer(embedding_max_batch, "--embedding-max-batch"),
            http_port=parse_http_port(http_port),
            http_host=http_host or "127.0.0.1",
            allow_reset=parse_bool(allow_reset, "--allow-reset"),
        )


def default_embedding_threads() -> int:
    """Half the CPUs (at least 1): the model gets one core of two, serving keeps the other."""
    return max(1, (os.cpu_count() or 2) // 2)


def _integer(value: str | int, flag: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{flag}: {value!r} is not a number") from None
