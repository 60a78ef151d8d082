"""Start `segmentdb serve` with Chroma's HTTP API on a free port (`--http-port auto`) and
find that port in the port file."""

from __future__ import annotations

import json
from pathlib import Path


def start_http_service(lifecycle, data: Path, extra: list[str] | None = None,
                       vector_workers: int = 1):
    """(RunningService, "http://127.0.0.1:PORT") of a serve with the HTTP API on."""
    running = lifecycle.start_service(data, vector_workers=vector_workers,
                                      extra=["--http-port", "auto", *(extra or [])])
    port_file = data.parent / f"{data.name}.port.json"
    http_port = json.loads(port_file.read_text())["http_port"]
    return running, f"http://127.0.0.1:{http_port}"


def stop(lifecycle, running) -> None:
    code = lifecycle.stop_service(running)
    assert code == 0, f"segmentdb serve exited {code} on SIGTERM:\n{running.log()}"
