"""segmentdb through its SDK against `segmentdb serve`, started and stopped by PID."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

import segmentdb
from bench.systems.base import (COLLECTION, System, launch, process_tree, row_indices,
                                stop_process, wait_for)

INCLUDE = ["distances"]


def _serve_command() -> list[str]:
    # The console script next to this interpreter, else the module (same code either way).
    script = Path(sys.executable).with_name("segmentdb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "segmentdb.cli"]


class SegmentDB(System):
    name = "segmentdb"
    version = segmentdb.__version__

    def __init__(self, workdir: Path, serve_flags: tuple[str, ...] = ()):
        super().__init__(workdir)
        self.serve_flags = list(serve_flags)  # e.g. ("--memory-budget", "64MiB")
        self.process = None
        self.client: Optional[segmentdb.Client] = None
        self.address = ""

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def _launch(self) -> None:
        port_file = self.workdir / "port.json"
        port_file.unlink(missing_ok=True)
        self.process = launch(_serve_command() + ["serve", "--path", str(self.data), "--port", "0",
                                                  "--port-file", str(port_file),
                                                  *self.serve_flags],
                              self.workdir / "serve.log")
        wait_for(lambda: port_file.exists() and json.loads(port_file.read_text())["port"] > 0,
                 120, f"segmentdb serve (log: {self.workdir / 'serve.log'})")
        self.address = f"127.0.0.1:{json.loads(port_file.read_text())['port']}"
        self.client = segmentdb.Client(self.address)

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self._launch()
        self.collection = self.client.get_or_create_collection(
            COLLECTION, configuration={"hnsw": {"space": "cosine"}})

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        stop_process(self.process)

    def ingest(self, ids, vectors, metadatas) -> None:
        self.collection.add(ids=ids, embeddings=vectors, metadatas=metadatas)

    def query(self, vector, k, where) -> list[int]:
        hits = self.collection.query(query_embeddings=vector[None, :], n_results=k, where=where,
                                     include=INCLUDE)
        return row_indices(hits["ids"][0])

    def query_batch(self, vectors, k) -> list[list[int]]:
        hits = self.collection.query(query_embeddings=vectors, n_results=k, include=INCLUDE)
        return [row_indices(ids) for ids in hits["ids"]]

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def disk_path(self) -> Path:
        return self.data

    def vector_worker_pids(self) -> list[int]:
        """The serve tree's vector workers, recognised by their command line."""
        found = []
        for pid in self.pids():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"vector-worker" in argv:
                found.append(pid)
        return found

    def client_spec(self) -> dict:
        return {"address": self.address}

    @staticmethod
    def connect(spec: dict):
        collection = segmentdb.Client(spec["address"]).get_collection(COLLECTION)

        def query(vector, k, where):
            hits = collection.query(query_embeddings=vector[None, :], n_results=k, where=where,
                                    include=INCLUDE)
            return row_indices(hits["ids"][0])
        return query

    def cold_start(self, probe: np.ndarray) -> float:
        self.stop()
        started = time.perf_counter()
        self._launch()
        self.collection = self.client.get_collection(COLLECTION)
        wait_for(lambda: bool(self.query(probe, 10, None)), 120, "segmentdb first answer")
        return time.perf_counter() - started
