"""`segmentdb migrate | vacuum`: schema upgrades and reclaiming disk.

- `migrate --path DIR [--dry-run] [--json]` works on the data folder itself
  (metadata_worker.offline_migrate): --dry-run lists the pending migrations (version, file,
  sha256) and changes nothing; without it they run, after a backup, and the command is
  refused while a metadata worker holds the folder's lock.
- `vacuum --target HOST:PORT` asks a running service (AdminService.Vacuum);
  `vacuum --path DIR` vacuums a stopped folder in this process (segmentdb.offline_vacuum,
  refused while the folder is locked). Both print bytes before/after (SQLite file + -wal +
  index folders); `--json` prints the whole result for scripts.
Errors reach cli.main, which prints them as one line with exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from segmentdb.cli_admin import DEFAULT_TARGET, format_bytes, render_table
from segmentdb.maintenance import DEFAULT_MIN_DELETED_FRACTION
from segmentdb import cli_connection

EXAMPLES = {
    "migrate": "segmentdb migrate --path ./segmentdb_data --dry-run --json",
    "vacuum": "segmentdb vacuum --target localhost:50051",
}
SUMMARIES = {
    "migrate": "list (--dry-run) or apply pending schema migrations of a stopped data folder",
    "vacuum": "reclaim disk: purge the applied log, rebuild indexes full of deleted entries, "
              "VACUUM SQLite",
}
_MORE_EXAMPLES = {
    "migrate": ["segmentdb migrate --path ./segmentdb_data        # backup, then apply all"],
    "vacuum": ["segmentdb vacuum --path ./segmentdb_data --json  # a stopped folder",
               "segmentdb vacuum --target localhost:50051 --min-deleted-fraction 0.5"],
}


def add_commands(commands) -> None:
    """Add `migrate` and `vacuum` to `segmentdb`'s subparsers."""
    for name in EXAMPLES:
        examples = "\n  ".join([EXAMPLES[name], *_MORE_EXAMPLES[name]])
        parser = commands.add_parser(
            name, help=SUMMARIES[name], description=SUMMARIES[name] + ".",
            epilog=f"example:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        if name == "migrate":
            parser.add_argument("--path", default=os.environ.get("SEGMENTDB_PATH",
                                                                 "./segmentdb_data"),
                                help="the data folder (default $SEGMENTDB_PATH, else "
                                     "./segmentdb_data)")
            parser.add_argument("--dry-run", action="store_true",
                                help="list the pending migrations (version, file, sha256); "
                                     "change nothing")
            continue
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--path", help="vacuum this stopped data folder directly")
        where.add_argument("--target", metavar="HOST:PORT",
                           help="vacuum a running service (default $SEGMENTDB_TARGET, else "
                                f"{DEFAULT_TARGET})")
        parser.add_argument("--token", default=os.environ.get("SEGMENTDB_TOKEN"),
                            help="bearer token, if the gateway requires one (env "
                                 "SEGMENTDB_TOKEN)")
        cli_connection.add_flags(parser)
        parser.add_argument("--min-deleted-fraction", type=float, metavar="F",
                            default=DEFAULT_MIN_DELETED_FRACTION,
                            help="rebuild a vector index once this fraction of its entries "
                                 f"is deleted (default {DEFAULT_MIN_DELETED_FRACTION})")


def run(args: argparse.Namespace) -> int:
    return _migrate(args) if args.command == "migrate" else _vacuum(args)


# ------------------------------------------------------------ migrate


def _migration(m) -> dict[str, Any]:
    return {"version": m.version, "filename": m.filename, "sha256": m.sha256}


def _migrate(args: argparse.Namespace) -> int:
    from metadata_worker import offline_migrate

    if args.dry_run:
        plan = offline_migrate.plan(args.path)
        result = {"path": str(args.path), "database": str(plan.db_path), "dry_run": True,
                  "schema_version": plan.state.version,
                  "known_version": plan.state.known_version,
                  "pending": [_migration(m) for m in plan.state.pending], "backup": None}
    else:
        plan, upgrade = offline_migrate.run(args.path)
        result = {"path": str(args.path), "database": str(plan.db_path), "dry_run": False,
                  "schema_version": upgrade.to_version, "from_version": upgrade.from_version,
                  "known_version": plan.state.known_version,
                  "applied": [_migration(m) for m in plan.state.pending],
                  "backup": str(upgrade.backup) if upgrade.backup else None}
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(render_migrate(result))
    return 0


def render_migrate(result: dict[str, Any]) -> str:
    listed = result["pending"] if result["dry_run"] else result["applied"]
    rows = [[f"{m['version']:04d}", m["filename"], m["sha256"]] for m in listed]
    if result["dry_run"]:
        head = (f"{result['database']}: schema version {result['schema_version']}; this "
                f"segmentdb knows up to {result['known_version']}")
        if not rows:
            return head + "\nnothing to migrate"
        return "\n".join([
            head, f"{len(rows)} pending migration(s):", render_table(
                ["version", "file", "sha256"], rows),
            "dry run: nothing changed. Without --dry-run, a backup of the database is taken "
            "next to it first, then all of them run in one transaction."])
    if not rows:
        return (f"{result['database']}: already at schema version {result['schema_version']}; "
                "nothing to migrate")
    lines = [f"{result['database']}: migrated from schema version {result['from_version']} "
             f"to {result['schema_version']}", render_table(["version", "file", "sha256"], rows)]
    if result["backup"]:
        lines.append(f"backup of the previous version: {result['backup']}")
    return "\n".join(lines)


# ------------------------------------------------------------ vacuum


def _vacuum(args: argparse.Namespace) -> int:
    if args.path:
        result = _vacuum_offline(args)
    else:
        result = _vacuum_online(args)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(render_vacuum(result))
    return 0


def _vacuum_offline(args: argparse.Namespace) -> dict[str, Any]:
    from rich.progress import Progress

    from segmentdb.offline_vacuum import vacuum_folder

    with Progress(transient=True, disable=not sys.stderr.isatty(),
                  console=_stderr_console()) as bar:
        task = bar.add_task("compacting vector segments", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return vacuum_folder(args.path, args.min_deleted_fraction, progress=advance)


def _vacuum_online(args: argparse.Namespace) -> dict[str, Any]:
    from segmentdb import errors
    from segmentdb.client import Client

    target = args.target or os.environ.get("SEGMENTDB_TARGET") or DEFAULT_TARGET
    client = Client(target, **cli_connection.client_options(args))  # no deadline: a vacuum takes what it takes
    try:
        with _stderr_console().status(f"vacuuming {target}...") if sys.stderr.isatty() \
                else contextlib.nullcontext():
            result = client.vacuum(args.min_deleted_fraction)
    except errors.UnavailableError as exc:
        raise errors.UnavailableError(
            f"cannot reach segmentdb at {target} ({exc.message}); is it running? Set "
            "--target or SEGMENTDB_TARGET, or vacuum a stopped folder with --path") from None
    finally:
        client.close()
    return {"mode": "online", **result}


def render_vacuum(result: dict[str, Any]) -> str:
    segments = result["segments"]
    lines = [
        f"vacuum ({result['mode']}) done in {result['seconds']:.2f}s: "
        f"{format_bytes(result['bytes_before'])} -> {format_bytes(result['bytes_after'])}",
        f"  sqlite + wal   {format_bytes(result['sqlite_bytes_before'])} -> "
        f"{format_bytes(result['sqlite_bytes_after'])}",
        f"  index folders  {format_bytes(result['index_bytes_before'])} -> "
        f"{format_bytes(result['index_bytes_after'])}",
        f"  log entries    {result['log_entries_before']} -> {result['log_entries_after']}",
        f"  segments       {len(segments)} examined, "
        f"{sum(s['rebuilt'] for s in segments)} rebuilt, "
        f"{sum(bool(s['error']) for s in segments)} failed",
    ]
    if result.get("orphan_folders_removed"):
        lines.append(f"  removed {len(result['orphan_folders_removed'])} index folder(s) of "
                     "deleted collections")
    shown = [s for s in segments if s["rebuilt"] or s["error"]]
    if shown:
        lines.append(render_table(
            ["segment", "live", "deleted", "rebuilt", "before", "after", "error"],
            [[s["segment_id"], str(s["live_count"]), str(s["deleted_count"]),
              "yes" if s["rebuilt"] else "no", format_bytes(s["bytes_before"]),
              format_bytes(s["bytes_after"]), s["error"] or "-"] for s in shown]))
    return "\n".join(lines)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)

