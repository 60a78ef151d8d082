"""`segmentdb serve` with a config file: flag > environment > file precedence reaching serve
and its children, and one metrics endpoint per child, listed in serve's port file."""

from __future__ import annotations

import json
import re

import segmentdb
from scrape import json_lines, scrape

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ")


def test_config_file_under_env_under_flags_and_a_metrics_port_per_child(
        tmp_path, lifecycle, monkeypatch):
    config = tmp_path / "segmentdb.toml"
    config.write_text(
        'log-format = "text"\n'      # loses to SEGMENTDB_LOG_FORMAT
        'metrics-port = 0\n'         # only here: every child serves metrics on a free port
        '\n[serve]\nvector-workers = 3\n'   # loses to the flag --vector-workers 1
        '\n[vector-worker]\nidle-ttl = 321\n')  # only here: reaches the child through serve
    monkeypatch.setenv("SEGMENTDB_LOG_FORMAT", "json")
    data = tmp_path / "data"
    running = lifecycle.start_service(data, vector_workers=1,
                                      extra=["--config", str(config)])
    try:
        reported = json.loads((tmp_path / "data.port.json").read_text())
        ports = reported["metrics_ports"]
        assert set(ports) == {"gateway", "metadata-worker", "vector-worker-1"}
        assert len(set(ports.values())) == 3
        roles = {}
        for name, port in ports.items():
            samples = scrape(port)
            (labels,) = [dict(l) for (s, l) in samples if s == "segmentdb_process_info"]
            roles[name] = labels["role"]
        assert roles == {"gateway": "gateway", "metadata-worker": "metadata-worker",
                         "vector-worker-1": "vector-worker"}
        with segmentdb.Client(running.address) as client:
            (worker,) = client.stats()["workers"]
            assert worker["idle_ttl_seconds"] == 321
    finally:
        code = lifecycle.stop_service(running)
    assert code == 0, running.log()
    text = running.log()
    lines = json_lines(text)
    loggers = {line["logger"] for line in lines}
    assert {"segmentdb.serve", "gateway.server", "vector_worker.server",
            "metadata_worker.server"} <= loggers, loggers
    assert not [line for line in text.splitlines() if TEXT_LINE.match(line)]
