"""Start one segmentdb process the way the supervisor does (--port 0 --port-file) and stop it.

Shared by tests that assemble their own topology (two gateways, failover, ...).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    address: str
    log_path: Path

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start(module: str, folder: Path, name: str, *args: str) -> Process:
    port_file = folder / f"{name}.port.json"
    log_path = folder / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", "--port-file",
                                 str(port_file), *args],
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{name} did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    port = json.loads(port_file.read_text())["port"]
    return Process(name, proc, f"127.0.0.1:{port}", log_path)
