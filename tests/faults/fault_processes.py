"""The processes of a running `segmentdb serve`, found through /proc (Linux only).

`serve` starts each child with `--port-file <tmp>/<role>.port.json`, so a child's role
("metadata-worker", "vector-worker-1", ..., "gateway") is the name of that file. Children
are read from /proc/<pid>/task/*/children, so no extra dependency is needed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

_ROLE = re.compile(r"--port-file\s+\S*/([A-Za-z0-9_-]+)\.port\.json")


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def child_pids(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def roles(serve_pid: int) -> dict[str, int]:
    """{role: pid} of the living children of `serve`."""
    by_role: dict[str, int] = {}
    for pid in child_pids(serve_pid):
        match = _ROLE.search(" ".join(cmdline(pid)))
        if match and alive(pid):
            by_role[match.group(1)] = pid
    return by_role


def flag(pid: int, name: str) -> str:
    """The value of `--name VALUE` on a process's command line."""
    argv = cmdline(pid)
    return argv[argv.index(name) + 1]


def wait_for_roles(serve_pid: int, expected: set[str], timeout: float = 30.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = roles(serve_pid)
        if expected <= set(found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"serve {serve_pid}: children {sorted(roles(serve_pid))}, "
                         f"expected {sorted(expected)} within {timeout}s")


def kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def _port_file(pid: int) -> dict:
    with open(flag(pid, "--port-file")) as fh:
        return json.load(fh)


def serving(pid: int) -> bool:
    """True once the child wrote its port file (each process does so after it is SERVING)."""
    try:
        return _port_file(pid).get("pid") == pid
    except (OSError, ValueError, IndexError):
        return False


def bound_port(pid: int) -> int:
    """The port a serving child bound (from its port file)."""
    return int(_port_file(pid)["port"])


def address(pid: int) -> str:
    """The address a serving child listens on: its Unix socket, else loopback and its port."""
    host = flag(pid, "--host")
    return host if host.startswith("unix:") else f"127.0.0.1:{bound_port(pid)}"


def wait_for_replacement(serve_pid: int, role: str, old_pid: int, timeout: float = 30.0) -> int:
    """The pid of the new `role` child that `serve` started after `old_pid` died, once it
    is serving."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = roles(serve_pid).get(role)
        if pid is not None and pid != old_pid and serving(pid):
            return pid
        time.sleep(0.05)
    raise AssertionError(f"serve {serve_pid} did not restart {role} within {timeout}s")


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Wait until none of `pids` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def log_lines_of(log_text: str, pid: int) -> list[str]:
    """Lines a process wrote in the shared serve log (the format puts `[pid]` after the logger)."""
    tag = f"[{pid}]"
    return [line for line in log_text.splitlines() if tag in line]
