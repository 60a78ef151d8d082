"""`segmentdb stats | reindex | pin | release`: commands that talk to a running service.

Each takes `--target HOST:PORT` (default: $SEGMENTDB_TARGET, else localhost:50051) and
`--token`. They use the SDK (segmentdb.Client), so errors arrive as segmentdb.errors classes;
cli.main prints them as one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Callable

from segmentdb import cli_connection


DEFAULT_TARGET = "localhost:50051"
# Statistics are read from memory; pin may load a segment. Reindex has no deadline: a large
# collection takes as long as it takes.
STATS_TIMEOUT_SECONDS = 30.0
PIN_TIMEOUT_SECONDS = 600.0

EXAMPLES = {
    "stats": "segmentdb stats --target localhost:50051 --json",
    "reindex": "segmentdb reindex --collection docs --target localhost:50051",
    "pin": "segmentdb pin docs --target localhost:50051",
    "release": "segmentdb release docs --target localhost:50051",
}
SUMMARIES = {
    "stats": "each vector worker's segment cache and the metadata worker's storage",
    "reindex": "rebuild vector indexes from SQLite (one collection or a whole database)",
    "pin": "keep a collection's index loaded (never evicted) until released",
    "release": "let a pinned collection be evicted again",
}


def add_commands(commands) -> None:
    """Add the four subcommands to `segmentdb`'s subparsers."""
    for name in EXAMPLES:
        parser = commands.add_parser(
            name, help=SUMMARIES[name], description=SUMMARIES[name] + ".",
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _connection_flags(parser)
        if name == "stats":
            parser.add_argument("--json", action="store_true",
                                help="print the statistics as JSON (for scripts)")
        elif name == "reindex":
            parser.add_argument("--collection", metavar="NAME",
                                help="only this collection (default: every collection of the "
                                     "database)")
            parser.add_argument("--json", action="store_true",
                                help="print the rebuilt collections as JSON")
            _scope_flags(parser)
        else:
            parser.add_argument("name", metavar="NAME", help="the collection's name")
            _scope_flags(parser)


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=os.environ.get("SEGMENTDB_TARGET", DEFAULT_TARGET),
                        metavar="HOST:PORT",
                        help="the gateway (default $SEGMENTDB_TARGET, else localhost:50051)")
    parser.add_argument("--token", default=os.environ.get("SEGMENTDB_TOKEN"),
                        help="bearer token, if the gateway requires one (env SEGMENTDB_TOKEN)")
    cli_connection.add_flags(parser)


def _scope_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default=os.environ.get("SEGMENTDB_TENANT", "default_tenant"),
                        help="tenant (default default_tenant)")
    parser.add_argument("--database",
                        default=os.environ.get("SEGMENTDB_DATABASE", "default_database"),
                        help="database (default default_database)")


def run(args: argparse.Namespace) -> int:
    """Run one of the commands; SegmentDBErrors propagate to cli.main."""
    # Imported here, not at the top: `segmentdb serve` parses its command line through this
    # module's parsers and must not pay for grpc before it starts its children.
    from segmentdb import errors
    from segmentdb.client import Client

    timeout = {"stats": STATS_TIMEOUT_SECONDS, "pin": PIN_TIMEOUT_SECONDS,
               "release": STATS_TIMEOUT_SECONDS}.get(args.command)
    scope = {"tenant": args.tenant, "database": args.database} if hasattr(args, "tenant") else {}
    client = Client(args.target, timeout=timeout, **scope, **cli_connection.client_options(args))
    try:
        return _COMMANDS[args.command](client, args)
    except errors.UnavailableError as exc:
        raise errors.UnavailableError(
            f"cannot reach segmentdb at {args.target} ({exc.message}); is it running? "
            "Set --target or SEGMENTDB_TARGET"
        ) from None
    finally:
        client.close()


def _stats(client, args) -> int:
    stats = client.stats()
    if args.json:
        print(json.dumps(stats, indent=2, sort_keys=True))
    else:
        print(render_stats(stats))
    return 0


def _reindex(client, args) -> int:
    rebuilt = client.reindex(args.collection)
    if args.json:
        print(json.dumps(rebuilt, indent=2, sort_keys=True))
        return 0
    rows = [[c["name"], str(c["records"]), f"{c['seconds']:.2f}", c["worker_address"] or "-"]
            for c in rebuilt]
    print(render_table(["collection", "records", "seconds", "worker"], rows))
    print(f"{len(rebuilt)} collection(s) reindexed")
    return 0


def _pin(client, args) -> int:
    address = client.get_collection(args.name).pin()
    print(f"{args.name} pinned on vector worker {address}")
    return 0


def _release(client, args) -> int:
    client.get_collection(args.name).release()
    print(f"{args.name} released")
    return 0


_COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "stats": _stats, "reindex": _reindex, "pin": _pin, "release": _release,
}


# ------------------------------------------------------------ rendering


def render_stats(stats: dict[str, Any]) -> str:
    """A table per worker row plus one line of storage, for people."""
    headers = ["worker", "up", "budget", "loaded", "rss", "peak rss", "segs", "pinned", "hits",
               "misses", "loads", "rebuilds", "evict", "load max s"]
    rows = []
    for w in stats["workers"]:
        if not w["reachable"]:
            rows.append([w["address"], "no"] + ["-"] * (len(headers) - 2))
            continue
        rows.append([
            w["address"], "yes",
            format_bytes(w["memory_budget_bytes"]) if w["memory_budget_bytes"] else "unlimited",
            format_bytes(w["loaded_bytes"]), format_bytes(w["resident_bytes"]),
            format_bytes(w["peak_resident_bytes"]), str(len(w["segments"])),
            str(sum(1 for s in w["segments"] if s["pinned"])), str(w["hits"]), str(w["misses"]),
            str(w["loads"]), str(w["rebuilds"]), str(w["evictions"]),
            f"{w['load_seconds_max']:.2f}",
        ])
    lines = [render_table(headers, rows)]
    for w in stats["workers"]:
        if not w["reachable"]:
            lines.append(f"{w['address']}: unreachable: {w['error']}")
    s = stats["storage"]
    lines.append(f"storage: {s['collections']} collections, {s['records']} records, "
                 f"{s['log_entries']} log entries, sqlite {format_bytes(s['sqlite_bytes'])}")
    return "\n".join(lines)


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers), fmt.format(*("-" * w for w in widths)),
             *(fmt.format(*row) for row in rows)]
    return "\n".join(line.rstrip() for line in lines)


def format_bytes(count: int) -> str:
    """1536 -> '1.5KiB' (binary units, like --memory-budget's suffixes)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")

