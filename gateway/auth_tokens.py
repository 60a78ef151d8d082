"""The gateway's bearer tokens: read from a JSON file (a mounted Kubernetes Secret), never
from the command line, looked up in constant time, never logged.

File format (`--auth-tokens-file`, env SEGMENTDB_AUTH_TOKENS_FILE):

    {"tokens": [
      {"name": "acme-app",    "token": "<32+ random characters>", "tenants": ["acme"], "role": "write"},
      {"name": "acme-report", "token": "...", "tenants": ["acme"], "role": "read"},
      {"name": "ops",         "token_sha256": "<hex sha256 of the token>", "tenants": "*", "role": "admin"}
    ]}

- `token` (at least 16 characters) or `token_sha256` (the file then holds no secret);
- `tenants`: a list of tenant names, or "*" for every tenant;
- `role`: "read" (get, query, count, list, export), "write" (read + record writes and
  collection create/modify/delete, import), "admin" (write + databases, tenants and the
  AdminService; service-wide admin calls need "tenants": "*");
- `name`: a label for logs and error messages (default "token N"); the token itself never
  appears in either.

Lookup hashes the presented token with SHA-256 and compares the digest with EVERY
configured digest using hmac.compare_digest, so the time taken does not depend on which
token matched or how much of one did. The file is re-read when it changes (Secret rotation),
checked at most every RELOAD_CHECK_SECONDS; a bad new version keeps the previous tokens.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Optional

log = logging.getLogger(__name__)

ALL_TENANTS = "*"
MIN_TOKEN_LENGTH = 16
RELOAD_CHECK_SECONDS = 2.0
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class Role(enum.IntEnum):
    """Ordered: each role may do what the ones below it may."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Grant:
    """What one token may do."""

    name: str
    role: Role
    tenants: frozenset[str] | None  # None: every tenant

    def allows_tenant(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def describe_tenants(self) -> str:
        if self.tenants is None:
            return "every tenant"
        return ", ".join(repr(t) for t in sorted(self.tenants))


class TokenTable:
    """SHA-256 digests of the configured tokens and their grants."""

    def __init__(self, entries: list[tuple[bytes, Grant]]):
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, presented: str) -> Optional[Grant]:
        """The grant of `presented`, or None; constant time in the token's content."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Optional[Grant] = None
        for known, grant in self._entries:  # no early exit: every digest is compared
            if hmac.compare_digest(digest, known):
                found = grant
        return found


def parse(text: str, source: str = "the tokens file") -> TokenTable:
    """A TokenTable from the file's JSON; ValueError naming the entry and the fix."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("tokens"), list):
        raise ValueError(f'{source}: expected an object {{"tokens": [...]}}')
    entries: list[tuple[bytes, Grant]] = []
    seen: set[bytes] = set()
    for position, item in enumerate(document["tokens"]):
        where = f"{source}: tokens[{position}]"
        digest, grant = _entry(item, where, position)
        if digest in seen:
            raise ValueError(f"{where}: the same token appears twice; give each token once")
        seen.add(digest)
        entries.append((digest, grant))
    return TokenTable(entries)


def _entry(item, where: str, position: int) -> tuple[bytes, Grant]:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object with token, tenants and role")
    unknown = set(item) - {"name", "token", "token_sha256", "tenants", "role"}
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; use name, "
                         "token (or token_sha256), tenants, role")
    name = item.get("name", f"token {position}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.name: expected a non-empty string")
    where = f"{where} ({name})"
    token, hashed = item.get("token"), item.get("token_sha256")
    if (token is None) == (hashed is None):
        raise ValueError(f"{where}: give exactly one of token or token_sha256")
    if token is not None:
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"{where}.token: must be a string of at least {MIN_TOKEN_LENGTH} "
                             "characters (e.g. secrets.token_urlsafe(32))")
        if token != token.strip() or any(ch.isspace() or ord(ch) < 32 for ch in token):
            raise ValueError(f"{where}.token: must not contain whitespace or control characters")
        digest = hashlib.sha256(token.encode("utf-8")).digest()
    else:
        if not isinstance(hashed, str) or not _HEX_SHA256.match(hashed):
            raise ValueError(f"{where}.token_sha256: expected 64 hex digits (sha256 of the token)")
        digest = bytes.fromhex(hashed)
    role_name = item.get("role")
    try:
        role = Role[role_name.upper()] if isinstance(role_name, str) else None
    except KeyError:
        role = None
    if role is None:
        raise ValueError(f"{where}.role: expected \"read\", \"write\" or \"admin\", got {role_name!r}")
    tenants = item.get("tenants")
    if tenants == ALL_TENANTS:
        allowed = None
    elif (isinstance(tenants, list) and tenants
          and all(isinstance(t, str) and t for t in tenants)):
        if ALL_TENANTS in tenants:
            raise ValueError(f'{where}.tenants: write "tenants": "*" (not inside a list) for '
                             "every tenant")
        allowed = frozenset(tenants)
    else:
        raise ValueError(f'{where}.tenants: expected "*" or a non-empty list of tenant names')
    return digest, Grant(name=name, role=role, tenants=allowed)


def load(path: str) -> TokenTable:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ValueError(f"--auth-tokens-file: cannot read {path!r}: {exc.strerror}") from None
    return parse(text, f"--auth-tokens-file {path}")


class TokenSource:
    """The tokens of a file, re-read when the file changes (a rotated Kubernetes Secret)."""

    def __init__(self, path: str, check_every: float = RELOAD_CHECK_SECONDS):
        self.path = path
        self._check_every = check_every
        self._lock = threading.Lock()
        self._signature = self._stat()
        self._table = load(path)  # a bad file at start is fatal: ValueError
        self._checked_at = time.monotonic()

    def _stat(self) -> tuple | None:
        try:
            # stat follows the Secret's ..data symlink, so a swapped target shows up here.
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def table(self) -> TokenTable:
        now = time.monotonic()
        if now - self._checked_at < self._check_every:
            return self._table
        with self._lock:
            if now - self._checked_at >= self._check_every:
                self._checked_at = now
                signature = self._stat()
                if signature is not None and signature != self._signature:
                    self._reload(signature)
            return self._table

    def _reload(self, signature: tuple) -> None:
        self._signature = signature  # a bad version is reported once, not every check
        try:
            table = load(self.path)
        except ValueError as exc:
            log.error("auth tokens file changed but cannot be used (%s); keeping the previous "
                      "%d token(s)", exc, len(self._table))
            return
        self._table = table
        log.info("auth tokens reloaded from %s: %d token(s)", self.path, len(table))
