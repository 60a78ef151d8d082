"""Pure pieces of export/import: resume chunking, page tokens, the CLI without a server."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from hypothesis import given, strategies as st

from metadata_worker import transfer_rpcs
from segmentdb import cli, cli_transfer, errors
from segmentdb.transfer import Records, _chunks


def _records(begin: int, count: int) -> Records:
    return Records([f"r{i}" for i in range(begin, begin + count)],
                   np.arange(begin, begin + count, dtype=np.float32).reshape(count, 1),
                   [str(i) for i in range(begin, begin + count)], None)


@given(sizes=st.lists(st.integers(0, 9), max_size=8), chunk_size=st.integers(1, 6),
       skip=st.integers(0, 60))
def test_chunks_after_a_resume_point_are_exactly_the_records_after_it(sizes, chunk_size, skip):
    batches, begin = [], 0
    for size in sizes:
        batches.append(_records(begin, size))
        begin += size
    chunks = list(_chunks(batches, chunk_size, skip))
    sent = [record_id for _offset, chunk in chunks for record_id in chunk.ids]
    assert sent == [f"r{i}" for i in range(min(skip, begin), begin)]
    expected_offset = min(skip, begin)
    for offset, chunk in chunks:
        assert offset == expected_offset and 1 <= len(chunk) <= chunk_size
        assert chunk.ids[0] == f"r{offset}" and chunk.embeddings[0, 0] == offset
        assert chunk.documents == [str(offset + i) for i in range(len(chunk))]
        expected_offset += len(chunk)


@given(label=st.integers(0, 2**63 - 1))
def test_page_tokens_round_trip_and_bind_their_collection(label):
    token = transfer_rpcs.encode_page_token("c-1", label)
    assert transfer_rpcs.decode_page_token(token, "c-1") == label
    with pytest.raises(errors.InvalidArgumentError, match="belongs to the export of collection"):
        transfer_rpcs.decode_page_token(token, "c-2")


@pytest.mark.parametrize("token", ["x", "djE6Yy0xOi0x", "djI6Yy0xOjE", "%%%", "djE6Yy0xOmFiYw"])
def test_malformed_page_tokens_are_invalid_arguments(token):
    with pytest.raises(errors.InvalidArgumentError, match="page_token"):
        transfer_rpcs.decode_page_token(token, "c-1")


def test_an_empty_page_token_starts_at_the_beginning():
    assert transfer_rpcs.decode_page_token("", "c-1") == 0


@pytest.mark.parametrize("command", list(cli_transfer.EXAMPLES))
def test_help_shows_an_example_and_the_connection_flags(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"example:\n  segmentdb {command} " in out
    assert "--target" in out and "--json" in out


def test_top_level_help_lists_export_and_import(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "e.g. segmentdb export " in out and "e.g. segmentdb import " in out


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_target_is_one_line_and_exit_1(capsys, tmp_path):
    target = _free_address()
    assert cli.main(["export", "--target", target, "--collection", "docs", "--out",
                     str(tmp_path / "docs.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach segmentdb at {target}" in err
    assert list(tmp_path.iterdir()) == []


def test_import_of_a_missing_or_unknown_file_fails_before_connecting(capsys, tmp_path):
    assert cli.main(["import", "--target", _free_address(), str(tmp_path / "none.csv")]) == 1
    assert "none.csv: no such file" in capsys.readouterr().err
    (tmp_path / "data.txt").write_text("x")
    assert cli.main(["import", "--target", _free_address(), str(tmp_path / "data.txt")]) == 1
    assert "unknown file type '.txt'" in capsys.readouterr().err
