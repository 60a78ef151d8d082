"""Which vector worker serves a vector segment: rendezvous (highest-random-weight) hashing.

Every worker gets a score per segment from a stable hash of (worker, segment); workers are
tried best score first. Adding or removing a worker moves only the segments whose best
worker changed (about 1/K of them), and every gateway replica agrees without coordination.
blake2b, not Python's hash(): that one is salted per process.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Sequence


def score(worker: str, segment_id: str) -> int:
    """The worker's weight for this segment: 64 bits of blake2b over both names."""
    digest = blake2b(
        worker.encode("utf-8") + b"\x00" + segment_id.encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def rank_workers(segment_id: str, workers: Sequence[str]) -> list[str]:
    """All `workers`, in the order they should serve `segment_id` (preferred first).

    Ties (astronomically unlikely) are broken by address so the order is total.
    """
    return sorted(workers, key=lambda worker: (-score(worker, segment_id), worker))


def preferred_worker(segment_id: str, workers: Sequence[str]) -> str:
    if not workers:
        raise ValueError("no vector workers configured")
    return rank_workers(segment_id, workers)[0]
