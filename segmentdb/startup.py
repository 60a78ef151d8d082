"""What every segmentdb process does when it starts, without importing gRPC: set up logging
(plain text or JSON lines) and write its port file.

Kept apart from `segmentdb.serving` so that `segmentdb serve` (the supervisor) can start its
children before paying for grpc, numpy and the generated stubs: every import the supervisor
makes is serial time before the first child even starts (issue 4, cold start).
"""

from __future__ import annotations

import json
import logging
import os

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
LOG_FORMATS = ("text", "json")


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Root logging at `level`, as text lines (LOG_FORMAT) or JSON lines (log_json)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"--log-format: {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler()
    if log_format == "json":
        from segmentdb.log_json import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        handlers=[handler], force=True)


def write_port_file(path: str | None, port: int, metrics_port: int | None = None,
                    **extra: object) -> None:
    """Tell a supervisor which port we bound (written atomically, after start).

    `metrics_port` (the Prometheus HTTP port, when metrics are on) and `extra` fields are
    added to the JSON object.
    """
    if not path:
        return
    content: dict[str, object] = {"port": port, "pid": os.getpid()}
    if metrics_port is not None:
        content["metrics_port"] = metrics_port
    content.update(extra)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(content, fh)
    os.replace(tmp, path)
