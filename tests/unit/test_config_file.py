"""Settings precedence: flag > SEGMENTDB_* environment > config file > default, for every
process, from the real parsers and config modules; and the file's error messages."""

from __future__ import annotations

import json
import logging
import re

import pytest

from gateway import __main__ as gateway_main
from gateway.config import SETTINGS as GATEWAY_SETTINGS
from metadata_worker import __main__ as metadata_main
from metadata_worker import config as metadata_config
from segmentdb import cli, config_file
from segmentdb.log_json import JsonFormatter
from vector_worker import __main__ as vector_main
from vector_worker import config as vector_config


@pytest.fixture()
def toml(tmp_path):
    def write(text: str):
        path = tmp_path / "segmentdb.toml"
        path.write_text(text)
        return str(path)
    return write


def test_every_process_names_a_setting_by_the_same_variable():
    tables = [metadata_config.ENVIRONMENT, vector_config.ENVIRONMENT, GATEWAY_SETTINGS,
              cli.SERVE_SETTINGS]
    union: dict[str, str] = {}
    for table in tables:
        for name, variable in table.items():
            assert union.setdefault(name, variable) == variable, name
    assert set(union) == config_file.all_settings()


def _metadata(argv, environ):
    args = metadata_main.parser().parse_args(argv)
    layered = config_file.layered_environ(argv, "metadata-worker",
                                          metadata_config.ENVIRONMENT, environ)
    return metadata_config.resolve(vars(args), layered)


@pytest.mark.parametrize("flag, env, expected", [
    (None, None, 7),        # the file over the default
    (None, "8", 8),         # the environment over the file
    ("9", "8", 9),          # the flag over both
])
def test_metadata_worker_precedence(toml, flag, env, expected):
    path = toml("log-retention = 5\n[metadata-worker]\nlog-retention = 7\n")
    argv = ["--path", "/d", "--config", path] + (["--log-retention", flag] if flag else [])
    environ = {"SEGMENTDB_LOG_RETENTION": env} if env else {}
    assert _metadata(argv, environ).log_retention == expected


def test_without_a_file_the_default_applies_and_segmentdb_config_names_the_file(toml):
    assert _metadata(["--path", "/d"], {}).log_retention == metadata_config.DEFAULT_LOG_RETENTION
    path = toml('log-format = "json"\nmetrics-port = 0\n')
    config = _metadata(["--path", "/d"], {"SEGMENTDB_CONFIG": path})
    assert (config.log_format, config.metrics_port) == ("json", 0)
    assert _metadata(["--path", "/d"], {}).metrics_port is None  # unset = off


def test_vector_worker_and_gateway_read_their_own_tables(toml):
    path = toml('metrics-port = 9000\nmax-batch-size = 12\n'
                '[vector-worker]\nmemory-budget = "1MiB"\nmetrics-port = 9002\n'
                '[gateway]\nvector-workers = ["a:1", "b:2"]\nmetadata = "m:1"\n')
    argv = ["--path", "/d", "--metadata", "m:1", "--config", path]
    environ = config_file.layered_environ(argv, "vector-worker", vector_config.ENVIRONMENT, {})
    args = vector_main.parser(environ).parse_args(argv)
    assert (args.memory_budget, args.metrics_port) == ("1MiB", "9002")
    argv = ["--config", path]
    environ = config_file.layered_environ(argv, "gateway", GATEWAY_SETTINGS,
                                          {"SEGMENTDB_METRICS_PORT": "9100"})
    args = gateway_main.build_parser(environ).parse_args(argv)
    assert args.vector_workers == "a:1,b:2" and args.metadata == "m:1"
    assert args.max_batch_size == "12"      # top level, a setting the gateway has
    assert args.metrics_port == "9100"      # the environment over the file's 9000


def test_serve_precedence(toml):
    path = toml('[serve]\nvector-workers = 3\nmemory-budget = "64MiB"\nmetrics-port = 9100\n')
    argv = ["serve", "--config", path, "--vector-workers", "1"]
    environ = config_file.layered_environ(argv[1:], "serve", cli.SERVE_SETTINGS,
                                          {"SEGMENTDB_MEMORY_BUDGET": "32MiB"})
    args = cli.build_parser(environ).parse_args(argv)
    assert args.vector_workers == 1          # flag over file
    assert args.memory_budget == "32MiB"     # env over file
    assert args.metrics_port == "9100"       # file over default


@pytest.mark.parametrize("text, message", [
    ("memory-budgett = 1\n", "unknown setting 'memory-budgett'"),
    ("[vector-workers]\nidle-ttl = 1\n", r"unknown table \[vector-workers\]"),
    ("[metadata-worker]\nmemory-budget = 1\n", r"\[metadata-worker\] has no setting 'memory-budget'"),
    ("path = \n", "is not valid TOML"),
    ("path = {a = 1}\n", "unknown table"),
    ("[metadata-worker]\npath = {a = 1}\n", "must be a string, number"),
])
def test_file_errors_name_the_problem(toml, text, message):
    with pytest.raises(config_file.ConfigFileError, match=message):
        config_file.load(toml(text), "metadata-worker", metadata_config.ENVIRONMENT)


def test_a_missing_file_is_an_error_of_the_process(tmp_path, capsys):
    code = metadata_main.main(["--path", str(tmp_path), "--config", str(tmp_path / "no.toml")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_json_log_lines_carry_the_fields_and_extras():
    record = logging.LogRecord("segmentdb.rpc", logging.ERROR, __file__, 1, "rpc %s failed",
                               ("/x.Y/Z",), None)
    record.code, record.duration_ms = "INTERNAL", 1.5
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "rpc /x.Y/Z failed" and line["level"] == "ERROR"
    assert line["logger"] == "segmentdb.rpc" and isinstance(line["pid"], int)
    assert line["code"] == "INTERNAL" and line["duration_ms"] == 1.5
    assert line["ts"].endswith("Z") and "RuntimeError: boom" in line["exc"]


def _options(parser) -> set[str]:
    import argparse

    return {option for action in parser._actions if action.help != argparse.SUPPRESS
            and not isinstance(action, argparse._HelpAction)
            for option in action.option_strings if option.startswith("--")}


def test_every_flag_of_every_process_is_in_the_one_settings_table():
    import argparse
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tables = [line for line in readme.splitlines() if line.startswith("| flag |")]
    assert len(tables) == 1, "the README must keep ONE settings table"
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `--")]
    # `--host` / `--port` share a row: take every flag named in the first column.
    documented = {flag for row in rows for flag in re.findall(r"`(--[a-z-]+)", row.split("|")[1])}
    serve = next(a for a in cli.build_parser()._actions
                 if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    parsers = {"metadata-worker": metadata_main.parser(), "vector-worker": vector_main.parser(),
               "gateway": gateway_main.build_parser(), "serve": serve}
    for name, parser in parsers.items():
        missing = _options(parser) - documented
        assert not missing, f"{name}: {sorted(missing)} missing from the README settings table"
