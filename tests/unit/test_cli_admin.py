"""`segmentdb stats | reindex | pin | release`: help, rendering, and errors without a server."""

from __future__ import annotations

import socket

import pytest

from segmentdb import cli, cli_admin


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("command", list(cli_admin.EXAMPLES))
def test_help_has_an_example_and_the_connection_flags(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  segmentdb {command} " in out
    assert "--target" in out and "--token" in out


def test_top_level_help_lists_the_admin_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in cli_admin.EXAMPLES:
        assert f"e.g. segmentdb {command} " in out


@pytest.mark.parametrize("argv", [["stats"], ["reindex"], ["pin", "docs"], ["release", "docs"]])
def test_an_unreachable_target_is_one_line_and_exit_1(capsys, argv):
    target = _free_address()
    assert cli.main([*argv, "--target", target]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segmentdb: error: ")
    assert f"cannot reach segmentdb at {target}" in err and "SEGMENTDB_TARGET" in err


def test_target_defaults_to_the_environment(monkeypatch, capsys):
    target = _free_address()
    monkeypatch.setenv("SEGMENTDB_TARGET", target)
    assert cli.main(["stats"]) == 1
    assert target in capsys.readouterr().err


def test_target_defaults_to_localhost(monkeypatch):
    monkeypatch.delenv("SEGMENTDB_TARGET", raising=False)
    args = cli.build_parser().parse_args(["stats"])
    assert args.target == "localhost:50051"


def test_stats_table_shows_every_worker_and_the_storage():
    stats = {
        "workers": [
            {"address": "127.0.0.1:7001", "reachable": True, "error": "",
             "memory_budget_bytes": 300 * 1024 * 1024, "loaded_bytes": 1536,
             "resident_bytes": 50 * 1024 * 1024, "peak_resident_bytes": 60 * 1024 * 1024,
             "hits": 9, "misses": 2, "loads": 1, "rebuilds": 1, "evictions": 3,
             "load_seconds_max": 0.25,
             "segments": [{"pinned": True}, {"pinned": False}]},
            {"address": "127.0.0.1:7002", "reachable": False, "error": "UNAVAILABLE: refused"},
        ],
        "storage": {"collections": 2, "records": 10, "log_entries": 4, "sqlite_bytes": 2048},
    }
    table = cli_admin.render_stats(stats)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["worker", "up", "budget"]
    assert lines[2].split() == ["127.0.0.1:7001", "yes", "300.0MiB", "1.5KiB", "50.0MiB",
                                "60.0MiB", "2", "1", "9", "2", "1", "1", "3", "0.25"]
    assert lines[3].split()[:2] == ["127.0.0.1:7002", "no"]
    assert "127.0.0.1:7002: unreachable: UNAVAILABLE: refused" in table
    assert lines[-1] == "storage: 2 collections, 10 records, 4 log entries, sqlite 2.0KiB"


@pytest.mark.parametrize("count, text", [(0, "0B"), (1023, "1023B"), (1024, "1.0KiB"),
                                         (5 * 1024 ** 3, "5.0GiB"), (3 * 1024 ** 4, "3072.0GiB")])
def test_format_bytes(count, text):
    assert cli_admin.format_bytes(count) == text


@pytest.mark.parametrize("argv, message", [
    (["serve", "--memory-budget", "lots"], "--memory-budget: "),
    (["serve", "--idle-ttl", "soon"], "--idle-ttl: 'soon' is not a number of seconds"),
    (["serve", "--idle-ttl", "-1"], "--idle-ttl: must be 0"),
])
def test_serve_cache_flags_are_checked(capsys, argv, message):
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err
