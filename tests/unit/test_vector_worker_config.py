"""The vector worker's --memory-budget and --idle-ttl: flags, environment, defaults, errors."""

from __future__ import annotations

import pytest

from vector_worker import config, memory_budget
from vector_worker.__main__ import main, parser

BASE = ["--path", "/tmp/data", "--metadata", "127.0.0.1:1"]


def make(**overrides):
    args = vars(parser().parse_args(BASE + overrides.pop("argv", [])))
    args.update(overrides)
    return config.make_config(**{k.replace("-", "_"): v for k, v in args.items()})


def test_default_budget_is_half_the_available_memory_and_idle_ttl_never(monkeypatch):
    monkeypatch.delenv("SEGMENTDB_MEMORY_BUDGET", raising=False)
    made = make()
    available = memory_budget.available_memory()
    assert made.memory_budget_bytes == available.bytes // 2 > 0
    assert made.memory_budget_source.startswith("auto: half of")
    assert made.idle_ttl_seconds == 0.0
    assert make(argv=["--memory-budget", "AUTO"]).memory_budget_bytes == available.bytes // 2


def test_zero_still_means_unlimited():
    made = make(argv=["--memory-budget", "0"])
    assert (made.memory_budget_bytes, made.memory_budget_source) == (0, "unlimited")


def test_help_documents_auto_and_unlimited():
    text = parser().format_help()
    assert "auto = half of the" in text and "cgroup" in text and "0 = unlimited" in text


def test_flags_take_sizes_with_suffixes_and_seconds():
    made = make(argv=["--memory-budget", "300MiB", "--idle-ttl", "2.5"])
    assert (made.memory_budget_bytes, made.idle_ttl_seconds) == (300 * 1024 * 1024, 2.5)


def test_environment_variables_set_them_and_flags_win(monkeypatch):
    monkeypatch.setenv("SEGMENTDB_MEMORY_BUDGET", "1GiB")
    monkeypatch.setenv("SEGMENTDB_IDLE_TTL", "600")
    made = make()
    assert (made.memory_budget_bytes, made.idle_ttl_seconds) == (1 << 30, 600.0)
    made = make(argv=["--memory-budget", "2KiB"])
    assert made.memory_budget_bytes == 2048


@pytest.mark.parametrize("argv, message", [
    (["--memory-budget", "lots"], "--memory-budget: invalid size 'lots'"),
    (["--memory-budget", "lots"], "or auto (half of the available memory"),
    (["--idle-ttl", "soon"], "--idle-ttl: expected a number of seconds"),
    (["--idle-ttl", "-1"], "--idle-ttl: must be >= 0"),
])
def test_bad_values_name_the_flag(argv, message, capsys):
    assert main(BASE + argv) == 1
    assert message in capsys.readouterr().err
