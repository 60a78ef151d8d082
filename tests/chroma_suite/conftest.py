"""One `segmentdb serve` with Chroma's HTTP API (any free port) and reset allowed, per session.

Chroma's suites reset the whole server between examples, so this service is never the shared
session service of tests/conftest.py: nothing else's data lives in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class ChromaCompatibleService:
    grpc_address: str
    http_host: str
    http_port: int
    running: object  # tests/conftest.py RunningService

    def log(self) -> str:
        return self.running.log()


def _root_conftest(request):
    """tests/conftest.py (start_service / stop_service); both conftest files are module
    "conftest" to Python, so ask pytest for the root one by its file."""
    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == root:
            return plugin
    raise RuntimeError(f"{root} is not loaded")


@pytest.fixture(scope="session")
def chroma_service(request, tmp_path_factory) -> ChromaCompatibleService:
    lifecycle = _root_conftest(request)
    path = tmp_path_factory.mktemp("chroma-compatible") / "data"
    running = lifecycle.start_service(path, extra=["--http-port", "auto", "--allow-reset"])
    port_file = path.parent / f"{path.name}.port.json"
    ports = json.loads(port_file.read_text())
    if "http_port" not in ports:
        lifecycle.stop_service(running)
        raise RuntimeError(f"segmentdb serve wrote no http_port in {port_file}: {ports}")
    service = ChromaCompatibleService(running.address, "127.0.0.1", int(ports["http_port"]), running)
    yield service
    code = lifecycle.stop_service(running)
    assert code == 0, f"segmentdb serve exited {code} on SIGTERM:\n{running.log()}"


@pytest.fixture()
def chroma_http_client(chroma_service):
    """The stock chromadb.HttpClient against the service."""
    import chromadb
    from chromadb.config import Settings

    client = chromadb.HttpClient(host=chroma_service.http_host, port=chroma_service.http_port,
                                 settings=Settings(anonymized_telemetry=False))
    yield client


@pytest.fixture()
def sdk_client(chroma_service):
    """segmentdb's gRPC SDK on the same service."""
    import segmentdb

    client = segmentdb.Client(chroma_service.grpc_address)
    yield client
    client.close()
