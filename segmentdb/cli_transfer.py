"""`segmentdb export | import`: a collection to and from a .parquet, .jsonl or .csv file.

Both talk to a running service (`--target HOST:PORT`, env SEGMENTDB_TARGET) through the
SDK (segmentdb.transfer) and the file codecs (segmentdb.transfer_files), with a rich
progress bar on a terminal and a summary line (or `--json`) on stdout.

- export writes to temporary files and renames them over FILE at the end: an interrupted
  export leaves no half-written FILE (run it again: an export is a read).
- import is resumable: its import id defaults to a hash of FILE, so running the same command
  again after an interruption (Ctrl-C, kill -9, a lost connection) continues after the last
  committed chunk, and records already committed are never written twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import textwrap
import time
from pathlib import Path
from typing import Optional

from segmentdb import cli_connection

EXAMPLES = {
    "export": "segmentdb export --target localhost:50051 --collection books --out books.parquet",
    "import": "segmentdb import --target localhost:50051 --collection books books.parquet",
}
SUMMARIES = {
    "export": "write a collection (records + configuration) to a .parquet, .jsonl or .csv file",
    "import": "load a .parquet, .jsonl or .csv export into a collection (resumable)",
}
_DETAILS = {
    "export": "The file type follows FILE's extension. The collection's name, metadata, HNSW "
              "configuration and dimension go with it (Parquet: file metadata; JSONL: first "
              "line; CSV: FILE.collection.json).",
    "import": "Creates the collection with the file's configuration unless it exists (then its "
              "space, M, ef_construction and dimension must match). Run the same command again "
              "after an interruption: it resumes after the last committed chunk. Every record "
              "needs its embedding.",
}
# A stream has no deadline (it takes as long as the collection is big); other calls do.
CALL_TIMEOUT_SECONDS = 60.0


def add_commands(commands) -> None:
    """Add `export` and `import` to `segmentdb`'s subparsers."""
    from segmentdb.cli_admin import _connection_flags, _scope_flags

    for name in EXAMPLES:
        parser = commands.add_parser(
            name, help=SUMMARIES[name],
            description=textwrap.fill(f"{SUMMARIES[name].capitalize()}. {_DETAILS[name]}", 88),
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _connection_flags(parser)
        _scope_flags(parser)
        parser.add_argument("--json", action="store_true",
                            help="print the outcome as JSON (for scripts)")
        if name == "export":
            parser.add_argument("--collection", required=True, metavar="NAME",
                                help="the collection to export")
            parser.add_argument("--out", required=True, metavar="FILE",
                                help="the file to write: .parquet, .jsonl or .csv")
            parser.add_argument("--page-size", type=int, default=1000, metavar="N",
                                help="records per page of the stream (default 1000, at most 10000)")
        else:
            parser.add_argument("file", metavar="FILE", help="a .parquet, .jsonl or .csv export")
            parser.add_argument("--collection", metavar="NAME",
                                help="the collection to import into (default: the name in the "
                                     "file's header)")
            parser.add_argument("--upsert", action="store_true",
                                help="replace records whose id is already in the collection "
                                     "(default: refuse them)")
            parser.add_argument("--import-id", metavar="ID",
                                help="resume key (default: sha256 of FILE, so the same command "
                                     "resumes)")
            parser.add_argument("--chunk-size", type=int, default=1000, metavar="N",
                                help="records per committed chunk (default 1000)")


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `segmentdb serve` builds every command's parser and must
    # not pay for grpc before it starts its children (tests/unit/test_startup_imports.py).
    from segmentdb import errors
    from segmentdb.client import Client

    client = Client(args.target, timeout=CALL_TIMEOUT_SECONDS, **cli_connection.client_options(args),
                    tenant=args.tenant, database=args.database)
    try:
        return _export(client, args) if args.command == "export" else _import(client, args)
    except errors.UnavailableError as exc:
        raise errors.UnavailableError(
            f"cannot reach segmentdb at {args.target} ({exc.message}); is it running? "
            "Set --target or SEGMENTDB_TARGET") from None
    finally:
        client.close()


def _export(client, args) -> int:
    from segmentdb import transfer_files

    transfer_files.format_of(args.out)  # an unknown extension fails before any call
    began = time.monotonic()
    export = client.get_collection(args.collection).export_records(page_size=args.page_size)
    written = 0
    with transfer_files.open_writer(args.out, export.collection, export.record_count) as writer, \
            _progress(f"export {args.collection}", export.remaining_count) as advance:
        for page in export:
            writer.write(page)
            written += len(page)
            advance(written)
    outcome = {"collection": args.collection, "records": written, "file": args.out,
               "format": Path(args.out).suffix.lower().lstrip("."),
               "bytes": Path(args.out).stat().st_size,
               "seconds": round(time.monotonic() - began, 3)}
    _report(args, outcome, f"exported {written} records of {args.collection!r} to {args.out} "
                           f"in {outcome['seconds']:.1f} s")
    return 0


def _import(client, args) -> int:
    from segmentdb import errors, transfer_files

    if args.chunk_size < 1:
        raise errors.InvalidArgumentError("--chunk-size: must be at least 1")
    reader = transfer_files.open_reader(args.file, batch_size=args.chunk_size)
    described = reader.collection or {}
    name = args.collection or described.get("name")
    if not name:
        raise errors.InvalidArgumentError(
            f"--collection: {args.file} has no header naming its collection; pass --collection NAME")
    import_id = args.import_id or file_import_id(args.file)
    began = time.monotonic()
    with _progress(f"import {name}", reader.record_count) as advance:
        result = client.import_records(
            name, reader, metadata=described.get("metadata"),
            configuration=described.get("configuration"), dimension=described.get("dimension"),
            import_id=import_id, mode="upsert" if args.upsert else "insert",
            chunk_size=args.chunk_size, on_progress=advance)
    outcome = {"collection": name, "import_id": import_id, "created": result.created,
               "resumed_from": result.resumed_from, "records": result.committed_records,
               "inserted": result.inserted, "updated": result.updated, "chunks": result.chunks,
               "resent_chunks": result.resent_chunks,
               "seconds": round(time.monotonic() - began, 3)}
    if result.resumed_from and not result.chunks:
        resumed = "; nothing to do: an earlier run had committed every record"
    elif result.resumed_from:
        resumed = f"; resumed after {result.resumed_from} records committed by an earlier run"
    else:
        resumed = ""
    _report(args, outcome,
            f"imported {result.committed_records} records into {name!r} "
            f"({'created' if result.created else 'existing collection'}{resumed}) "
            f"in {outcome['seconds']:.1f} s")
    return 0


def file_import_id(path: str) -> str:
    """sha256 of the file's bytes: the same file resumes the same import."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _report(args, outcome: dict, line: str) -> None:
    print(json.dumps(outcome, sort_keys=True) if args.json else line)


class _progress:
    """A rich progress bar on stderr when it is a terminal; `advance(done)` sets the count."""

    def __init__(self, description: str, total: Optional[int]):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        console = Console(stderr=True)
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                             disable=not console.is_terminal)
        self._task = self._bar.add_task(description, total=total)

    def __enter__(self):
        self._bar.start()
        return lambda done: self._bar.update(self._task, completed=done)

    def __exit__(self, *exc_info) -> None:
        self._bar.stop()
