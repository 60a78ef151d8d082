"""`segmentdb serve`: the whole service on one machine, as supervised child processes.

The workers listen on Unix-domain sockets in the supervisor's private temp folder, the gateway
on the public TCP port. Socket paths are known before anything starts, so every child is
started at once (the gateway and vector workers tolerate a metadata worker that is still
coming up: their calls fail with UNAVAILABLE until it answers) and serve reports its port when
all of them have reported theirs. Unix sockets also keep the internal API off the network:
only the gateway is reachable from outside. A child that dies is restarted on the same
socket (the gateway on the port it had), so the others' addresses stay valid. SIGTERM/SIGINT
stop the children in reverse order: gateway first (no new requests), metadata worker last
(vector workers persist their segments while it can still answer).

Memory: vector workers default to `--memory-budget auto` (half the memory available to one
process). K of them on one machine would together claim K halves, so serve resolves `auto`
(its default) itself — half of the available memory divided by K — and passes each worker
that number explicitly. An explicit size is per worker, as given; 0 is unlimited.

Metrics: with `--metrics-port BASE` each child serves its own Prometheus endpoint: the gateway
on BASE, the metadata worker on BASE+1, vector worker N on BASE+1+N; BASE 0 lets each child
pick a free port. Each child reports its metrics port in its port file; serve logs them all
and writes them into its own port file as "metrics_ports" ({child name: port}). A restarted
child gets the port it had.

A data folder is served once: before starting anything, serve checks the metadata worker's
folder lock and exits with its message if another metadata worker holds it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from segmentdb import internal_token_file
from segmentdb.startup import write_port_file

log = logging.getLogger("segmentdb.serve")

START_TIMEOUT = 60.0  # seconds a child may take to write its port file
STOP_TIMEOUT = 30.0  # seconds a child may take to exit after SIGTERM
MAX_RESTART_DELAY = 10.0
STABLE_AFTER = 30.0  # a child up this long has its restart back-off reset
MAX_SOCKET_PATH = 100  # bytes; sun_path holds 108 with its NUL, less on some systems


@dataclass(frozen=True)
class ServeConfig:
    path: str
    host: str = "127.0.0.1"
    port: int = 50051
    vector_workers: int = 2
    port_file: Optional[str] = None
    max_message_size: Optional[str] = None
    max_batch_size: Optional[int] = None
    log_level: str = "INFO"
    parent_pid: Optional[int] = None  # stop when this process is gone (PersistentClient)
    # Each vector worker's --memory-budget: a size, 0 (unlimited), or None / "auto" = half of
    # the available memory divided by vector_workers (resolved here, passed on as bytes).
    # --idle-ttl is passed on as given (the worker's default if None).
    memory_budget: Optional[str] = None
    idle_ttl: Optional[str] = None
    # Passed on as given when set: vector workers' --tail-interval, the metadata worker's
    # --log-retention (their defaults otherwise).
    tail_interval: Optional[str] = None
    log_retention: Optional[str] = None
    # The gateway's security files, passed on as given (docs/internals.md "Security").
    auth_tokens_file: Optional[str] = None
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None
    tls_client_ca: Optional[str] = None
    log_format: str = "text"
    # BASE of the children's metrics ports (see the module docstring); None = no metrics.
    metrics_port: Optional[int] = None
    metrics_host: str = "127.0.0.1"
    # Passed on to every child (--config): their own [gateway] / [metadata-worker] /
    # [vector-worker] tables apply to what serve does not pass as a flag.
    config_file: Optional[str] = None
    # Each child's --shutdown-grace when set (their default, 5 s, otherwise).
    shutdown_grace: Optional[float] = None
    # The gateway's Chroma HTTP API (--http-port as given: None = the gateway's default
    # 8000, "0" = off, "auto" = any free port), --http-host, --allow-reset.
    http_port: Optional[str] = None
    http_host: Optional[str] = None
    allow_reset: bool = False


class StartError(RuntimeError):
    """A child did not come up."""


def _load_libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


# Loaded here, not in the forked child: importing after fork can deadlock.
_LIBC = _load_libc()
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # pragma: no cover - runs in the forked child
    # Own process group: a terminal's Ctrl-C reaches only the supervisor, which then stops
    # the children in order. PDEATHSIG: if the supervisor is killed, children get SIGTERM.
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


@dataclass
class Child:
    """One supervised process: `segmentdb <command> <args> --port P --port-file F`."""

    name: str
    command: list[str]
    host: str
    port_file: str
    port: int = 0
    process: Optional[subprocess.Popen] = None
    started_at: float = 0.0
    restart_delay: float = 0.5
    next_restart_at: float = 0.0
    # --metrics-port to pass (0 = any free one; learned from the port file, kept for
    # restarts); None = no metrics endpoint.
    metrics_port: Optional[int] = None
    # The gateway's --http-port; an "auto" one is learned from the port file and kept for
    # restarts, like the gRPC port, so clients find the API where it was.
    http_port: Optional[str] = None

    @property
    def address(self) -> str:
        if self.host.startswith("unix:"):
            return self.host
        return f"127.0.0.1:{self.port}" if self.host in ("0.0.0.0", "::", "") else f"{self.host}:{self.port}"

    def start(self, stopping: threading.Event) -> None:
        """Spawn and wait for the port file; raises StartError if it exits or times out."""
        self.spawn()
        self.wait_started(stopping)

    def spawn(self) -> None:
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        argv = [sys.executable, "-m", "segmentdb.cli", *self.command,
                "--host", self.host, "--port", str(self.port), "--port-file", self.port_file]
        if self.metrics_port is not None:
            argv += ["--metrics-port", str(self.metrics_port)]
        if self.http_port is not None:
            argv += ["--http-port", self.http_port]
        self.process = subprocess.Popen(argv, preexec_fn=_child_setup)
        self.started_at = time.monotonic()

    def wait_started(self, stopping: threading.Event) -> None:
        assert self.process is not None
        deadline = self.started_at + START_TIMEOUT
        while time.monotonic() < deadline and not stopping.is_set():
            code = self.process.poll()
            if code is not None:
                raise StartError(f"{self.name} exited with code {code} while starting")
            if os.path.exists(self.port_file):
                with open(self.port_file) as fh:
                    reported = json.load(fh)
                self.port = int(reported["port"])
                if self.metrics_port is not None and "metrics_port" in reported:
                    self.metrics_port = int(reported["metrics_port"])
                if "http_port" in reported:
                    self.http_port = str(reported["http_port"])
                log.info("%s serving on %s (pid %d)%s", self.name, self.address,
                         self.process.pid, "" if self.metrics_port is None
                         else f", metrics on port {self.metrics_port}")
                return
            time.sleep(0.01)  # a stat per 10 ms: cheap, and part of every cold start
        if stopping.is_set():
            raise StartError(f"{self.name}: stopped while starting")
        raise StartError(f"{self.name} did not report its port within {START_TIMEOUT:.0f}s")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Wait for exit after terminate(); True when it exited 0 in time."""
        if self.process is None:
            return True
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("%s did not stop within %.0fs; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait()
            return False
        if code != 0:
            log.error("%s exited with code %d on shutdown", self.name, code)
        return code == 0


def describe_exit(code: Optional[int]) -> str:
    """'exited with code 1' / 'was killed by SIGKILL (exit code -9)'."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"


def check_folder_not_served(path: str) -> None:
    """Raise FolderLockedError (the metadata worker's message) if `path` is already served.

    The metadata worker's own lock is the authority; checking it here first means a second
    `serve` fails at once with that message instead of starting and stopping children. The
    lock is released at once, so our own metadata worker can take it.
    """
    from metadata_worker.folder_lock import DB_FILENAME, FolderLock

    lock = FolderLock(Path(path) / DB_FILENAME)
    lock.acquire()
    lock.release()


def vector_worker_budget(config: ServeConfig) -> str:
    """Each vector worker's --memory-budget value (auto resolved to bytes), logged."""
    from vector_worker.memory_budget import AUTO, format_bytes, resolve

    budget, source = resolve(config.memory_budget or AUTO, config.vector_workers)
    described = "unlimited" if budget == 0 else f"{budget} bytes = {format_bytes(budget)} ({source})"
    log.info("memory budget per vector worker: %s", described)
    return str(budget)


class Supervisor:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.stopping = threading.Event()
        self._tmp = tempfile.mkdtemp(prefix="segmentdb-serve-")
        self.metadata: Optional[Child] = None
        self.vector_workers: list[Child] = []
        self.gateway: Optional[Child] = None
        self._sockets = True  # decided in start_all
        # A fresh internal token per serve, readable only by us (mkdtemp makes the folder
        # 0700, the file is 0600): workers refuse calls without it, so another local user
        # who finds a worker's socket or loopback port cannot call it.
        self._token_file = os.path.join(self._tmp, "internal-token")
        internal_token_file.write_token_file(self._token_file)

    def _common(self) -> list[str]:
        flags = ["--log-level", self.config.log_level, "--log-format", self.config.log_format,
                 "--internal-token-file", self._token_file]
        if self.config.config_file:
            flags += ["--config", self.config.config_file]
        if self.config.metrics_port is not None:
            flags += ["--metrics-host", self.config.metrics_host]
        if self.config.shutdown_grace is not None:
            flags += ["--shutdown-grace", str(self.config.shutdown_grace)]
        if self.config.max_message_size:
            flags += ["--max-message-size", str(self.config.max_message_size)]
        return flags

    def _child(self, name: str, command: list[str], host: str | None = None,
               port: int = 0, metrics_offset: int = 0) -> Child:
        if host is None:
            # Workers: a Unix socket in our private folder (host "unix:PATH", port unused),
            # or loopback TCP when socket paths would be too long (see start_all).
            host = f"unix:{self._socket_path(name)}" if self._sockets else "127.0.0.1"
        base = self.config.metrics_port
        metrics_port = None if base is None else (base + metrics_offset if base else 0)
        return Child(name, command, host, os.path.join(self._tmp, f"{name}.port.json"), port=port,
                     metrics_port=metrics_port)

    def _socket_path(self, name: str) -> str:
        return os.path.join(self._tmp, f"{name}.sock")

    def start_all(self) -> None:
        """Start every child. With Unix sockets, all at once (each address is known before
        its process starts); with loopback TCP (a TMPDIR so long that socket paths would pass
        the ~107-byte limit), one by one, each learning the previous ones' ports."""
        cfg = self.config
        longest = self._socket_path(f"vector-worker-{cfg.vector_workers}")
        self._sockets = len(longest) <= MAX_SOCKET_PATH

        def launch(child: Child) -> None:
            if self._sockets:
                child.spawn()
            else:
                child.start(self.stopping)

        retention = ["--log-retention", str(cfg.log_retention)] if cfg.log_retention else []
        self.metadata = self._child("metadata-worker", ["metadata-worker", "--path", cfg.path,
                                                        *retention, *self._common()],
                                    metrics_offset=1)
        launch(self.metadata)
        cache_flags = ["--memory-budget", vector_worker_budget(cfg)]
        if cfg.idle_ttl:
            cache_flags += ["--idle-ttl", str(cfg.idle_ttl)]
        if cfg.tail_interval:
            cache_flags += ["--tail-interval", str(cfg.tail_interval)]
        for i in range(cfg.vector_workers):
            worker = self._child(
                f"vector-worker-{i + 1}",
                ["vector-worker", "--path", cfg.path, "--metadata", self.metadata.address,
                 "--name", f"vector-worker-{i + 1}", *cache_flags, *self._common()],
                metrics_offset=2 + i,
            )
            self.vector_workers.append(worker)
            launch(worker)
        gateway_flags = ["gateway", "--metadata", self.metadata.address,
                         # Named: the sockets' temp folder changes every start, the names
                         # (and so each segment's owner, gateway.routing) do not.
                         "--vector-workers", ",".join(f"{w.name}={w.address}"
                                                      for w in self.vector_workers),
                         *self._common()]
        if cfg.max_batch_size:
            gateway_flags += ["--max-batch-size", str(cfg.max_batch_size)]
        for flag, value in (("--auth-tokens-file", cfg.auth_tokens_file),
                            ("--tls-cert", cfg.tls_cert), ("--tls-key", cfg.tls_key),
                            ("--tls-client-ca", cfg.tls_client_ca)):
            if value:
                gateway_flags += [flag, os.path.abspath(value)]
        if cfg.http_host:
            gateway_flags += ["--http-host", cfg.http_host]
        if cfg.allow_reset:
            gateway_flags += ["--allow-reset"]
        self.gateway = self._child("gateway", gateway_flags, host=cfg.host, port=cfg.port)
        self.gateway.http_port = cfg.http_port
        launch(self.gateway)
        if self._sockets:
            for child in self.children():
                child.wait_started(self.stopping)

    def metrics_ports(self) -> dict[str, int]:
        """{child name: its metrics port} of the children serving metrics."""
        return {c.name: c.metrics_port for c in self.children() if c.metrics_port is not None}

    def children(self) -> list[Child]:
        return [c for c in [self.metadata, *self.vector_workers, self.gateway] if c is not None]

    def supervise(self) -> None:
        """Restart children that die, until stopping is set (or the parent is gone)."""
        while not self.stopping.wait(0.2):
            if self.config.parent_pid and os.getppid() != self.config.parent_pid:
                log.info("parent process %d is gone; shutting down", self.config.parent_pid)
                self.stopping.set()
                break
            for child in self.children():
                if not child.alive() and not self.stopping.is_set():
                    self._restart(child)

    def _restart(self, child: Child) -> None:
        now = time.monotonic()
        if child.next_restart_at == 0.0:  # first notice of this exit
            code = child.process.returncode if child.process else None
            if now - child.started_at > STABLE_AFTER:
                child.restart_delay = 0.5
            log.warning("%s (pid %s) %s; restarting it on %s in %.1fs",
                        child.name, child.process.pid if child.process else "?",
                        describe_exit(code), child.address, child.restart_delay)
            child.next_restart_at = now + child.restart_delay
            child.restart_delay = min(child.restart_delay * 2, MAX_RESTART_DELAY)
            return
        if now < child.next_restart_at:
            return
        child.next_restart_at = 0.0
        try:
            child.start(self.stopping)
            log.info("%s restarted on %s", child.name, child.address)
        except StartError as exc:
            log.error("restart failed: %s", exc)

    def stop_all(self) -> bool:
        """Gateway, then vector workers, then the metadata worker. True if all stopped cleanly."""
        clean = True
        groups = [[self.gateway], self.vector_workers, [self.metadata]]
        for group in groups:
            members = [c for c in group if c is not None]
            for child in members:
                child.terminate()
            # A child may drain for its whole grace, then persist: wait past both.
            timeout = STOP_TIMEOUT + (self.config.shutdown_grace or 0)
            for child in members:
                clean = child.wait_stopped(timeout) and clean
        shutil.rmtree(self._tmp, ignore_errors=True)
        return clean


def serve(config: ServeConfig) -> int:
    """Run the service until SIGTERM/SIGINT; 0 when every child stopped cleanly."""
    os.makedirs(config.path, exist_ok=True)
    from metadata_worker.folder_lock import FolderLockedError

    try:
        check_folder_not_served(config.path)
    except FolderLockedError as exc:
        log.error("%s", exc)
        return 1
    supervisor = Supervisor(config)

    def on_signal(signum, _frame):
        log.info("signal %d: stopping gateway, vector workers, metadata worker", signum)
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        supervisor.start_all()
    except StartError as exc:
        if not supervisor.stopping.is_set():
            log.error("could not start: %s", exc)
            supervisor.stop_all()
            return 1
    if not supervisor.stopping.is_set():
        assert supervisor.gateway is not None
        ports = supervisor.metrics_ports()
        extra: dict[str, object] = {}
        if ports:
            extra["metrics_ports"] = ports
            log.info("metrics: %s", ", ".join(
                f"{name} http://{config.metrics_host}:{port}/metrics"
                for name, port in ports.items()))
        http_port = supervisor.gateway.http_port
        if http_port is not None and http_port not in ("0", "off"):
            extra["http_port"] = int(http_port)
            log.info("Chroma HTTP API on http://%s:%s/api/v2", config.http_host or "127.0.0.1",
                     http_port)
        write_port_file(config.port_file, supervisor.gateway.port, **extra)
        log.info("segmentdb serving on %s:%d (data: %s)", config.host, supervisor.gateway.port,
                 os.path.abspath(config.path))
        supervisor.supervise()
    clean = supervisor.stop_all()
    if config.port_file and os.path.exists(config.port_file):
        os.unlink(config.port_file)
    log.info("segmentdb stopped%s", "" if clean else " (a child did not stop cleanly)")
    return 0 if clean else 1
