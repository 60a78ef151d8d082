"""metadata_worker.config: flags, then SEGMENTDB_* variables, then defaults."""

from __future__ import annotations

import pytest

from metadata_worker.config import Config, resolve


def test_defaults():
    assert resolve({"path": "/d"}, environ={}) == Config(path="/d")


def test_environment_fills_what_flags_leave_out_and_flags_win():
    env = {"SEGMENTDB_PATH": "/env", "SEGMENTDB_PORT": "7000", "SEGMENTDB_LOG_LEVEL": "debug",
           "SEGMENTDB_MAX_MESSAGE_SIZE": "1MiB"}
    config = resolve({"path": None, "port": "7001"}, environ=env)
    assert (config.path, config.port, config.log_level, config.max_message_bytes) == \
        ("/env", 7001, "DEBUG", 1024 * 1024)


@pytest.mark.parametrize("flags, message", [
    ({}, "--path is required"),
    ({"path": "/d", "port": "http"}, "--port: 'http' is not a port number"),
    ({"path": "/d", "port": "70000"}, "outside 0-65535"),
    ({"path": "/d", "max_message_size": "lots"}, "invalid size"),
])
def test_bad_settings_name_the_flag(flags, message):
    with pytest.raises(ValueError, match=message):
        resolve(flags, environ={})
