"""The internal token's file: read by every process, written by `segmentdb serve`.

Kept free of grpc so `segmentdb serve` can create it before starting its children
(tests/unit/test_startup_imports.py). The token's use: segmentdb.internal_auth.
"""

from __future__ import annotations

import os
import secrets

HEADER = "x-segmentdb-internal-token"
MIN_TOKEN_LENGTH = 16


def read_token_file(path: str, flag: str = "--internal-token-file") -> str:
    """The token in `path` (surrounding whitespace removed); ValueError naming `flag`."""
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise ValueError(f"{flag}: cannot read {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{flag}: {path!r} is not UTF-8 text") from None
    if len(token) < MIN_TOKEN_LENGTH or any(ch.isspace() for ch in token):
        raise ValueError(
            f"{flag}: {path!r} must hold one token of at least {MIN_TOKEN_LENGTH} characters "
            "without whitespace (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return token


def write_token_file(path: str) -> str:
    """Create `path` (mode 0600) holding a new random token; returns the token."""
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token
