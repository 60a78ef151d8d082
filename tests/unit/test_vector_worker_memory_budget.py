"""`--memory-budget auto`: half of the memory available to the process (the cgroup v2 limit
when set, else physical RAM), and `segmentdb serve` dividing it among its vector workers."""

from __future__ import annotations

import logging
import os

import pytest

from segmentdb.supervisor import ServeConfig, vector_worker_budget
from vector_worker import memory_budget

RAM = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
GIB = 1 << 30


@pytest.fixture()
def cgroup(tmp_path):
    """Write a fake memory.max and return its path."""
    def write(text: str) -> str:
        path = tmp_path / "memory.max"
        path.write_text(text + "\n")
        return str(path)
    return write


def test_a_cgroup_limit_is_the_available_memory(cgroup):
    got = memory_budget.available_memory(cgroup(str(2 * GIB)))
    assert (got.bytes, got.source) == (2 * GIB, "cgroup limit")


@pytest.mark.parametrize("text", ["max", "garbage", "0", str(RAM * 4)])
def test_without_a_usable_cgroup_limit_physical_ram_is_available(cgroup, text):
    got = memory_budget.available_memory(cgroup(text))
    assert (got.bytes, got.source) == (RAM, "physical RAM")


def test_no_cgroup_file_means_physical_ram(tmp_path):
    assert memory_budget.available_memory(str(tmp_path / "absent")).bytes == RAM


def test_auto_is_half_divided_among_workers(cgroup):
    path = cgroup(str(4 * GIB))
    assert memory_budget.resolve("auto", cgroup_path=path) == (
        2 * GIB, "auto: half of 4.0 GiB (cgroup limit)")
    assert memory_budget.resolve("auto", workers=4, cgroup_path=path) == (
        GIB // 2, "auto: half of 4.0 GiB (cgroup limit) / 4 vector workers")


def test_sizes_and_zero_are_taken_as_given():
    assert memory_budget.resolve("300MiB") == (300 << 20, "--memory-budget")
    assert memory_budget.resolve("0") == (0, "unlimited")
    with pytest.raises(ValueError, match="invalid size"):
        memory_budget.resolve("half")


def test_serve_passes_each_worker_its_share_of_auto_explicitly(caplog):
    with caplog.at_level(logging.INFO, logger="segmentdb.serve"):
        share = vector_worker_budget(ServeConfig(path="unused", vector_workers=3))
    assert int(share) == int(memory_budget.available_memory().bytes * 0.5) // 3
    assert "memory budget per vector worker" in caplog.text and "/ 3 vector workers" in caplog.text
    assert vector_worker_budget(ServeConfig(path="unused", memory_budget="auto",
                                            vector_workers=2)) == str(
        int(memory_budget.available_memory().bytes * 0.5) // 2)


def test_serve_passes_an_explicit_budget_per_worker_and_zero_as_unlimited(caplog):
    assert vector_worker_budget(ServeConfig(path="unused", memory_budget="300MiB",
                                            vector_workers=3)) == str(300 << 20)
    with caplog.at_level(logging.INFO, logger="segmentdb.serve"):
        assert vector_worker_budget(ServeConfig(path="unused", memory_budget="0")) == "0"
    assert "memory budget per vector worker: unlimited" in caplog.text
