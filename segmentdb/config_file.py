"""Settings from a TOML file (`--config FILE` or SEGMENTDB_CONFIG), under flags and the
environment: flag > SEGMENTDB_* environment variable > config file > default.

The file's settings are spelled like the flags without their dashes (`memory-budget =
"2GiB"` or `memory_budget = "2GiB"`). Top-level settings apply to every process that has
them (a process ignores the ones it does not have, so one file can serve a whole
deployment); a table per process (`[serve]`, `[gateway]`, `[metadata-worker]`,
`[vector-worker]`) applies to that process only and wins over the top level:

    log-format = "json"
    metrics-port = 9090

    [vector-worker]
    memory-budget = "2GiB"
    idle-ttl = 600

The file is applied as a layer under the environment: each of its settings becomes the value
of the setting's SEGMENTDB_* variable unless that variable is set. The processes' config
modules then read flags over that mapping exactly as they read flags over the environment,
so the precedence holds for every setting without each one knowing about files. A name that
no process has, or that the process's own table does not have, is an error naming it (a
typo must not be silently ignored).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CONFIG_ENV = "SEGMENTDB_CONFIG"
PROCESSES = ("serve", "gateway", "metadata-worker", "vector-worker")



def all_settings() -> set[str]:
    """Every setting name any process has: the union of the processes' own tables.

    Imported only when a file names a setting the reading process lacks (the config modules
    import grpc, which serve would rather not load before starting its children).
    """
    from gateway.config import SETTINGS as gateway
    from metadata_worker.config import ENVIRONMENT as metadata
    from segmentdb.cli import SERVE_SETTINGS as serve
    from vector_worker.config import ENVIRONMENT as vector

    return {*gateway, *metadata, *serve, *vector}


class ConfigFileError(ValueError):
    """The config file is missing, not TOML, or names an unknown setting."""


def config_path(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str | None:
    """The file named by `--config FILE` / `--config=FILE` in argv, else SEGMENTDB_CONFIG."""
    environ = os.environ if environ is None else environ
    for i, arg in enumerate(argv):
        if arg == "--config":
            if i + 1 >= len(argv):
                raise ConfigFileError("--config: give the path of a TOML file")
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return environ.get(CONFIG_ENV) or None


def _value(key: str, value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return ",".join(str(v) for v in value)  # vector-workers = ["a:1", "b:2"]
    raise ConfigFileError(f"{where}: {key} = {value!r} must be a string, number, boolean "
                          "or list of strings")


def load(path: str, process: str, settings: Mapping[str, str]) -> dict[str, str]:
    """The file's values for `process` as {environment variable: value}.

    `settings` maps the process's setting names to their environment variables.
    """
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}")
    try:
        with open(path, "rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigFileError(f"--config: {path} does not exist") from None
    except OSError as exc:
        raise ConfigFileError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config: {path} is not valid TOML: {exc}") from None
    values: dict[str, str] = {}
    own: dict[str, object] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            if key not in PROCESSES:
                raise ConfigFileError(f"{path}: unknown table [{key}]; tables are "
                                      + ", ".join(f"[{p}]" for p in PROCESSES))
            if key == process:
                own = value
            continue
        name = key.replace("-", "_")
        if name in settings:
            values[settings[name]] = _value(key, value, path)
            continue
        known = all_settings()
        if name not in known:
            raise ConfigFileError(f"{path}: unknown setting {key!r}; settings are "
                                  + ", ".join(sorted(n.replace('_', '-') for n in known)))
    for key, value in own.items():
        name = key.replace("-", "_")
        if name not in settings:
            raise ConfigFileError(f"{path}: [{process}] has no setting {key!r}; its settings "
                                  "are " + ", ".join(sorted(n.replace('_', '-')
                                                            for n in settings)))
        values[settings[name]] = _value(key, value, f"{path} [{process}]")
    return values


def layered_environ(argv: Sequence[str], process: str, settings: Mapping[str, str],
                    environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the config file's values under it (the environment wins)."""
    environ = dict(os.environ if environ is None else environ)
    path = config_path(argv, environ)
    if not path:
        return environ
    return {**load(path, process, settings), **environ}


def parse_metrics_port(value: object) -> int | None:
    """--metrics-port: None or "" = no metrics endpoint, 0 = any free port, else the port."""
    if value is None or str(value).strip() == "":
        return None
    try:
        port = int(str(value).strip())
    except ValueError:
        raise ValueError(f"--metrics-port: {value!r} is not a port number (0 picks a free "
                         "one; unset = no metrics endpoint; env SEGMENTDB_METRICS_PORT)") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--metrics-port: {port} is outside 0-65535")
    return port


DEFAULT_SHUTDOWN_GRACE = 5.0


def parse_shutdown_grace(value: object) -> float:
    """--shutdown-grace: seconds in-flight calls get to finish after SIGTERM."""
    if value is None or str(value).strip() == "":
        return DEFAULT_SHUTDOWN_GRACE
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"--shutdown-grace: {value!r} is not a number of seconds >= 0 (how "
                         "long in-flight calls may finish after SIGTERM; env "
                         "SEGMENTDB_SHUTDOWN_GRACE)")
    return seconds


def parse_log_format(value: object) -> str:
    fmt = str(value or "text").strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"--log-format: {value!r} is not text or json "
                         "(env SEGMENTDB_LOG_FORMAT)")
    return fmt


def parse_http_port(value: str | int | None) -> int | None:
    """--http-port: a port, 0 / "off" = no HTTP API (None), "auto" = any free port (0)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("0", "off", ""):
        return None
    if text == "auto":
        return 0
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"--http-port: {value!r} is not a port number (0 = off, auto = any "
                         "free port)") from None
    if not 0 < port <= 65535:
        raise ValueError(f"--http-port: {port} is not a TCP port (1-65535; 0 = off, auto = "
                         "any free port)")
    return port


def parse_bool(value: str | bool | None, flag: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{flag}: expected true or false, got {value!r}")
