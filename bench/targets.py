"""Issue 4's targets P1–P8 checked against one run's results (segmentdb vs the baselines).

Each check is (id, statement, verdict) where verdict is True/False, or None when a system it
needs was not part of the run (e.g. the chromadb-free smoke).
"""

from __future__ import annotations

from typing import Optional

SUBJECT = "segmentdb"


def _get(results: dict, key: str, field: str) -> Optional[float]:
    return results.get(key, {}).get(field)


def _ratio(results, field, base_key) -> Optional[float]:
    value, base = _get(results, SUBJECT, field), _get(results, base_key, field)
    return None if value is None or not base else value / base


def _at_most(ratio, limit):
    return None if ratio is None else ratio <= limit


def _at_least(ratio, limit):
    return None if ratio is None else ratio >= limit


def _all(verdicts):
    return None if any(v is None for v in verdicts) else all(verdicts)


def check(results: dict, client_counts: list[int], budget_result: Optional[dict] = None) -> list[dict]:
    if SUBJECT not in results:
        return []
    qps = [_at_least(_ratio(results, f"qps_{n}_clients", "chroma-http"), 2.0) for n in client_counts]
    filtered = []
    for name in ("10%", "1%"):
        filtered.append(_at_most(_ratio(results, f"filtered_{name}_p50_ms", "chroma-http"), 0.1))
        filtered.append(_get(results, SUBJECT, f"filtered_{name}_recall_at_10") >= 0.99)
    chroma_recalls = [_get(results, k, "recall_at_10") for k in ("chroma-http", "chroma-persistent")
                      if k in results]
    rows = [
        ("P1", "single-client p50 ≤ 0.5 × chroma HTTP",
         _at_most(_ratio(results, "p50_ms", "chroma-http"), 0.5)),
        ("P2", f"QPS at {', '.join(map(str, client_counts))} clients ≥ 2 × chroma HTTP", _all(qps)),
        ("P3", "ingest ≥ 3 × chroma HTTP and all-queryable ≤ 1.2 × raw hnswlib build",
         _all([_at_least(_ratio(results, "ingest_rec_per_s", "chroma-http"), 3.0),
               _at_most(_ratio(results, "all_queryable_s", "hnswlib"), 1.2)])),
        ("P4", "filtered p50 (10%, 1%) ≤ 0.1 × chroma HTTP, recall@10 ≥ 0.99", _all(filtered)),
        ("P5", "batched QPS ≥ 0.8 × raw hnswlib",
         _at_least(_ratio(results, "batched_qps", "hnswlib"), 0.8)),
        ("P6", "cold start ≤ chroma PersistentClient",
         _at_most(_ratio(results, "cold_start_s", "chroma-persistent"), 1.0)),
        ("P7", "vector worker peak RSS ≤ budget + 150 MiB (budget scenario)",
         (budget_result or {}).get("p7_met")),
        ("P8", "recall@10 ≥ chroma's",
         None if not chroma_recalls else _get(results, SUBJECT, "recall_at_10") >= max(chroma_recalls)),
    ]
    return [{"id": i, "target": t, "met": v} for i, t, v in rows]


def markdown(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    mark = {True: "met", False: "**not met**", None: "not measured in this run"}
    return ["", "## Issue 4 targets (segmentdb)", "", "| | target | this run |", "|---|---|---|"] + [
        f"| {r['id']} | {r['target']} | {mark[r['met']]} |" for r in rows]
