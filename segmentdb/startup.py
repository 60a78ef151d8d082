"""What every segmentdb process does when it starts, without importing gRPC: set up logging
and write its port file.

Kept apart from `segmentdb.serving` so that `segmentdb serve` (the supervisor) can start its
children before paying for grpc, numpy and the generated stubs: every import the supervisor
makes is serial time before the first child even starts (issue 4, cold start).
"""

from __future__ import annotations

import json
import logging
import os

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), format=LOG_FORMAT)


def write_port_file(path: str | None, port: int) -> None:
    """Tell a supervisor which port we bound (written atomically, after start)."""
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"port": port, "pid": os.getpid()}, fh)
    os.replace(tmp, path)
