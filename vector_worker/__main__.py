"""`python -m vector_worker --path DIR --metadata HOST:PORT [...]` (also `segmentdb vector-worker`).

Example:
    python -m vector_worker --path ./segmentdb_data --metadata 127.0.0.1:50061 --port 0 \\
        --port-file /tmp/vw.json --memory-budget 2GiB --idle-ttl 600 --tail-interval 1
"""

from __future__ import annotations

import argparse
import sys

from segmentdb import internal_auth, serving
from vector_worker import config as config_module
from vector_worker.server import serve


def parser() -> argparse.ArgumentParser:
    env = config_module.defaults()
    p = argparse.ArgumentParser(
        prog="segmentdb vector-worker",
        description="Serve HNSW vector segments of a segmentdb data folder.",
        epilog="example: segmentdb vector-worker --path ./segmentdb_data "
               "--metadata 127.0.0.1:50061 --port 0 --port-file vw.json "
               "--memory-budget 2GiB --idle-ttl 600",
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = config_module.make_config(
            path=args.path, metadata=args.metadata, host=args.host, port=args.port,
            port_file=args.port_file, max_message_size=args.max_message_size,
            log_level=args.log_level, memory_budget=args.memory_budget,
            idle_ttl=args.idle_ttl, tail_interval=args.tail_interval, name=args.name,
            internal_token_file=args.internal_token_file)
        if config.internal_token_file:  # unreadable or malformed: say so before starting
            internal_auth.read_token_file(config.internal_token_file)
    except ValueError as exc:
        print(f"segmentdb vector-worker: {exc}", file=sys.stderr)
        return 1
    serving.configure_logging(config.log_level)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
