"""The memory-budget scenario (issue 4, P7): many collections, far more than fit, random access.

`segmentdb serve` with 2 vector workers, each given a budget of 1/(5 × workers) of the total
estimated segment bytes, so each worker's share of the collections is ~5× its budget and it must
keep evicting and reloading. Queries pick a random collection and a random query; every answer
must come back (correctness is covered by tests/e2e/test_memory_budget_small.py). Reported: query
p50/p99 under churn and each vector worker's peak RSS against budget + 150 MiB.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench.datasets import DIM, K, _clustered
from bench.systems.base import peak_rss_mib
from bench.systems.segmentdb_system import SegmentDB
from vector_worker import memory

VECTOR_WORKERS = 2
HEADROOM_MIB = 150  # P7: a worker's peak RSS may exceed its budget by at most this


def run(workdir: Path, collections: int, per_collection: int, queries: int, seed: int = 7) -> dict:
    total = collections * memory.segment_bytes(DIM, 16, per_collection)
    budget = total // (5 * VECTOR_WORKERS)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    system = SegmentDB(workdir, ("--memory-budget", str(budget),
                                 "--vector-workers", str(VECTOR_WORKERS)))
    system.start()
    try:
        handles = []
        started = time.perf_counter()
        for c in range(collections):
            handle = system.client.get_or_create_collection(
                f"budget-{c}", configuration={"hnsw": {"space": "cosine"}})
            handle.add(ids=[f"r{i}" for i in range(per_collection)],
                       embeddings=_clustered(rng, per_collection, centres))
            handles.append(handle)
        ingest_s = time.perf_counter() - started
        probes = _clustered(rng, 200, centres)
        samples, answered = [], 0
        for q in range(queries):
            handle = handles[int(rng.integers(collections))]
            begin = time.perf_counter()
            hits = handle.query(query_embeddings=probes[q % len(probes)][None, :], n_results=K,
                                include=["distances"])
            samples.append(time.perf_counter() - begin)
            answered += len(hits["ids"][0]) == K
        workers = {str(pid): peak_rss_mib(pid) for pid in system.vector_worker_pids()}
        budget_mib = budget / 2**20
        worst = max((v for v in workers.values() if v is not None), default=None)
        return {
            "collections": collections, "per_collection": per_collection,
            "total_segment_mib": total / 2**20, "budget_per_worker_mib": budget_mib,
            "vector_workers": VECTOR_WORKERS, "ingest_s": ingest_s, "queries": queries,
            "answered_fraction": answered / queries,
            "p50_ms": float(np.percentile(samples, 50) * 1000),
            "p99_ms": float(np.percentile(samples, 99) * 1000),
            "worker_peak_rss_mib": workers, "worst_worker_peak_rss_mib": worst,
            "p7_limit_mib": budget_mib + HEADROOM_MIB,
            "p7_met": None if worst is None else worst <= budget_mib + HEADROOM_MIB,
            "stats": (stats := system.client.stats()),
            # Proof the budget bit: segments really were evicted and loaded again.
            "evictions": sum(w.get("evictions", 0) for w in stats.get("workers", [])),
            "loads": sum(w.get("loads", 0) for w in stats.get("workers", [])),
        }
    finally:
        system.stop()


def markdown(result: dict) -> list[str]:
    if not result:
        return ["", "## Memory-budget scenario", "", "Not run (`--no-budget`, or segmentdb not chosen)."]
    return [
        "", "## Memory-budget scenario (segmentdb, P7)", "",
        f"{result['collections']} collections × {result['per_collection']:,} vectors "
        f"({result['total_segment_mib']:,.0f} MiB of segments) on {result['vector_workers']} vector "
        f"workers with a budget of {result['budget_per_worker_mib']:,.1f} MiB each (each worker's "
        f"share ≈ 5× its budget); {result['queries']:,} queries on random collections.", "",
        "| ingest s | answered | evictions / loads | p50 ms | p99 ms | worst worker peak RSS MiB "
        "| limit (budget + 150) MiB | P7 |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['ingest_s']:.1f} | {result['answered_fraction']:.0%} | "
        f"{result['evictions']:,} / {result['loads']:,} | {result['p50_ms']:.2f} | "
        f"{result['p99_ms']:.2f} | {result['worst_worker_peak_rss_mib']:,.0f} | "
        f"{result['p7_limit_mib']:,.0f} | {'met' if result['p7_met'] else '**not met**'} |",
    ]
