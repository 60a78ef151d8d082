"""`PersistentClient(path)`: run `segmentdb serve` for this process and connect to it.

chromadb's PersistentClient opens a folder in-process; segmentdb's storage lives in
worker processes, so we start them as one child (`segmentdb serve --port 0`), learn the
port from its port file, and stop it (SIGTERM, wait) when the last client on that path
closes or the interpreter exits. Two PersistentClients on one path share one child: a
second metadata worker would be refused by the data folder's lock anyway.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

from segmentdb.client import Client
from segmentdb.errors import UnavailableError
from segmentdb.types import DEFAULT_DATABASE, DEFAULT_TENANT

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


class EmbeddedService:
    """One `segmentdb serve` child for one data folder, shared by reference count."""

    def __init__(self, path: str, vector_workers: int, log_level: str, extra: list[str]):
        self.path = path
        self.users = 0
        self._tmp = tempfile.mkdtemp(prefix="segmentdb-embedded-")
        port_file = os.path.join(self._tmp, "port.json")
        argv = [sys.executable, "-m", "segmentdb.cli", "serve", "--path", path, "--port", "0",
                "--vector-workers", str(vector_workers), "--port-file", port_file,
                "--log-level", log_level, "--parent-pid", str(os.getpid()),
                # A private service: no Chroma HTTP API on a shared port (8000) unless asked.
                "--http-port", "0", *extra]
        # Its own process group: Ctrl-C in this program must not stop the service under
        # a client that may still be used; close()/atexit stop it instead.
        self.process = subprocess.Popen(argv, start_new_session=True)
        self.port = self._wait_for_port(port_file)

    def _wait_for_port(self, port_file: str) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise UnavailableError(
                    f"segmentdb serve for {self.path!r} exited with code {code} while starting; "
                    "its error is printed above (is another segmentdb using this folder?)"
                )
            if os.path.exists(port_file):
                with open(port_file) as fh:
                    return int(json.load(fh)["port"])
            time.sleep(0.05)
        self.stop()
        raise UnavailableError(f"segmentdb serve for {self.path!r} did not start in {START_TIMEOUT:.0f}s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.rmdir(self._tmp)
        except OSError:
            pass
        return self.process.returncode


_services: dict[str, EmbeddedService] = {}
_lock = threading.Lock()


def _acquire(path: str, vector_workers: int, log_level: str, extra: list[str]) -> EmbeddedService:
    with _lock:
        service = _services.get(path)
        if service is None or service.process.poll() is not None:
            service = EmbeddedService(path, vector_workers, log_level, extra)
            _services[path] = service
        service.users += 1
        return service


def _release(service: EmbeddedService) -> None:
    with _lock:
        service.users -= 1
        if service.users > 0:
            return
        if _services.get(service.path) is service:
            del _services[service.path]
    service.stop()


@atexit.register
def _stop_all() -> None:
    with _lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        service.stop()


class PersistentClient(Client):
    """A client of a segmentdb service this process starts on `path`.

    >>> client = segmentdb.PersistentClient("./segmentdb_data")
    """

    def __init__(
        self,
        path: str | os.PathLike = "./segmentdb_data",
        vector_workers: int = 2,
        tenant: str = DEFAULT_TENANT,
        database: str = DEFAULT_DATABASE,
        timeout: Optional[float] = None,
        *,
        log_level: str = "WARNING",
        max_message_size: Optional[str] = None,
        settings: object = None,  # chromadb's Settings: accepted and ignored
    ):
        self.path = os.path.realpath(os.fspath(path))
        extra = ["--max-message-size", str(max_message_size)] if max_message_size else []
        self._service: Optional[EmbeddedService] = _acquire(self.path, vector_workers, log_level, extra)
        try:
            super().__init__(self._service.address, tenant=tenant, database=database, timeout=timeout)
        except BaseException:
            _release(self._service)
            raise

    def close(self) -> None:
        super().close()
        service, self._service = self._service, None
        if service is not None:
            _release(service)

    def __repr__(self) -> str:
        return f"PersistentClient(path={self.path!r})"


__all__ = ["PersistentClient"]
