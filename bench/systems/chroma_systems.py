"""chromadb 1.5.9, embedded (PersistentClient) and served (`chroma run` + HttpClient).

Both use Chroma's defaults (HNSW M 16 / ef_construction 100 / ef_search 100) with cosine space.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import chromadb
import numpy as np

from bench.systems.base import (COLLECTION, System, launch, process_tree, row_indices,
                                stop_process, wait_for)

CONFIGURATION = {"hnsw": {"space": "cosine"}}
INCLUDE = ["distances"]


def _query(collection, vector, k, where):
    hits = collection.query(query_embeddings=vector[None, :], n_results=k, where=where,
                            include=INCLUDE)
    return row_indices(hits["ids"][0])


class _Chroma(System):
    version = chromadb.__version__

    def ingest(self, ids, vectors, metadatas) -> None:
        self.collection.add(ids=ids, embeddings=vectors, metadatas=metadatas)

    def query(self, vector, k, where) -> list[int]:
        return _query(self.collection, vector, k, where)

    def query_batch(self, vectors, k) -> list[list[int]]:
        hits = self.collection.query(query_embeddings=vectors, n_results=k, include=INCLUDE)
        return [row_indices(ids) for ids in hits["ids"]]


class ChromaPersistent(_Chroma):
    name = "chroma PersistentClient"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(path=str(self.workdir))
        self.collection = self.client.get_or_create_collection(COLLECTION,
                                                               configuration=CONFIGURATION)

    def client_spec(self) -> dict:
        return {"path": str(self.workdir)}

    @staticmethod
    def connect(spec: dict):
        collection = chromadb.PersistentClient(path=spec["path"]).get_collection(COLLECTION)
        return lambda vector, k, where: _query(collection, vector, k, where)

    def cold_start(self, probe: np.ndarray) -> float:
        # A fresh process: import chromadb, open the folder, answer one query.
        code = ("import chromadb, numpy as np;"
                f"c = chromadb.PersistentClient(path={str(self.workdir)!r}).get_collection('bench');"
                f"print(c.query(query_embeddings=np.ones((1, {len(probe)}), np.float32), n_results=10)['ids'])")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaHttp(_Chroma):
    name = "chroma HTTP"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.process = None
        self.port = 0

    def _launch(self) -> None:
        self.port = _free_port()
        chroma = Path(sys.executable).with_name("chroma")
        self.process = launch([str(chroma), "run", "--path", str(self.workdir / "data"),
                               "--host", "127.0.0.1", "--port", str(self.port)],
                              self.workdir / "chroma.log")
        wait_for(lambda: self._client().heartbeat() > 0, 120,
                 f"chroma run (log: {self.workdir / 'chroma.log'})")
        self.client = self._client()

    def _client(self):
        return chromadb.HttpClient(host="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._launch()
        self.collection = self.client.get_or_create_collection(COLLECTION,
                                                               configuration=CONFIGURATION)

    def stop(self) -> None:
        stop_process(self.process)

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def disk_path(self) -> Path:
        return self.workdir / "data"

    def client_spec(self) -> dict:
        return {"port": self.port}

    @staticmethod
    def connect(spec: dict):
        client = chromadb.HttpClient(host="127.0.0.1", port=spec["port"])
        collection = client.get_collection(COLLECTION)
        return lambda vector, k, where: _query(collection, vector, k, where)

    def cold_start(self, probe: np.ndarray) -> float:
        self.stop()
        started = time.perf_counter()
        self._launch()
        self.collection = self.client.get_collection(COLLECTION)
        wait_for(lambda: bool(self.query(probe, 10, None)), 120, "chroma first answer")
        return time.perf_counter() - started
