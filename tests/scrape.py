"""Read a segmentdb process's Prometheus endpoint over real HTTP (tests only)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def metrics_port(port_file: Path) -> int:
    return int(json.loads(port_file.read_text())["metrics_port"])


def scrape(port: int, host: str = "127.0.0.1") -> dict[tuple, float]:
    """{(sample name, ((label, value), ...sorted)): value} of http://host:port/metrics."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: dict[tuple, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    """The sample `name` with exactly these labels; 0 when absent (a counter not yet moved)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def handled(samples: dict[tuple, float], service: str, method: str, code: str,
            kind: str = "unary") -> float:
    return value(samples, "grpc_server_handled_total", grpc_service=service,
                 grpc_method=method, grpc_code=code, grpc_type=kind)


def json_lines(text: str) -> list[dict]:
    """Every line of a log that is a JSON object (parse errors fail the test)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
