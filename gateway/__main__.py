"""`python -m gateway` / `segmentdb gateway`: flags -> GatewayConfig -> serve()."""

from __future__ import annotations

import argparse
import sys

from gateway.config import SETTINGS, GatewayConfig, environment_defaults
from segmentdb import config_file

EXAMPLE = """example:
  segmentdb gateway --metadata 127.0.0.1:6001 --vector-workers 127.0.0.1:6101,127.0.0.1:6102 \\
      --port 50051

Every flag also reads a SEGMENTDB_* environment variable (e.g. SEGMENTDB_METADATA,
SEGMENTDB_VECTOR_WORKERS, SEGMENTDB_MAX_BATCH_SIZE) and a --config TOML file (top level
and [gateway]); flag > environment > file > default."""


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    defaults = environment_defaults(environ)
    parser = argparse.ArgumentParser(
        prog="segmentdb gateway",
        description="Serve the public segmentdb gRPC API, backed by a metadata worker "
        "and vector workers.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--metadata", default=defaults["metadata"], metavar="HOST:PORT",
                        help="the metadata worker (env SEGMENTDB_METADATA); required")
    parser.add_argument("--vector-workers", default=defaults["vector_workers"],
                        metavar="HOST:PORT[,HOST:PORT...]",
                        help="the vector workers (env SEGMENTDB_VECTOR_WORKERS); required")
    parser.add_argument("--host", default=defaults["host"],
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", default=defaults["port"],
                        help="port to listen on; 0 picks a free one (default 50051)")
    parser.add_argument("--port-file", default=defaults["port_file"], metavar="FILE",
                        help='write {"port": N, "pid": P} here once serving')
    parser.add_argument("--max-message-size", default=defaults["max_message_size"],
                        metavar="SIZE", help="largest message, e.g. 64MiB (default 256MiB)")
    parser.add_argument("--max-batch-size", default=defaults["max_batch_size"], metavar="N",
                        help="most records per add/upsert/update (default 100000)")
    parser.add_argument("--log-level", default=defaults["log_level"],
                        help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--auth-tokens-file", default=defaults["auth_tokens_file"],
                        metavar="FILE", help="JSON file of bearer tokens (tenants, role; see "
                        "docs/internals.md Security); env SEGMENTDB_AUTH_TOKENS_FILE; default: "
                        "no authentication")
    parser.add_argument("--tls-cert", default=defaults["tls_cert"], metavar="FILE",
                        help="PEM certificate (chain) of the public port; with --tls-key")
    parser.add_argument("--tls-key", default=defaults["tls_key"], metavar="FILE",
                        help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", default=defaults["tls_client_ca"], metavar="FILE",
                        help="PEM CA: require client certificates signed by it (mutual TLS)")
    parser.add_argument("--internal-token-file", default=defaults["internal_token_file"],
                        metavar="FILE", help="file holding the workers' shared internal token, "
                        "sent on every internal call")
    parser.add_argument("--log-format", default=defaults["log_format"], choices=["text", "json"],
                        type=str.lower,
                        help="text lines (default) or JSON lines (env SEGMENTDB_LOG_FORMAT)")
    parser.add_argument("--metrics-port", default=defaults["metrics_port"], metavar="PORT",
                        help="serve Prometheus metrics on http://METRICS_HOST:PORT/metrics; 0 "
                        "picks a free port (written to the port file); default: off")
    parser.add_argument("--metrics-host", default=defaults["metrics_host"], metavar="HOST",
                        help="address of the metrics endpoint (default 127.0.0.1)")
    parser.add_argument("--shutdown-grace", default=defaults["shutdown_grace"], metavar="SECONDS",
                        help="after SIGTERM, how long in-flight calls may finish (default 5)")
    parser.add_argument("--internal-tls-ca", default=defaults["internal_tls_ca"],
                        metavar="FILE", help="reach the metadata and vector workers over TLS "
                        "(health checks included), trusting only this PEM CA")
    parser.add_argument("--internal-tls-server-name",
                        default=defaults["internal_tls_server_name"], metavar="NAME",
                        help="check the workers' certificates against NAME instead of the "
                        "host in their addresses")
    parser.add_argument("--embedding-processes", default=defaults["embedding_processes"],
                        metavar="N", help="model processes of the embedding pool, started on "
                        "the first text to embed (env SEGMENTDB_EMBEDDING_PROCESSES; default 1)")
    parser.add_argument("--embedding-threads", default=defaults["embedding_threads"],
                        metavar="N", help="torch threads per embedding process (env "
                        "SEGMENTDB_EMBEDDING_THREADS; default auto = half the CPUs)")
    parser.add_argument("--embedding-max-batch", default=defaults["embedding_max_batch"],
                        metavar="N", help="most texts per model batch, from one or several "
                        "requests (env SEGMENTDB_EMBEDDING_MAX_BATCH; default 64)")
    parser.add_argument("--http-port", default=defaults["http_port"], metavar="PORT",
                        help="serve Chroma's HTTP API v2 here (default 8000; 0 = off; auto = "
                        "any free port, written to the port file as http_port); env "
                        "SEGMENTDB_HTTP_PORT")
    parser.add_argument("--http-host", default=defaults["http_host"], metavar="HOST",
                        help="address of the HTTP API (default 127.0.0.1)")
    parser.add_argument("--allow-reset", action="store_const", const="true",
                        default=defaults["allow_reset"],
                        help="let POST /api/v2/reset delete every tenant, database and "
                        "collection (default: refused); env SEGMENTDB_ALLOW_RESET=true")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file of settings (env SEGMENTDB_CONFIG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        environ = config_file.layered_environ(argv, "gateway", SETTINGS)
    except ValueError as exc:
        print(f"segmentdb gateway: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    try:
        config = GatewayConfig.from_strings(
            metadata=args.metadata,
            vector_workers=args.vector_workers,
            host=args.host,
            port=args.port,
            port_file=args.port_file,
            max_message_size=args.max_message_size,
            max_batch_size=args.max_batch_size,
            log_level=args.log_level,
            auth_tokens_file=args.auth_tokens_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            internal_token_file=args.internal_token_file,
            log_format=args.log_format,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            internal_tls_ca=args.internal_tls_ca,
            internal_tls_server_name=args.internal_tls_server_name,
            shutdown_grace=args.shutdown_grace,
            embedding_processes=args.embedding_processes,
            embedding_threads=args.embedding_threads,
            embedding_max_batch=args.embedding_max_batch,
            http_port=args.http_port,
            http_host=args.http_host,
            allow_reset=args.allow_reset,
        )
    except ValueError as exc:
        parser.error(str(exc))
    from gateway.server import serve  # imported late: --help needs no grpc

    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
