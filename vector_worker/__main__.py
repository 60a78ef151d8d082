"""`python -m vector_worker --path DIR --metadata HOST:PORT [...]` (also `segmentdb vector-worker`).

Example:
    python -m vector_worker --path ./segmentdb_data --metadata 127.0.0.1:50061 --port 0 \\
        --port-file /tmp/vw.json --memory-budget 2GiB --idle-ttl 600 --tail-interval 1
    python -m vector_worker --config segmentdb.toml --metrics-port 9092 --log-format json
"""

from __future__ import annotations

import argparse
import sys

from segmentdb import config_file, internal_auth, serving
from vector_worker import config as config_module
from vector_worker.server import serve


def parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    env = config_module.defaults(environ)
    p = argparse.ArgumentParser(
        prog="segmentdb vector-worker",
        description="Serve HNSW vector segments of a segmentdb data folder.",
        epilog="example: segmentdb vector-worker --path ./segmentdb_data "
               "--metadata 127.0.0.1:50061 --port 0 --port-file vw.json "
               "--memory-budget 2GiB --idle-ttl 600 --metrics-port 9092; every flag can "
               "also come from a SEGMENTDB_* environment variable or a --config TOML file "
               "(top level and [vector-worker]); flag > env > file > default",
    )
    p.add_argument("--path", default=env["path"], required=env["path"] is None,
                   help="data folder; segments in <path>/index/ (env SEGMENTDB_PATH)")
    p.add_argument("--metadata", default=env["metadata"], required=env["metadata"] is None,
                   help="HOST:PORT of the metadata worker (env SEGMENTDB_METADATA)")
    p.add_argument("--host", default=env["host"], help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", default=env["port"], help="port to bind; 0 = any free port")
    p.add_argument("--port-file", default=env["port_file"],
                   help='write {"port": N, "pid": P} here once SERVING')
    p.add_argument("--max-message-size", default=env["max_message_size"],
                   help="largest gRPC message, e.g. 256MiB (default)")
    p.add_argument("--log-level", default=env["log_level"], help="DEBUG, INFO, WARNING, ERROR")
    p.add_argument("--memory-budget", default=env["memory_budget"], metavar="SIZE",
                   help="bytes of loaded segments to stay within, e.g. 2GiB; least recently "
                        "used segments are saved and unloaded beyond it; auto = half of the "
                        "memory available to the process (the cgroup limit in "
                        "/sys/fs/cgroup/memory.max when set, else physical RAM) (default); "
                        "0 = unlimited (env SEGMENTDB_MEMORY_BUDGET)")
    p.add_argument("--idle-ttl", default=env["idle_ttl"], metavar="SECONDS",
                   help="unload segments unused for this long; 0 = never (default; env "
                        "SEGMENTDB_IDLE_TTL)")
    p.add_argument("--tail-interval", default=env["tail_interval"], metavar="SECONDS",
                   help="every this many seconds apply the write-ahead log to loaded segments "
                        "and save those due, so written but unqueried collections are saved "
                        "and the log purged; 0 = only when queried (default 1.0; env "
                        "SEGMENTDB_TAIL_INTERVAL)")
    p.add_argument("--name", default=env["name"],
                   help="a name stable across restarts (serve: vector-worker-N; Kubernetes: "
                        "the pod name): the worker remembers its loaded segments under it and "
                        "reloads them in the background after a restart, within the memory "
                        "budget (env SEGMENTDB_WORKER_NAME; default: off)")
    p.add_argument("--internal-token-file", default=env["internal_token_file"], metavar="FILE",
                   help="refuse calls (UNAUTHENTICATED) without the token in FILE (health "
                        "excepted) and send it to the metadata worker (env "
                        "SEGMENTDB_INTERNAL_TOKEN_FILE)")
    p.add_argument("--log-format", default=env["log_format"], choices=["text", "json"],
                   type=str.lower,
                   help="text lines (default) or JSON lines (env SEGMENTDB_LOG_FORMAT)")
    p.add_argument("--metrics-port", default=env["metrics_port"],
                   help="serve Prometheus metrics on http://METRICS_HOST:PORT/metrics; 0 "
                        "picks a free port (written to the port file); default: off (env "
                        "SEGMENTDB_METRICS_PORT)")
    p.add_argument("--metrics-host", default=env["metrics_host"],
                   help="address of the metrics endpoint (default 127.0.0.1; env "
                        "SEGMENTDB_METRICS_HOST)")
    p.add_argument("--shutdown-grace", default=env["shutdown_grace"], metavar="SECONDS",
                   help="after SIGTERM, how long in-flight calls may finish before segments "
                        "are persisted (default 5; env SEGMENTDB_SHUTDOWN_GRACE)")
    p.add_argument("--internal-tls-cert", default=env["internal_tls_cert"], metavar="FILE",
                   help="PEM certificate (chain): serve TLS only on the port, health "
                        "included; with --internal-tls-key (env SEGMENTDB_INTERNAL_TLS_CERT)")
    p.add_argument("--internal-tls-key", default=env["internal_tls_key"], metavar="FILE",
                   help="PEM private key of --internal-tls-cert (env "
                        "SEGMENTDB_INTERNAL_TLS_KEY)")
    p.add_argument("--internal-tls-ca", default=env["internal_tls_ca"], metavar="FILE",
                   help="reach the metadata worker over TLS, trusting only this PEM CA (env "
                        "SEGMENTDB_INTERNAL_TLS_CA)")
    p.add_argument("--internal-tls-server-name", default=env["internal_tls_server_name"],
                   metavar="NAME",
                   help="check the metadata worker's certificate against NAME instead of the "
                        "--metadata host (env SEGMENTDB_INTERNAL_TLS_SERVER_NAME)")
    p.add_argument("--config", metavar="FILE",
                   help="TOML file of settings (top level and [vector-worker]); env "
                        "SEGMENTDB_CONFIG")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        environ = config_file.layered_environ(argv, "vector-worker", config_module.ENVIRONMENT)
    except ValueError as exc:
        print(f"segmentdb vector-worker: {exc}", file=sys.stderr)
        return 1
    args = parser(environ).parse_args(argv)
    try:
        config = config_module.make_config(
            path=args.path, metadata=args.metadata, host=args.host, port=args.port,
            port_file=args.port_file, max_message_size=args.max_message_size,
            log_level=args.log_level, memory_budget=args.memory_budget,
            idle_ttl=args.idle_ttl, tail_interval=args.tail_interval, name=args.name,
            internal_token_file=args.internal_token_file,
            log_format=args.log_format, metrics_port=args.metrics_port,
            metrics_host=args.metrics_host, shutdown_grace=args.shutdown_grace,
            internal_tls_cert=args.internal_tls_cert, internal_tls_key=args.internal_tls_key,
            internal_tls_ca=args.internal_tls_ca,
            internal_tls_server_name=args.internal_tls_server_name)
        if config.tls:  # unreadable or not PEM: say so before starting
            config.tls.credentials()
        if config.internal_token_file:  # unreadable or malformed: say so before starting
            internal_auth.read_token_file(config.internal_token_file)
    except ValueError as exc:
        print(f"segmentdb vector-worker: {exc}", file=sys.stderr)
        return 1
    serving.configure_logging(config.log_level, config.log_format)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
