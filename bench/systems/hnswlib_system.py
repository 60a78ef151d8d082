"""Raw hnswlib in-process: the floor any served system is measured against.

M 16 / ef_construction 100 / ef 100, cosine (Chroma's defaults). Filters run as hnswlib's
Python filter callback over a boolean row mask, as a user of plain hnswlib would write them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import hnswlib
import numpy as np

from bench.systems.base import System, row_indices

SPACE, M, EF_CONSTRUCTION, EF = "cosine", 16, 100, 100


def _open(dim: int, capacity: int) -> hnswlib.Index:
    index = hnswlib.Index(space=SPACE, dim=dim)
    index.init_index(max_elements=capacity, M=M, ef_construction=EF_CONSTRUCTION)
    index.set_ef(EF)
    return index


class _Reader:
    """Queries over a saved index plus its category column (for the filter callback)."""

    def __init__(self, index: hnswlib.Index, categories: np.ndarray):
        self.index, self.categories = index, categories

    def query(self, vector: np.ndarray, k: int, where: Optional[dict]) -> list[int]:
        if where is None:
            labels, _ = self.index.knn_query(vector, k=k)
        else:
            (field, value), = where.items()
            assert field == "category", "the bench filters only on category"
            allowed = self.categories == value
            k = min(k, int(allowed.sum()))  # hnswlib raises when fewer than k records match
            if k == 0:
                return []
            labels, _ = self.index.knn_query(vector, k=k, filter=lambda label: bool(allowed[label]))
        return labels[0].tolist()


def _load_reader(folder: str) -> _Reader:
    meta = json.loads((Path(folder) / "meta.json").read_text())
    index = hnswlib.Index(space=SPACE, dim=meta["dim"])
    index.load_index(str(Path(folder) / "index.bin"), max_elements=meta["count"])
    index.set_ef(EF)
    return _Reader(index, np.load(Path(folder) / "categories.npy"))


class RawHnswlib(System):
    name = "raw hnswlib"
    version = getattr(hnswlib, "__version__", "0.8.0")

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.index: Optional[hnswlib.Index] = None
        self.categories: list[np.ndarray] = []

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def ingest(self, ids, vectors, metadatas) -> None:
        if self.index is None:
            self.index = _open(vectors.shape[1], 1024)
        needed = self.index.get_current_count() + len(ids)
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, 2 * self.index.get_max_elements()))
        self.index.add_items(vectors, np.asarray(row_indices(ids)))
        self.categories.append(np.array([m["category"] for m in metadatas]))

    def wait_queryable(self, probe_id, probe, timeout=600.0) -> None:
        # Queryable at return of add_items; save so child processes and cold start can load it.
        self.reader = _Reader(self.index, np.concatenate(self.categories))
        self.index.save_index(str(self.workdir / "index.bin"))
        np.save(self.workdir / "categories.npy", self.reader.categories)
        (self.workdir / "meta.json").write_text(json.dumps(
            {"dim": self.index.dim, "count": self.index.get_current_count()}))

    def query(self, vector, k, where) -> list[int]:
        return self.reader.query(vector, k, where)

    def query_batch(self, vectors, k) -> list[list[int]]:
        labels, _ = self.index.knn_query(vectors, k=k)  # all cores, as a user would
        return labels.tolist()

    def client_spec(self) -> dict:
        return {"folder": str(self.workdir)}

    @staticmethod
    def connect(spec: dict):
        return _load_reader(spec["folder"]).query

    def cold_start(self, probe: np.ndarray) -> float:
        code = ("import sys, numpy as np; from bench.systems.hnswlib_system import _load_reader;"
                f"r = _load_reader({str(self.workdir)!r});"
                "print(r.query(np.ones(r.index.dim, np.float32), 10, None))")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       cwd=Path(__file__).resolve().parents[2])
        return time.perf_counter() - started
