"""Embedding does not stall the service: while a documents-only import is being embedded,
queries on another collection keep being answered, and a query by text gets its few texts
into the next model batch instead of waiting behind the import (the pool's fair batcher).

Bounds are generous (the 2-core machine is shared with other test runs); the numbers
measured here are in docs/internals.md ("Server-side embeddings").
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
import pytest

IMPORT_DOCUMENTS = 1200
BATCH = 300


def _sentences(count: int) -> list[str]:
    subjects = ["The committee", "A small dog", "My neighbour", "The old train", "Our team",
                "The new library", "A storm", "The market"]
    verbs = ["discussed", "chased", "repaired", "delayed", "celebrated", "opened", "damaged",
             "welcomed"]
    objects = ["the annual budget", "a red ball", "the garden fence", "the morning commute",
               "a surprising victory", "its doors to readers", "the coastal roads",
               "fresh produce from local farms"]
    return [f"{subjects[i % 8]} {verbs[(i // 8) % 8]} {objects[(i // 64) % 8]} (note {i})."
            for i in range(count)]


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_queries_keep_their_latency_while_an_import_is_embedded(client, make_collection):
    rng = np.random.default_rng(7)
    other = make_collection("Q")
    other.add(ids=[f"v{i}" for i in range(300)], embeddings=rng.random((300, 384), np.float32),
              documents=[f"vector record {i}" for i in range(300)])
    target = make_collection("I")
    target.add(ids=["warm"], documents=["load the model before measuring"])  # model loaded

    def by_vector():
        other.query(query_embeddings=rng.random((1, 384), np.float32), n_results=5)

    def by_text():
        other.query(query_texts=["a record about vectors"], n_results=5)

    quiet_vector = [_timed(by_vector) for _ in range(20)]
    quiet_text = [_timed(by_text) for _ in range(10)]

    sentences = _sentences(IMPORT_DOCUMENTS)
    failures: list[BaseException] = []

    def run_import():
        try:
            for start in range(0, IMPORT_DOCUMENTS, BATCH):
                target.add(ids=[f"d{i}" for i in range(start, start + BATCH)],
                           documents=sentences[start:start + BATCH])
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    importer = threading.Thread(target=run_import)
    started = time.perf_counter()
    importer.start()
    busy_vector, busy_text = [], []
    while importer.is_alive():
        busy_vector.append(_timed(by_vector))
        busy_text.append(_timed(by_text))
        time.sleep(0.05)
    importer.join()
    import_seconds = time.perf_counter() - started
    assert not failures, failures
    assert target.count() == IMPORT_DOCUMENTS + 1

    report = {
        "import_s": round(import_seconds, 2),
        "texts_per_s": round(IMPORT_DOCUMENTS / import_seconds, 1),
        "vector_p50_quiet_ms": round(1000 * statistics.median(quiet_vector), 1),
        "vector_p50_busy_ms": round(1000 * statistics.median(busy_vector), 1),
        "vector_max_busy_ms": round(1000 * max(busy_vector), 1),
        "text_p50_quiet_ms": round(1000 * statistics.median(quiet_text), 1),
        "text_p50_busy_ms": round(1000 * statistics.median(busy_text), 1),
        "text_max_busy_ms": round(1000 * max(busy_text), 1),
        "queries_during_import": len(busy_vector) + len(busy_text),
    }
    print("embedding latency:", report)
    # Every query was answered (a failure would have raised), several during the import...
    assert len(busy_vector) >= 5, report
    # ...and a query by vector stays fast: the embedding runs in another process.
    assert statistics.median(busy_vector) < 0.5, report
    # A query by text waits at most about one model batch, not for the whole import.
    assert statistics.median(busy_text) < max(3.0, import_seconds / 4), report


@pytest.fixture()
def client(service):
    import segmentdb

    c = segmentdb.Client(service.address)
    yield c
    c.close()
