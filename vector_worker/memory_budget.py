"""The default memory budget: `auto` = half of the memory available to the process.

Unlimited by default meant a worker's memory only grew until the machine (or the container's
OOM killer) stopped it. Available memory is the cgroup v2 limit (`/sys/fs/cgroup/memory.max`,
what a container is allowed) when one is set, else physical RAM; half of it leaves room for
the Python heap, gRPC buffers, the page cache and the other processes of `segmentdb serve`
(which divides the half among its K vector workers and passes each its share). `0` still
means unlimited, for operators who size memory themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from segmentdb.units import parse_size

AUTO = "auto"
CGROUP_MEMORY_MAX = "/sys/fs/cgroup/memory.max"
# The share of available memory `auto` gives the vector workers' segments, together.
AUTO_FRACTION = 0.5


@dataclass(frozen=True)
class Available:
    bytes: int
    source: str  # "cgroup limit" or "physical RAM"


def available_memory(cgroup_path: str = CGROUP_MEMORY_MAX) -> Available:
    """Memory this process may use: the cgroup limit when set (and below RAM), else RAM."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open(cgroup_path) as fh:
            text = fh.read().strip()
    except OSError:
        text = "max"  # no cgroup v2 (bare metal, cgroup v1, macOS): no limit known
    if text != "max":
        try:
            limit = int(text)
        except ValueError:
            limit = 0
        if 0 < limit < ram:
            return Available(limit, "cgroup limit")
    return Available(ram, "physical RAM")


def auto_budget(workers: int = 1, cgroup_path: str = CGROUP_MEMORY_MAX) -> tuple[int, str]:
    """(bytes, how they were found) for `auto` shared among `workers` vector workers."""
    available = available_memory(cgroup_path)
    budget = max(1, int(available.bytes * AUTO_FRACTION) // max(1, workers))
    share = "" if workers == 1 else f" / {workers} vector workers"
    return budget, (f"auto: half of {format_bytes(available.bytes)} ({available.source})"
                    f"{share}")


def resolve(text: str | int, workers: int = 1,
            cgroup_path: str = CGROUP_MEMORY_MAX) -> tuple[int, str]:
    """(bytes, description) for a --memory-budget value: `auto`, a size, or 0 (unlimited).
    Raises ValueError for anything else."""
    if isinstance(text, str) and text.strip().lower() == AUTO:
        return auto_budget(workers, cgroup_path)
    budget = parse_size(text)
    return budget, "unlimited" if budget == 0 else "--memory-budget"


def format_bytes(count: int) -> str:
    """`1.5 GiB`-style text for logs."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"  # pragma: no cover
