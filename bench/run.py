"""Run the benchmark: every chosen system on the same dataset, then JSON + docs/benchmarks.md.

    python -m bench.run --mode quick      # `make bench`: 10k records, ~5 minutes
    python -m bench.run --mode full       # `make bench-full`: 100k records, 3 repetitions
    python -m bench.run --mode full --size 1000000   # the optional 1M run

Each (system, repetition) runs in its own spawned process with its own fresh data folder, so
one system's imports, caches and memory never leak into another's numbers; in-process systems
(raw hnswlib, PersistentClient) report that process's peak RSS, which includes the dataset.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue as queue_module
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import budget, datasets, embedding, measures, report
from bench.systems import SYSTEMS, load_class

MODES = {
    # size, held-out queries, latency queries, QPS seconds, client counts, repetitions
    # and the memory-budget scenario's collections x vectors each, random-access queries.
    # embedding: texts of the embedding-throughput scenario (None: not run; the smoke run
    # stays model-free, the scenario has its own slow test).
    "smoke": dict(size=500, queries=100, latency_queries=20, qps_seconds=0.5, clients=[2], reps=1,
                  budget=dict(collections=10, per_collection=300, queries=50), embedding=None),
    "quick": dict(size=10_000, queries=1000, latency_queries=1000, qps_seconds=5.0, clients=[4], reps=1,
                  budget=dict(collections=100, per_collection=1000, queries=1000),
                  embedding=dict(count=2000)),
    "full": dict(size=100_000, queries=1000, latency_queries=1000, qps_seconds=10.0,
                 clients=[4, 16], reps=3,
                 budget=dict(collections=100, per_collection=5000, queries=3000),
                 embedding=dict(count=10_000)),
}
INGEST_BATCH = 1000


def run_system(key: str, config: dict, workdir: str) -> dict:
    """All measures for one system, one repetition (runs in its own process)."""
    data = datasets.load(config["size"], config["queries"])
    system = load_class(key)(Path(workdir))
    system.start()
    try:
        result = {"system": system.name, "version": system.version}
        result.update(measures.ingest(system, data, INGEST_BATCH))
        result.update(measures.latency(system, data, config["latency_queries"]))
        result.update(measures.filtered(system, data, config["latency_queries"]))
        result.update(measures.batched(system, data))
        for clients in config["clients"]:
            result[f"qps_{clients}_clients"] = measures.qps(key, system, data, clients,
                                                            config["qps_seconds"])
        result.update(measures.footprint(system))
        result["cold_start_s"] = system.cold_start(data.queries[0])
        return result
    finally:
        system.stop()


def _in_process(key: str, config: dict, workdir: str, queue) -> None:
    try:
        queue.put(("ok", run_system(key, config, workdir)))
    except BaseException as err:  # report it to the parent instead of dying silently
        import traceback
        queue.put(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def run_isolated(key: str, config: dict, workdir: Path, target=_in_process) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    args = (key, config, str(workdir), queue) if target is _in_process else (config, str(workdir), queue)
    process = context.Process(target=target, args=args)
    process.start()
    while True:  # a child that dies without reporting (segfault, OOM kill) must not hang us
        try:
            status, payload = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not process.is_alive():
                raise RuntimeError(f"{key}: runner exited with code {process.exitcode} "
                                   f"without a result (see logs under {workdir})") from None
    process.join(60)
    if status != "ok":
        raise RuntimeError(f"{key} failed:\n{payload}")
    return payload


def _budget_in_process(config: dict, workdir: str, queue) -> None:
    try:
        queue.put(("ok", budget.run(Path(workdir), **config)))
    except BaseException as err:
        import traceback
        queue.put(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def _embedding_in_process(config: dict, workdir: str, queue) -> None:
    try:
        queue.put(("ok", embedding.run(Path(workdir), **config)))
    except BaseException as err:
        import traceback
        queue.put(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def median_of(runs: list[dict]) -> dict:
    """Median of each numeric measure over repetitions; other fields from the last run."""
    merged = dict(runs[-1])
    for field, value in runs[-1].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[field] = statistics.median(run[field] for run in runs)
    merged["repetitions"] = len(runs)
    return merged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, default="quick")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, from: {', '.join(SYSTEMS)}")
    parser.add_argument("--size", type=int, help="records (overrides the mode's)")
    parser.add_argument("--reps", type=int, help="repetitions (overrides the mode's)")
    parser.add_argument("--no-budget", action="store_true",
                        help="skip the memory-budget scenario (it runs only with segmentdb)")
    parser.add_argument("--no-embedding", action="store_true",
                        help="skip the embedding-throughput scenario (segmentdb only)")
    parser.add_argument("--embedding-only", action="store_true",
                        help="run only the embedding-throughput scenario (writes its JSON; "
                        "docs untouched unless --markdown is given)")
    parser.add_argument("--json", type=Path, help="result file (default bench/results/<mode>-<time>.json)")
    parser.add_argument("--markdown", type=Path, default=report.DEFAULT_MARKDOWN)
    args = parser.parse_args(argv)
    config = dict(MODES[args.mode])
    config.update({k: v for k, v in (("size", args.size), ("reps", args.reps)) if v})
    keys = [k.strip() for k in args.systems.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SYSTEMS]
    if unknown:
        parser.error(f"--systems: unknown {unknown}; choose from {list(SYSTEMS)}")

    if args.embedding_only:
        root = Path(tempfile.mkdtemp(prefix="segmentdb-bench-"))
        try:
            result = run_isolated("embedding", config["embedding"] or {"count": 200},
                                  root / "embedding", target=_embedding_in_process)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return 0

    print(f"dataset: {config['size']} records ...", flush=True)
    datasets.load(config["size"], config["queries"])  # generate + cache once, before timing
    results, root = {}, Path(tempfile.mkdtemp(prefix="segmentdb-bench-"))
    try:
        for key in keys:
            runs = []
            for rep in range(config["reps"]):
                print(f"{key}: repetition {rep + 1}/{config['reps']} ...", flush=True)
                runs.append(run_isolated(key, config, root / f"{key}-{rep}"))
                shutil.rmtree(root / f"{key}-{rep}", ignore_errors=True)
            results[key] = median_of(runs)
        budget_result = {}
        if "segmentdb" in keys and not args.no_budget:
            print("memory-budget scenario (segmentdb) ...", flush=True)
            budget_result = run_isolated("budget", config["budget"], root / "budget",
                                         target=_budget_in_process)
        embedding_result = {}
        if "segmentdb" in keys and config["embedding"] and not args.no_embedding:
            print("embedding throughput (segmentdb) ...", flush=True)
            embedding_result = run_isolated("embedding", config["embedding"], root / "embedding",
                                            target=_embedding_in_process)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    document = report.document(args.mode, config, results, budget_result, embedding_result)
    json_path = args.json or report.RESULTS / f"{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report.write(document, json_path, args.markdown)
    print(f"wrote {json_path} and {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
