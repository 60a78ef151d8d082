"""`segmentdb migrate | vacuum` without a server: help, flags, one-line errors, rendering."""

from __future__ import annotations

import socket

import pytest

from segmentdb import cli, cli_maintenance


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("command", list(cli_maintenance.EXAMPLES))
def test_help_has_examples(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  segmentdb {command} " in out and "--path" in out and "--json" in out


def test_top_level_help_lists_them(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in cli_maintenance.EXAMPLES:
        assert f"e.g. segmentdb {command} " in out


def test_vacuum_of_an_unreachable_target_is_one_line_and_exit_1(capsys):
    target = _free_address()
    assert cli.main(["vacuum", "--target", target]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach segmentdb at {target}" in err
    assert "--path" in err  # it says how to vacuum a stopped folder instead


def test_vacuum_takes_a_path_or_a_target_not_both(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["vacuum", "--path", "x", "--target", "localhost:1"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_vacuum_checks_its_threshold_before_touching_the_folder(tmp_path, capsys):
    assert cli.main(["vacuum", "--path", str(tmp_path), "--min-deleted-fraction", "0"]) == 1
    err = capsys.readouterr().err
    assert "--min-deleted-fraction: 0.0 is not a fraction in (0, 1]" in err
    assert list(tmp_path.iterdir()) == []


def test_vacuum_of_a_folder_without_a_database_is_an_error(tmp_path, capsys):
    assert cli.main(["vacuum", "--path", str(tmp_path)]) == 1
    assert "holds no chroma.sqlite3" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_vacuum_summary_shows_bytes_and_the_segments_that_changed():
    result = {
        "mode": "online", "seconds": 1.25, "bytes_before": 3 * 1024 ** 2,
        "bytes_after": 1536 * 1024, "sqlite_bytes_before": 2 * 1024 ** 2,
        "sqlite_bytes_after": 1024 ** 2, "index_bytes_before": 1024 ** 2,
        "index_bytes_after": 512 * 1024, "log_entries_before": 40, "log_entries_after": 0,
        "segments": [
            {"segment_id": "seg-a", "live_count": 10, "deleted_count": 10, "rebuilt": True,
             "bytes_before": 1024 ** 2, "bytes_after": 512 * 1024, "error": ""},
            {"segment_id": "seg-b", "live_count": 5, "deleted_count": 0, "rebuilt": False,
             "bytes_before": 0, "bytes_after": 0, "error": ""},
            {"segment_id": "seg-c", "live_count": 0, "deleted_count": 0, "rebuilt": False,
             "bytes_before": 0, "bytes_after": 0, "error": "UNAVAILABLE: no worker"},
        ],
    }
    text = cli_maintenance.render_vacuum(result)
    assert "3.0MiB -> 1.5MiB" in text and "2.0MiB -> 1.0MiB" in text
    assert "log entries    40 -> 0" in text
    assert "3 examined, 1 rebuilt, 1 failed" in text
    assert "seg-a" in text and "seg-c" in text and "UNAVAILABLE: no worker" in text
    assert "seg-b" not in text  # unchanged and fine: not listed
