"""`segmentdb import-chroma --from CHROMA_DIR --path DIR`: a Chroma folder into a new segmentdb one.

Offline (no service runs; stop Chroma first, as for any copy of its folder). Reads chromadb
0.5.x and 1.x persistent folders, writes every tenant, database, collection (name, id,
metadata, HNSW settings) and record (id, document, typed metadata, float32 embedding)
through the metadata worker's store code. See docs/chroma-import.md.
"""

from __future__ import annotations

import argparse
import json
import os

COMMAND = "import-chroma"
SUMMARY = "copy a Chroma persistent folder (0.5.x or 1.x) into a new segmentdb folder"
EXAMPLE = "segmentdb import-chroma --from ./chroma_data --path ./segmentdb_data"
# The interface of segmentdb.cli.TOOL_MODULES.
EXAMPLES = {COMMAND: EXAMPLE}
SUMMARIES = {COMMAND: SUMMARY}


def add_commands(commands) -> None:
    parser = commands.add_parser(
        COMMAND, help=SUMMARY,
        description=SUMMARY + ", offline. Every collection, record, document, metadata value "
        "(with its type) and embedding is copied, with each collection's HNSW settings; the "
        "vector indexes are built by segmentdb when the collections are first used. --path "
        "must not exist yet (or be empty): there is no merge into an existing database. The "
        "Chroma folder is only read; stop Chroma before importing.",
        epilog=f"example:\n  {EXAMPLE}\n  segmentdb serve --path ./segmentdb_data\n\n"
               "  segmentdb import-chroma --from ./chroma_data --path ./new_data --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", required=True, metavar="CHROMA_DIR",
                        help="the folder given to chromadb.PersistentClient(path=...)")
    path_default = os.environ.get("SEGMENTDB_PATH")
    parser.add_argument("--path", default=path_default, required=path_default is None,
                        metavar="DIR", help="the new segmentdb data folder (env SEGMENTDB_PATH)")
    parser.add_argument("--json", action="store_true",
                        help="print what was imported as JSON on stdout (for scripts)")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from segmentdb.chroma_import.importer import run_import

    console = Console(stderr=True)
    progress = Progress(TextColumn("importing records"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True,
                        disable=not console.is_terminal)
    with progress:
        task = progress.add_task("records", total=None)
        report = run_import(
            args.source, args.path,
            on_start=lambda total: progress.update(task, total=total),
            on_records=lambda n: progress.advance(task, n),
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(render(report))
    return 0


def render(report) -> str:
    from segmentdb.cli_admin import render_table

    rows = [[f"{c.tenant}/{c.database}", c.name, str(c.records), str(c.dimension or "-"),
             c.hnsw["space"], str(c.hnsw["max_neighbors"]), str(c.hnsw["ef_construction"]),
             str(c.hnsw["ef_search"]), f"{c.vectors_from_index_files}/{c.vectors_from_queue}"]
            for c in report.collections]
    table = render_table(["tenant/database", "collection", "records", "dim", "space", "M",
                          "ef_construction", "ef_search", "vectors files/queue"], rows)
    records = sum(c.records for c in report.collections)
    return (f"{table}\nimported {records} records in {len(report.collections)} collection(s) "
            f"from {report.chroma_format} folder {report.source} into {report.path} in "
            f"{report.seconds:.1f}s\nserve it with: segmentdb serve --path {report.path}")

