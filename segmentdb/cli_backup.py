"""`segmentdb backup | restore`: online backups to this machine, and restoring them.

`backup` talks to a running service (`--target`, `--token`) and writes the backup where the
command runs — in Kubernetes that is your machine, not the metadata worker's volume.
`restore` needs no service: it verifies a backup and installs it as a data folder. Both show
a progress bar on stderr when it is a terminal and print a JSON summary with `--json`.
Errors reach cli.main as segmentdb.errors classes: one line on stderr, exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# segmentdb.errors (grpc) is imported inside the commands: `segmentdb serve` builds its parser
# through this module and must not pay for grpc before it starts its children.
from segmentdb.cli_admin import DEFAULT_TARGET, format_bytes
from segmentdb import cli_connection

EXAMPLES = {
    "backup": "segmentdb backup --target localhost:50051 --out ./backups/nightly.tar.gz",
    "restore": "segmentdb restore --from ./backups/nightly.tar.gz --path ./segmentdb_data",
}
SUMMARIES = {
    "backup": "take a consistent backup of a running service, written on this machine",
    "restore": "verify a backup and install it as a data folder (service stopped)",
}
DETAILS = {
    "backup": "The service keeps serving reads and writes meanwhile. --out names a folder (a "
              "plain data folder that `segmentdb serve --path` opens) or, ending in .tar, "
              ".tar.gz or .tgz, one archive of it. Index folders are not included: they are "
              "rebuilt from chroma.sqlite3 on first use.",
    "restore": "Checks every file against the backup's manifest (sizes, sha256) and the "
               "schema version, then renames the result into place: an existing --path is "
               "never left half-replaced. A non-empty --path needs --force.",
}


def add_commands(commands) -> None:
    for name in EXAMPLES:
        parser = commands.add_parser(
            name, help=SUMMARIES[name],
            description=textwrap.fill(f"{SUMMARIES[name].capitalize()}. {DETAILS[name]}", 79),
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "backup":
            parser.add_argument("--target",
                                default=os.environ.get("SEGMENTDB_TARGET", DEFAULT_TARGET),
                                metavar="HOST:PORT", help="the gateway (default "
                                "$SEGMENTDB_TARGET, else localhost:50051)")
            parser.add_argument("--token", default=os.environ.get("SEGMENTDB_TOKEN"),
                                help="bearer token, if the gateway requires one "
                                     "(env SEGMENTDB_TOKEN)")
            cli_connection.add_flags(parser)
            parser.add_argument("--out", required=True, metavar="PATH",
                                help="backup folder, or archive file ending in .tar, .tar.gz "
                                     "or .tgz")
            parser.add_argument("--timeout", type=float, metavar="SECONDS",
                                help="give up after this long (default: no limit)")
            replaces = "--out"
        else:
            parser.add_argument("--from", dest="source", required=True, metavar="PATH",
                                help="a backup folder or archive written by `segmentdb backup`")
            parser.add_argument("--path", required=True, metavar="DIR",
                                help="the data folder to create (or, with --force, replace)")
            replaces = "--path"
        parser.add_argument("--force", action="store_true",
                            help=f"replace an existing {replaces}")
        parser.add_argument("--json", action="store_true",
                            help="print a JSON summary on stdout (for scripts)")


def run(args: argparse.Namespace) -> int:
    return {"backup": _backup, "restore": _restore}[args.command](args)


def _backup(args: argparse.Namespace) -> int:
    from segmentdb import errors
    from segmentdb.client import Client

    if args.timeout is not None and args.timeout <= 0:
        raise errors.InvalidArgumentError("--timeout: must be a positive number of seconds")
    client = Client(args.target, **cli_connection.client_options(args))
    try:
        with _progress_bar() as bar:
            summary = client.backup(args.out, force=args.force, timeout=args.timeout,
                                    on_progress=bar.backup)
    except errors.UnavailableError as exc:
        raise errors.UnavailableError(
            f"cannot reach segmentdb at {args.target} ({exc.message}); is it running? "
            "Set --target or SEGMENTDB_TARGET") from None
    finally:
        client.close()
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        m = summary["manifest"]
        print(f"backup of {m['collections']} collection(s), {m['records']} record(s) at log "
              f"position {m['log_position']} (schema {m['schema_version']}) written to "
              f"{summary['path']} ({summary['format']}, {format_bytes(summary['bytes'])}) in "
              f"{summary['seconds']:.2f}s")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from segmentdb.restore import restore_backup

    with _progress_bar() as bar:
        result = restore_backup(args.source, args.path, force=args.force,
                                on_progress=bar.restore)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        m = result.manifest
        print(f"restored {m.collections} collection(s), {m.records} record(s) (log position "
              f"{m.log_position}, taken {m.created_at}) into {result.path} in "
              f"{result.seconds:.2f}s; serve it with: segmentdb serve --path {result.path}")
    return 0


class _Bar:
    """Adapts the SDK's progress callbacks to rich tasks (created on first use)."""

    def __init__(self, progress):
        self._progress = progress
        self._tasks: dict[str, Any] = {}

    def _update(self, name: str, label: str, done: int, total: int, detail: str) -> None:
        if self._progress is None:
            return
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(label, total=max(total, 1), detail="")
        self._progress.update(self._tasks[name], completed=done, total=max(total, 1),
                              detail=detail)

    def backup(self, phase: str, done: int, total: int) -> None:
        if phase == "snapshot":
            self._update(phase, "snapshot", done, total, f"{done}/{total} pages")
        else:
            self._update(phase, "download", done, total,
                         f"{format_bytes(done)}/{format_bytes(total)}")

    def restore(self, done: int, total: int) -> None:
        self._update("restore", "verify + copy", done, total,
                     f"{format_bytes(done)}/{format_bytes(total)}")


@contextmanager
def _progress_bar() -> Iterator[_Bar]:
    """A rich progress bar on stderr when it is a terminal (else none: logs and scripts get
    only the summary and errors). Transient, so an error is the last line left."""
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn)

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _Bar(None)
        return
    columns: list[Callable | Any] = [TextColumn("{task.description:<14}"), BarColumn(),
                                     TaskProgressColumn(), TextColumn("{task.fields[detail]}"),
                                     TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Bar(progress)
