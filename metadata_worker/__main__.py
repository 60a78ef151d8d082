"""`python -m metadata_worker --path DIR` (also `segmentdb metadata-worker`)."""

from __future__ import annotations

import argparse
import sys

from segmentdb import config_file, serving

from metadata_worker import config as config_module
from metadata_worker.migrate import MigrationError
from metadata_worker.store import FolderLockedError

EXAMPLE = """example:
  python -m metadata_worker --path ./segmentdb_data --port 0 --port-file /tmp/mw.json
  python -m metadata_worker --path ./segmentdb_data --log-retention 200000
  python -m metadata_worker --config segmentdb.toml --metrics-port 9091 --log-format json

Every flag can also come from a config file (--config FILE, TOML; env SEGMENTDB_CONFIG) and
an environment variable, which wins over the file (a flag wins over both): """ + ", ".join(
    f"--{name.replace('_', '-')}={env}" for name, env in config_module.ENVIRONMENT.items()
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="segmentdb metadata-worker",
        description="Serve <path>/chroma.sqlite3 (collections, records, the log) over gRPC.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--path", help="data folder (created if missing)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", help="port to bind; 0 picks a free one (default 0)")
    p.add_argument("--port-file", dest="port_file",
                   help='write {"port": N, "pid": P} here once SERVING')
    p.add_argument("--max-message-size", dest="max_message_size",
                   help="largest gRPC message, e.g. 256MiB (default 256MiB)")
    p.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING... (default INFO)")
    p.add_argument("--log-format", dest="log_format", choices=["text", "json"], type=str.lower,
                   help="text lines (default) or JSON lines")
    p.add_argument("--metrics-port", dest="metrics_port",
                   help="serve Prometheus metrics on http://METRICS_HOST:PORT/metrics; "
                        "0 picks a free port (written to the port file); default: off")
    p.add_argument("--metrics-host", dest="metrics_host",
                   help="address of the metrics endpoint (default 127.0.0.1)")
    p.add_argument("--shutdown-grace", dest="shutdown_grace", metavar="SECONDS",
                   help="after SIGTERM, how long in-flight calls may finish (default 5)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML file of settings (top level and [metadata-worker]); "
                        "env SEGMENTDB_CONFIG")
    p.add_argument("--log-retention", dest="log_retention", metavar="ENTRIES",
                   help="after a write, if a collection keeps more than ENTRIES log entries, "
                        "purge all but the newest ENTRIES/2 (vector segments behind them "
                        "rebuild from SQLite); 0 keeps entries until segments are saved "
                        f"(default {config_module.DEFAULT_LOG_RETENTION})")
    p.add_argument("--internal-token-file", dest="internal_token_file", metavar="FILE",
                   help="refuse calls (UNAUTHENTICATED) that do not carry the token in FILE "
                        "(health checks excepted); the gateway and vector workers send it")
    p.add_argument("--internal-tls-cert", dest="internal_tls_cert", metavar="FILE",
                   help="PEM certificate (chain): serve TLS only on the port, health "
                        "included; with --internal-tls-key (callers need --internal-tls-ca)")
    p.add_argument("--internal-tls-key", dest="internal_tls_key", metavar="FILE",
                   help="PEM private key of --internal-tls-cert")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        environ = config_file.layered_environ(argv, "metadata-worker", config_module.ENVIRONMENT)
        config = config_module.resolve(vars(args), environ)
    except ValueError as exc:
        print(f"metadata-worker: {exc}", file=sys.stderr)
        return 2
    serving.configure_logging(config.log_level, config.log_format)
    from metadata_worker.server import serve  # after logging is configured

    try:
        serve(config)
    except (FolderLockedError, MigrationError, OSError, ValueError) as exc:
        print(f"metadata-worker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
