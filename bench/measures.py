"""Each measure of issue 4 as one function over a started `System` and a `Dataset`.

Timing uses time.perf_counter. Concurrent clients are separate *processes* (spawned, so no
gRPC channel or chromadb state crosses a fork); each opens its own client from
`system.client_spec()`, waits at a barrier, then queries for a fixed wall time.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import Optional

import numpy as np

from bench.datasets import FILTERS, K, Dataset, recall
from bench.systems import load_class
from bench.systems.base import System, disk_mib, peak_rss_mib


def ingest(system: System, data: Dataset, batch: int) -> dict:
    """Acknowledged ingest rate, then the time until the last record is queryable."""
    started = time.perf_counter()
    for start in range(0, data.size, batch):
        stop = min(start + batch, data.size)
        system.ingest(data.ids(start, stop), data.vectors[start:stop], data.metadatas(start, stop))
    acknowledged = time.perf_counter() - started
    last = data.size - 1
    system.wait_queryable(f"r{last}", data.vectors[last])
    queryable = time.perf_counter() - started
    return {"ingest_rec_per_s": data.size / acknowledged, "ingest_ack_s": acknowledged,
            "all_queryable_s": queryable}


def _percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def latency(system: System, data: Dataset, queries: int, where: Optional[dict] = None,
            truth: Optional[np.ndarray] = None) -> dict:
    """Single-client latency (p50/p99) and recall@10 over the first `queries` held-out queries."""
    system.query(data.queries[0], K, where)  # warm-up: connection setup is not latency
    samples, found = [], []
    for vector in data.queries[:queries]:
        started = time.perf_counter()
        found.append(system.query(vector, K, where))
        samples.append(time.perf_counter() - started)
    truth = data.truth["all"] if truth is None else truth
    return {"p50_ms": _percentile_ms(samples, 50), "p99_ms": _percentile_ms(samples, 99),
            "recall_at_10": recall(found, truth[:queries])}


def _client_loop(system_key, spec, queries, duration, barrier, results) -> None:
    query = load_class(system_key).connect(spec)
    query(queries[0], K, None)
    barrier.wait()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < duration:
        query(queries[done % len(queries)], K, None)
        done += 1
    results.put((done, time.perf_counter() - started))


def qps(system_key: str, system: System, data: Dataset, clients: int, duration: float) -> float:
    """Queries per second summed over `clients` client processes querying for `duration` s."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(clients), context.Queue()
    workers = [context.Process(target=_client_loop,
                               args=(system_key, system.client_spec(), data.queries, duration,
                                     barrier, results)) for _ in range(clients)]
    for worker in workers:
        worker.start()
    rates = []
    for _ in workers:
        done, elapsed = results.get(timeout=duration + 300)
        rates.append(done / elapsed)
    for worker in workers:
        worker.join(30)
    return float(sum(rates))


def batched(system: System, data: Dataset, per_call: int = 100) -> dict:
    """Throughput (queries/s) of queries sent `per_call` at a time, and their recall@10."""
    calls = max(1, len(data.queries) // per_call)
    system.query_batch(data.queries[:per_call], K)  # warm-up
    found, started = [], time.perf_counter()
    for call in range(calls):
        found.extend(system.query_batch(data.queries[call * per_call:(call + 1) * per_call], K))
    elapsed = time.perf_counter() - started
    return {"batched_qps": len(found) / elapsed,
            "batched_recall_at_10": recall(found, data.truth["all"][:len(found)])}


def filtered(system: System, data: Dataset, queries: int) -> dict:
    out = {}
    for name, where in FILTERS.items():
        result = latency(system, data, queries, where, data.truth[name])
        out[f"filtered_{name}_p50_ms"] = result["p50_ms"]
        out[f"filtered_{name}_recall_at_10"] = result["recall_at_10"]
    return out


def footprint(system: System) -> dict:
    """Peak RSS of every process of the system (MiB, by pid) and the data folder's size."""
    rss = {str(pid): peak_rss_mib(pid) for pid in system.pids()}
    rss = {pid: value for pid, value in rss.items() if value is not None}
    return {"peak_rss_mib": rss, "peak_rss_max_mib": max(rss.values(), default=None),
            "peak_rss_total_mib": sum(rss.values()), "disk_mib": disk_mib(system.disk_path())}
