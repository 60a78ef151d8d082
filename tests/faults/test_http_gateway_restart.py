"""kill -9 of the gateway under `segmentdb serve --http-port auto`: serve restarts it on the
same HTTP port (learned from the first start, like the gRPC port), and every write
acknowledged over HTTP before the kill is still there."""

from __future__ import annotations

import json
import time

import httpx

import fault_processes as processes

DB = "/api/v2/tenants/default_tenant/databases/default_database"


def test_gateway_killed_comes_back_on_the_same_http_port(tmp_path, services):
    data = tmp_path / "data"
    service = services.start(data, vector_workers=1, extra=["--http-port", "auto"])
    port = json.loads((tmp_path / "data.port.json").read_text())["http_port"]
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        collection = http.post(f"{DB}/collections", json={"name": "kept"}).json()
        added = http.post(f"{DB}/collections/{collection['id']}/add",
                          json={"ids": ["a", "b"], "embeddings": [[1.0, 0.0], [0.0, 1.0]]})
        assert added.status_code == 201, added.text
    gateway = processes.roles(service.process.pid)["gateway"]
    processes.kill9(gateway)
    deadline = time.monotonic() + 60
    count = None
    while time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=base, timeout=5) as http:
                response = http.get(f"{DB}/collections/{collection['id']}/count")
            if response.status_code == 200:
                count = response.json()
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    assert count == 2, f"the HTTP API did not come back on port {port}:\n{service.log()[-3000:]}"
    assert processes.roles(service.process.pid)["gateway"] != gateway
    assert services.stop(service) == 0, service.log()[-3000:]
