"""The metadata worker's settings: flags, else SEGMENTDB_* environment variables, else the
config file (segmentdb.config_file, layered under the environment by __main__), else defaults.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from segmentdb.config_file import parse_log_format, parse_metrics_port, parse_shutdown_grace
from segmentdb.serving import DEFAULT_MAX_MESSAGE_BYTES
from segmentdb.tls import ServerTls
from segmentdb.units import parse_size

# Log entries a collection may keep past its purged_through (metadata_worker.log_retention).
DEFAULT_LOG_RETENTION = 100_000

# Setting -> environment variable (documented in `--help`).
ENVIRONMENT = {
    "path": "SEGMENTDB_PATH",
    "host": "SEGMENTDB_HOST",
    "port": "SEGMENTDB_PORT",
    "port_file": "SEGMENTDB_PORT_FILE",
    "max_message_size": "SEGMENTDB_MAX_MESSAGE_SIZE",
    "log_level": "SEGMENTDB_LOG_LEVEL",
    "log_retention": "SEGMENTDB_LOG_RETENTION",
    "internal_token_file": "SEGMENTDB_INTERNAL_TOKEN_FILE",
    "log_format": "SEGMENTDB_LOG_FORMAT",
    "metrics_port": "SEGMENTDB_METRICS_PORT",
    "metrics_host": "SEGMENTDB_METRICS_HOST",
    "shutdown_grace": "SEGMENTDB_SHUTDOWN_GRACE",
    "internal_tls_cert": "SEGMENTDB_INTERNAL_TLS_CERT",
    "internal_tls_key": "SEGMENTDB_INTERNAL_TLS_KEY",
}
DEFAULTS = {
    "host": "127.0.0.1",
    "port": "0",
    "port_file": None,
    "max_message_size": str(DEFAULT_MAX_MESSAGE_BYTES),
    "log_level": "INFO",
    "log_retention": str(DEFAULT_LOG_RETENTION),
    "log_format": "text",
    "metrics_port": None,
    "metrics_host": "127.0.0.1",
    "shutdown_grace": None,
    "internal_tls_cert": None,
    "internal_tls_key": None,
}


@dataclass(frozen=True)
class Config:
    path: str                 # the data folder; chroma.sqlite3 lives in it
    host: str = "127.0.0.1"
    port: int = 0             # 0: any free port (reported through port_file)
    port_file: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    log_level: str = "INFO"
    # Most log entries a collection keeps after a write before it purges down to half of
    # them (its segments rebuild from SQLite if behind); 0: keep until segments are saved.
    log_retention: int = DEFAULT_LOG_RETENTION
    # A file holding the shared internal token every call must carry (health excepted);
    # None: calls need no token (segmentdb.internal_auth).
    internal_token_file: str | None = None
    log_format: str = "text"            # text or json (JSON lines)
    metrics_port: int | None = None     # Prometheus /metrics; None = off, 0 = any free port
    metrics_host: str = "127.0.0.1"
    shutdown_grace: float = 5.0         # seconds in-flight calls may finish after SIGTERM
    # The port's TLS (--internal-tls-cert/--internal-tls-key); None = plaintext.
    tls: ServerTls | None = None


def resolve(flags: Mapping[str, object], environ: Mapping[str, str] | None = None) -> Config:
    """A Config from parsed flags (None = not given), falling back to the environment."""
    environ = os.environ if environ is None else environ

    def pick(name: str):
        value = flags.get(name)
        if value is None:
            value = environ.get(ENVIRONMENT[name]) or DEFAULTS.get(name)
        return value

    path = pick("path")
    if not path:
        raise ValueError(f"--path is required (or set {ENVIRONMENT['path']}): the data folder")
    port = pick("port")
    try:
        port = int(port)
    except ValueError:
        raise ValueError(f"--port: {port!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--port: {port} is outside 0-65535")
    retention = pick("log_retention")
    try:
        retention = int(retention)
    except ValueError:
        raise ValueError(f"--log-retention: {retention!r} is not a whole number of log "
                         "entries (0 keeps entries until vector segments are saved)") from None
    if retention < 0:
        raise ValueError(f"--log-retention: {retention} is negative; pass 0 (keep entries "
                         "until vector segments are saved) or a number of entries")
    return Config(
        path=str(path),
        host=str(pick("host")),
        port=port,
        port_file=pick("port_file"),
        max_message_bytes=parse_size(str(pick("max_message_size"))),
        log_level=str(pick("log_level")).upper(),
        log_retention=retention,
        internal_token_file=pick("internal_token_file") or None,
        log_format=parse_log_format(pick("log_format")),
        metrics_port=parse_metrics_port(pick("metrics_port")),
        metrics_host=str(pick("metrics_host")),
        shutdown_grace=parse_shutdown_grace(pick("shutdown_grace")),
        tls=ServerTls.internal(pick("internal_tls_cert"), pick("internal_tls_key")),
    )
