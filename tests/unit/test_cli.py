"""The `segmentdb` command line: help, version, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from segmentdb import cli
from segmentdb.version import __version__

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"segmentdb {__version__}"


def test_help_lists_every_command_with_an_example():
    result = run("--help")
    assert result.returncode == 0
    for command in ["serve", *cli.PROCESS_COMMANDS]:
        assert f"e.g. segmentdb {command} " in result.stdout, command


def test_serve_help_has_an_example_and_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example:\n  segmentdb serve --path" in out
    for flag in ["--path", "--host", "--port", "--vector-workers", "--port-file",
                 "--max-message-size", "--max-batch-size", "--memory-budget", "--idle-ttl",
                 "--tail-interval", "--log-retention",
                 "--log-level"]:
        assert flag in out
    assert "--parent-pid" not in out  # internal to PersistentClient


@pytest.mark.parametrize("args, message", [
    (["serve", "--vector-workers", "0"], "--vector-workers: must be at least 1"),
    (["serve", "--port", "70000"], "--port: 70000 is not a TCP port"),
    (["serve", "--max-message-size", "lots"], "--max-message-size: invalid size 'lots'"),
])
def test_errors_are_one_line_with_exit_1(capsys, args, message):
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("segmentdb: error: ")
    assert message in err


def test_debug_shows_the_traceback():
    result = run("--debug", "serve", "--vector-workers", "0")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "CommandError" in result.stderr


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: segmentdb" in capsys.readouterr().err


def test_process_commands_reach_their_package(capsys):
    # `segmentdb gateway --help` is the gateway package's own parser.
    pytest.importorskip("gateway.__main__")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gateway", "--help"])
    assert exit_info.value.code == 0
    assert "segmentdb gateway" in capsys.readouterr().out
