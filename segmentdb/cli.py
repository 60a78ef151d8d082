"""The `segmentdb` command.

    segmentdb serve --path ./segmentdb_data            # the whole service on one machine
    segmentdb gateway | metadata-worker | vector-worker  # one process (Kubernetes, debugging)
    segmentdb stats | reindex | pin | release            # operate a running service
    segmentdb backup | restore                           # online backup, verified restore
    segmentdb migrate | vacuum                           # schema upgrades, reclaiming disk
    segmentdb export | import                            # a collection to/from a file

Errors print as one line on stderr with exit code 1; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Optional

from segmentdb.version import __version__

# Subcommands whose flags belong to another package: `segmentdb gateway ...` calls
# gateway.__main__.main(argv) with the rest of the command line (imported only then).
PROCESS_COMMANDS = {
    "gateway": ("gateway.__main__", "serve the public gRPC API in front of the workers",
                "segmentdb gateway --metadata 127.0.0.1:6001 --vector-workers 127.0.0.1:6101 --port 50051"),
    "metadata-worker": ("metadata_worker.__main__", "own a data folder's chroma.sqlite3",
                        "segmentdb metadata-worker --path ./segmentdb_data --port 6001"),
    "vector-worker": ("vector_worker.__main__", "serve HNSW segments of a data folder",
                      "segmentdb vector-worker --path ./segmentdb_data --metadata 127.0.0.1:6001 --port 6101"),
}

SERVE_EXAMPLE = """example:
  segmentdb serve --path ./segmentdb_data --port 50051 --vector-workers 2

then, from Python:
  import segmentdb
  client = segmentdb.Client("localhost:50051")

Defaults also come from SEGMENTDB_* environment variables (SEGMENTDB_PATH, SEGMENTDB_PORT,
SEGMENTDB_MEMORY_BUDGET, ...) and from a TOML file (--config FILE or SEGMENTDB_CONFIG: top
level and [serve]; it is passed on to the children, whose own tables apply too);
flag > environment > file > default.
--memory-budget and --idle-ttl apply to each vector worker, e.g.
  segmentdb serve --path ./segmentdb_data --memory-budget 512MiB --idle-ttl 600
Metrics: --metrics-port BASE serves Prometheus metrics per child: gateway on BASE, metadata
worker on BASE+1, vector worker N on BASE+1+N (0 = free ports, listed in the port file), e.g.
  segmentdb serve --path ./segmentdb_data --metrics-port 9100 --log-format json"""

# serve's settings -> environment variables (segmentdb.config_file layers a file under them).
SERVE_SETTINGS = {
    "path": "SEGMENTDB_PATH", "host": "SEGMENTDB_HOST", "port": "SEGMENTDB_PORT",
    "vector_workers": "SEGMENTDB_VECTOR_WORKERS", "port_file": "SEGMENTDB_PORT_FILE",
    "max_message_size": "SEGMENTDB_MAX_MESSAGE_SIZE",
    "max_batch_size": "SEGMENTDB_MAX_BATCH_SIZE", "memory_budget": "SEGMENTDB_MEMORY_BUDGET",
    "idle_ttl": "SEGMENTDB_IDLE_TTL", "tail_interval": "SEGMENTDB_TAIL_INTERVAL",
    "log_retention": "SEGMENTDB_LOG_RETENTION", "log_level": "SEGMENTDB_LOG_LEVEL",
    "log_format": "SEGMENTDB_LOG_FORMAT", "metrics_port": "SEGMENTDB_METRICS_PORT",
    "metrics_host": "SEGMENTDB_METRICS_HOST", "shutdown_grace": "SEGMENTDB_SHUTDOWN_GRACE",
    "http_port": "SEGMENTDB_HTTP_PORT", "http_host": "SEGMENTDB_HTTP_HOST",
    "allow_reset": "SEGMENTDB_ALLOW_RESET",
}


# Modules adding subcommands: each has EXAMPLES, SUMMARIES, add_commands(subparsers), run(args).
# Imported only to parse a tool's command line: serve starts every child through this module,
# and four children importing all five cost ~60 ms of CPU on the path to the first answer.
TOOL_MODULE_NAMES = ("segmentdb.cli_admin", "segmentdb.cli_backup", "segmentdb.cli_chroma_import",
                     "segmentdb.cli_maintenance", "segmentdb.cli_transfer")


def tool_modules() -> tuple:
    return tuple(importlib.import_module(name) for name in TOOL_MODULE_NAMES)


class CommandError(Exception):
    """A user error in the command line: printed as one line, exit 1."""


def _top_level_epilog() -> str:
    lines = ["commands:", "  serve            run metadata worker, vector workers and gateway, supervised",
             "                   e.g. segmentdb serve --path ./segmentdb_data"]
    for name, (_module, summary, example) in PROCESS_COMMANDS.items():
        lines.append(f"  {name:<16} {summary}")
        lines.append(f"                   e.g. {example}")
    for module in tool_modules():
        for name, example in module.EXAMPLES.items():
            lines.append(f"  {name:<16} {module.SUMMARIES[name]}")
            lines.append(f"                   e.g. {example}")
    lines.append("\n`segmentdb COMMAND --help` shows a command's flags.")
    return "\n".join(lines)


def build_parser(environ: Optional[dict] = None, tools: bool = True) -> argparse.ArgumentParser:
    """The whole command line; `tools=False` leaves out the tool commands (serve's own
    parse: the supervisor spawns nothing until it is done)."""
    parser = argparse.ArgumentParser(
        prog="segmentdb",
        description="segmentdb: a Chroma-style vector database served over gRPC.",
        epilog=_top_level_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"segmentdb {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands, os.environ if environ is None else environ)
    for module in tool_modules() if tools else ():
        module.add_commands(commands)
    for name, (_module, summary, _example) in PROCESS_COMMANDS.items():
        # Placeholders for the listing; the real parsing is the package's own main().
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def _add_serve(commands, env) -> None:
    serve = commands.add_parser(
        "serve", help="run the whole service on one machine",
        description="Run the metadata worker, K vector workers and the gateway as supervised "
        "child processes; a child that dies is restarted on the same port. SIGTERM/SIGINT "
        "stop them in reverse order.",
        epilog=SERVE_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--path", default=env.get("SEGMENTDB_PATH", "./segmentdb_data"),
                       help="the data folder (default ./segmentdb_data)")
    serve.add_argument("--host", default=env.get("SEGMENTDB_HOST", "127.0.0.1"),
                       help="address the gateway listens on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=int(env.get("SEGMENTDB_PORT", "50051")),
                       help="gateway port; 0 picks a free one (default 50051)")
    serve.add_argument("--vector-workers", type=_count("--vector-workers"),
                       default=env.get("SEGMENTDB_VECTOR_WORKERS", "2"), metavar="K",
                       help="number of vector worker processes (default 2)")
    serve.add_argument("--port-file", metavar="FILE", default=env.get("SEGMENTDB_PORT_FILE"),
                       help='write {"port": N, "pid": P} here once the gateway serves')
    serve.add_argument("--max-message-size", default=env.get("SEGMENTDB_MAX_MESSAGE_SIZE"),
                       metavar="SIZE", help="largest gRPC message, e.g. 64MiB (default 256MiB)")
    serve.add_argument("--max-batch-size", type=int, default=env.get("SEGMENTDB_MAX_BATCH_SIZE"),
                       metavar="N", help="most records per add/upsert/update (default 100000)")
    serve.add_argument("--memory-budget", default=env.get("SEGMENTDB_MEMORY_BUDGET"),
                       metavar="SIZE", help="each vector worker's segment memory budget, e.g. "
                       "512MiB; default auto = half of the available memory (cgroup limit, "
                       "else RAM) divided among the vector workers; 0 = unlimited")
    serve.add_argument("--idle-ttl", default=env.get("SEGMENTDB_IDLE_TTL"), metavar="SECONDS",
                       help="unload segments idle this long (default: the vector worker's)")
    serve.add_argument("--tail-interval", default=env.get("SEGMENTDB_TAIL_INTERVAL"),
                       metavar="SECONDS", help="how often vector workers apply new log entries "
                       "to loaded segments in the background (default 1.0; 0 = only on queries)")
    serve.add_argument("--log-retention", default=env.get("SEGMENTDB_LOG_RETENTION"),
                       metavar="ENTRIES", help="log entries a collection may keep beyond its "
                       "last saved segment before the oldest are purged (default 100000; 0 = "
                       "keep until saved)")
    serve.add_argument("--log-level", default=env.get("SEGMENTDB_LOG_LEVEL", "INFO"),
                       choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
                       help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    serve.add_argument("--auth-tokens-file", default=env.get("SEGMENTDB_AUTH_TOKENS_FILE"),
                       metavar="FILE", help="require bearer tokens listed in this JSON file "
                       "(per tenant, read/write/admin; docs/internals.md Security); default: "
                       "no authentication")
    serve.add_argument("--tls-cert", default=env.get("SEGMENTDB_TLS_CERT"), metavar="FILE",
                       help="serve TLS on the gateway port with this PEM certificate (chain)")
    serve.add_argument("--tls-key", default=env.get("SEGMENTDB_TLS_KEY"), metavar="FILE",
                       help="PEM private key of --tls-cert")
    serve.add_argument("--tls-client-ca", default=env.get("SEGMENTDB_TLS_CLIENT_CA"),
                       metavar="FILE", help="require client certificates signed by this PEM CA "
                       "(mutual TLS)")
    serve.add_argument("--log-format", default=env.get("SEGMENTDB_LOG_FORMAT", "text"),
                       choices=["text", "json"], type=str.lower,
                       help="text lines (default) or JSON lines, for serve and every child")
    serve.add_argument("--metrics-port", default=env.get("SEGMENTDB_METRICS_PORT"),
                       metavar="BASE", help="Prometheus metrics per child: gateway on BASE, "
                       "metadata worker BASE+1, vector worker N on BASE+1+N; 0 = free ports "
                       "(in --port-file as metrics_ports); default: off")
    serve.add_argument("--metrics-host", default=env.get("SEGMENTDB_METRICS_HOST", "127.0.0.1"),
                       help="address of the children's metrics endpoints (default 127.0.0.1)")
    serve.add_argument("--shutdown-grace", default=env.get("SEGMENTDB_SHUTDOWN_GRACE"),
                       metavar="SECONDS", help="after SIGTERM, how long each child's in-flight "
                       "calls may finish (default 5)")
    serve.add_argument("--http-port", default=env.get("SEGMENTDB_HTTP_PORT"), metavar="PORT",
                       help="the gateway serves Chroma's HTTP API v2 here (default 8000; 0 = "
                       "off; auto = any free port, in --port-file as http_port)")
    serve.add_argument("--http-host", default=env.get("SEGMENTDB_HTTP_HOST"), metavar="HOST",
                       help="address of the HTTP API (default 127.0.0.1)")
    serve.add_argument("--allow-reset", action="store_const", const="true",
                       default=env.get("SEGMENTDB_ALLOW_RESET"),
                       help="let POST /api/v2/reset delete all data (default: refused)")
    serve.add_argument("--config", metavar="FILE",
                       help="TOML file of settings (env SEGMENTDB_CONFIG), passed on to children")
    serve.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)


def _count(flag: str):
    def parse(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes") from None

    parse.__name__ = flag
    return parse


def _run_serve(args: argparse.Namespace) -> int:
    from segmentdb.startup import configure_logging
    from segmentdb.supervisor import ServeConfig, serve
    from segmentdb.units import parse_size

    if args.vector_workers < 1:
        raise CommandError("--vector-workers: must be at least 1")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port: {args.port} is not a TCP port (0-65535; 0 picks a free one)")
    if args.max_message_size:
        try:
            parse_size(args.max_message_size)
        except ValueError as exc:
            raise CommandError(f"--max-message-size: {exc}") from None
    if args.memory_budget and args.memory_budget.strip().lower() != "auto":
        try:
            parse_size(args.memory_budget)
        except ValueError as exc:
            raise CommandError(f"--memory-budget: {exc}") from None
    if args.idle_ttl:
        try:
            ttl = float(args.idle_ttl)
        except ValueError:
            raise CommandError(f"--idle-ttl: {args.idle_ttl!r} is not a number of seconds") from None
        if ttl < 0:
            raise CommandError("--idle-ttl: must be 0 (never unload idle segments) or more seconds")
    if args.tail_interval:
        try:
            interval = float(args.tail_interval)
        except ValueError:
            raise CommandError(f"--tail-interval: {args.tail_interval!r} is not a number of seconds") from None
        if interval < 0:
            raise CommandError("--tail-interval: must be 0 (off) or more seconds")
    if args.log_retention:
        if not str(args.log_retention).isdigit():
            raise CommandError(f"--log-retention: {args.log_retention!r} is not a whole number of "
                               "entries (0 = keep until segments are saved)")
    if args.max_batch_size is not None and int(args.max_batch_size) < 1:
        raise CommandError("--max-batch-size: must be at least 1")
    if os.path.exists(args.path) and not os.path.isdir(args.path):
        raise CommandError(f"--path: {args.path!r} exists and is not a folder")
    _check_security_files(args)
    from segmentdb.config_file import (parse_bool, parse_http_port, parse_metrics_port,
                                       parse_shutdown_grace)

    try:
        metrics_base = parse_metrics_port(args.metrics_port)
        if args.http_port is not None:
            parse_http_port(args.http_port)
        allow_reset = parse_bool(args.allow_reset, "--allow-reset")
        grace = (parse_shutdown_grace(args.shutdown_grace)
                 if args.shutdown_grace is not None else None)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if metrics_base and metrics_base + 1 + args.vector_workers > 65535:
        raise CommandError(f"--metrics-port: {metrics_base} + {1 + args.vector_workers} "
                           "children passes 65535")
    configure_logging(args.log_level, args.log_format)
    config = ServeConfig(
        path=args.path, host=args.host, port=args.port, vector_workers=args.vector_workers,
        port_file=args.port_file, max_message_size=args.max_message_size,
        max_batch_size=int(args.max_batch_size) if args.max_batch_size else None,
        log_level=args.log_level, parent_pid=args.parent_pid,
        memory_budget=args.memory_budget or None, idle_ttl=args.idle_ttl or None,
        tail_interval=args.tail_interval or None, log_retention=args.log_retention or None,
        auth_tokens_file=args.auth_tokens_file or None, tls_cert=args.tls_cert or None,
        tls_key=args.tls_key or None, tls_client_ca=args.tls_client_ca or None,
        log_format=args.log_format, metrics_port=metrics_base, metrics_host=args.metrics_host,
        # SEGMENTDB_CONFIG, when it names the file, reaches the children by inheritance.
        shutdown_grace=grace, config_file=args.config,
        http_port=str(args.http_port).strip().lower() if args.http_port is not None else None,
        http_host=args.http_host or None, allow_reset=allow_reset,
    )
    return serve(config)


def _check_security_files(args: argparse.Namespace) -> None:
    """Refuse at once what the gateway child would refuse (it reads the files itself)."""
    from segmentdb.tls import ServerTls

    try:
        ServerTls.from_flags(args.tls_cert, args.tls_key, args.tls_client_ca)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    for flag, value in (("--auth-tokens-file", args.auth_tokens_file),
                        ("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key),
                        ("--tls-client-ca", args.tls_client_ca)):
        if value and not os.path.isfile(value):
            raise CommandError(f"{flag}: {value!r} is not a readable file")


def _run_process_command(name: str, argv: list[str]) -> int:
    module = importlib.import_module(PROCESS_COMMANDS[name][0])
    result = module.main(argv)
    return int(result or 0)


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[: _command_index(argv)]
    try:
        index = _command_index(argv)
        if index < len(argv) and argv[index] in PROCESS_COMMANDS:
            return _run_process_command(argv[index], argv[index + 1:])
        environ = None
        if index < len(argv) and argv[index] == "serve":
            from segmentdb.config_file import layered_environ

            environ = layered_environ(argv[index + 1:], "serve", SERVE_SETTINGS)
        serving = index < len(argv) and argv[index] == "serve"
        args = build_parser(environ, tools=not serving).parse_args(argv)
        if args.command == "serve":
            return _run_serve(args)
        for module in tool_modules():
            if args.command in module.EXAMPLES:
                return module.run(args)
        build_parser().print_help(sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place errors become one stderr line
        if debug:
            raise
        logging.shutdown()
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        print(f"segmentdb: error: {message}", file=sys.stderr)
        return 1


def _command_index(argv: list[str]) -> int:
    """Position of the subcommand: the first argument that is not a global flag."""
    for i, arg in enumerate(argv):
        if arg != "--debug":
            return i
    return len(argv)


if __name__ == "__main__":
    sys.exit(main())
