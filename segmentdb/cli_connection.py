"""How the client commands reach a gateway: bearer token and TLS flags, shared by every
command that talks to a running service (stats, reindex, pin, release, backup, vacuum,
export, import).

    --token TOKEN | --token-file FILE   env SEGMENTDB_TOKEN / SEGMENTDB_TOKEN_FILE
    --tls                               TLS with the system's CA certificates
    --ca-file FILE                      TLS trusting this PEM CA   (env SEGMENTDB_CA_FILE)
    --client-cert FILE --client-key FILE  a client certificate for mutual TLS
                                        (env SEGMENTDB_CLIENT_CERT / SEGMENTDB_CLIENT_KEY)

--token-file keeps the token out of the process list and shell history; prefer it (or the
environment variable) to --token.
"""

from __future__ import annotations

import argparse
import os


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Add --token-file and the TLS flags (commands already add --target and --token)."""
    env = os.environ
    parser.add_argument("--token-file", default=env.get("SEGMENTDB_TOKEN_FILE"), metavar="FILE",
                        help="read the bearer token from FILE (env SEGMENTDB_TOKEN_FILE); "
                             "safer than --token, which other local users can see")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS, trusting the system's CA certificates")
    parser.add_argument("--ca-file", default=env.get("SEGMENTDB_CA_FILE"), metavar="FILE",
                        help="connect with TLS, trusting this PEM CA (env SEGMENTDB_CA_FILE)")
    parser.add_argument("--client-cert", default=env.get("SEGMENTDB_CLIENT_CERT"),
                        metavar="FILE", help="PEM client certificate for mutual TLS (with "
                        "--client-key; env SEGMENTDB_CLIENT_CERT)")
    parser.add_argument("--client-key", default=env.get("SEGMENTDB_CLIENT_KEY"),
                        metavar="FILE", help="PEM private key of --client-cert (env "
                        "SEGMENTDB_CLIENT_KEY)")


def client_options(args: argparse.Namespace) -> dict:
    """Client() keyword arguments: token (from --token or --token-file) and TLS files.

    Raises ValueError naming the flag for an unreadable file.
    """
    from segmentdb.tls import client_credentials

    token = getattr(args, "token", None)
    token_file = getattr(args, "token_file", None)
    if token_file:
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise ValueError(f"--token-file: cannot read {token_file!r}: {exc.strerror}") from None
    options = client_credentials(getattr(args, "ca_file", None),
                                 getattr(args, "client_cert", None),
                                 getattr(args, "client_key", None))
    if getattr(args, "tls", False):
        options["tls"] = True
    options["token"] = token or None
    return options
