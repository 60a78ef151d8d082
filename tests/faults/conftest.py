"""Fixtures for the fault tests: each test runs its own `segmentdb serve` in a temp folder
(faults must not leak into the session service) and stops it at the end, whatever happened.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import fault_processes as processes


def _root_conftest(config):
    """The root tests/conftest.py module (start_service / stop_service).

    Every conftest file is module "conftest" to Python, so `from conftest import ...` is
    ambiguous here; ask pytest for the root one by its file instead.
    """
    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == root:
            return plugin
    raise RuntimeError(f"{root} is not loaded")


class Services:
    """start(path, **kw) / stop(service); every service still running at teardown is stopped."""

    def __init__(self, root):
        self._root = root
        self.started = []
        self.orphans: set[int] = set()  # child pids to kill at teardown if still alive

    def start(self, path: Path, **kwargs):
        service = self._root.start_service(path, **kwargs)
        self.started.append(service)
        return service

    def stop(self, service) -> int:
        return self._root.stop_service(service)

    def close(self) -> None:
        for service in self.started:
            if service.process.poll() is None:
                self._root.stop_service(service)
        for pid in self.orphans:  # children of a killed serve that failed to exit (a bug)
            if processes.alive(pid) and "segmentdb.cli" in " ".join(processes.cmdline(pid)):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture()
def services(request):
    running = Services(_root_conftest(request.config))
    yield running
    running.close()
