"""The vector worker's settings: command-line flags over SEGMENTDB_* environment variables
over defaults. This module is the only reader of the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from segmentdb.serving import DEFAULT_MAX_MESSAGE_BYTES
from segmentdb.units import parse_size

# Setting -> environment variable (a flag on the command line wins over it).
ENVIRONMENT = {
    "path": "SEGMENTDB_PATH",
    "metadata": "SEGMENTDB_METADATA",
    "host": "SEGMENTDB_HOST",
    "port": "SEGMENTDB_PORT",
    "port_file": "SEGMENTDB_PORT_FILE",
    "max_message_size": "SEGMENTDB_MAX_MESSAGE_SIZE",
    "log_level": "SEGMENTDB_LOG_LEVEL",
}

DEFAULTS = {
    "path": None,
    "metadata": None,
    "host": "127.0.0.1",
    "port": "0",
    "port_file": None,
    "max_message_size": str(DEFAULT_MAX_MESSAGE_BYTES),
    "log_level": "INFO",
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


def defaults(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Flag defaults: the environment where set, else the built-in defaults."""
    environ = os.environ if environ is None else environ
    return {key: environ.get(var, DEFAULTS[key]) for key, var in ENVIRONMENT.items()}


def make_config(*, path: str, metadata: str, host: str, port: str | int,
                port_file: str | None, max_message_size: str | int,
                log_level: str) -> VectorWorkerConfig:
    """Validated config from raw flag values; ValueError names the flag and the fix."""
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
    return VectorWorkerConfig(path=path, metadata_address=metadata, host=host,
                              port=port_number, port_file=port_file or None,
                              max_message_bytes=max_bytes, log_level=log_level)
