"""Which vector worker serves a vector segment: rendezvous (highest-random-weight) hashing.

Every worker gets a score per segment from a stable hash of (worker name, segment); workers
are tried best score first. Adding or removing a worker moves only the segments whose best
worker changed (about 1/K of them), and every gateway replica agrees without coordination.
blake2b, not Python's hash(): that one is salted per process.

A worker's name is what `--vector-workers` gives before `=` (`vector-worker-1=unix:/…`),
else its address. `segmentdb serve` names its workers: their Unix sockets live in a fresh
temp folder each start, and hashing those paths moved every segment to a random worker on
every restart — the old owner reloaded its working set for nothing (memory and CPU) while
the new one loaded on the first query.
"""

from __future__ import annotations

import re
from hashlib import blake2b
from typing import Mapping, Optional, Sequence

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def score(worker: str, segment_id: str) -> int:
    """The worker's weight for this segment: 64 bits of blake2b over both names."""
    digest = blake2b(
        worker.encode("utf-8") + b"\x00" + segment_id.encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def rank_workers(segment_id: str, workers: Sequence[str],
                 names: Optional[Mapping[str, str]] = None) -> list[str]:
    """All `workers` (addresses), in the order they should serve `segment_id` (preferred
    first), scored by their name in `names` (default: the address itself).

    Ties (astronomically unlikely) are broken by address so the order is total.
    """
    def name(worker: str) -> str:
        return names.get(worker, worker) if names else worker
    return sorted(workers, key=lambda worker: (-score(name(worker), segment_id), worker))


def preferred_worker(segment_id: str, workers: Sequence[str],
                     names: Optional[Mapping[str, str]] = None) -> str:
    if not workers:
        raise ValueError("no vector workers configured")
    return rank_workers(segment_id, workers, names)[0]


def parse_worker(entry: str) -> tuple[str, str]:
    """`NAME=ADDRESS` or `ADDRESS` -> (name, address); the name defaults to the address.

    Raises ValueError naming the flag when a name is given with no address."""
    entry = entry.strip()
    name, sep, address = entry.partition("=")
    if sep and _NAME.fullmatch(name.strip()):
        if not address.strip():
            raise ValueError(f"--vector-workers: {entry!r} names a worker but gives no "
                             "address; write NAME=HOST:PORT")
        return name.strip(), address.strip()
    return entry, entry  # no name (an address may itself contain '=', e.g. a socket path)


def parse_workers(text: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """A `--vector-workers` list -> (addresses in order, {address: name})."""
    named = [parse_worker(entry) for entry in text.split(",") if entry.strip()]
    return tuple(address for _name, address in named), {address: name for name, address in named}
