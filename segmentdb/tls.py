"""TLS credentials from PEM files: the gateway's public port (optionally mutual TLS) and
the SDK/CLI side of it.

Server: `--tls-cert FILE --tls-key FILE` serve TLS only (a plaintext client fails its
handshake); `--tls-client-ca FILE` also requires every client to present a certificate
signed by that CA (mutual TLS). Client: a CA file to trust (else the system roots), and a
client certificate and key for mutual TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


def read_pem(path: str, flag: str) -> bytes:
    """The file's bytes; ValueError naming `flag` when unreadable or not PEM."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ValueError(f"{flag}: cannot read {path!r}: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{flag}: {path!r} is not a PEM file (no '-----BEGIN' line)")
    return data


@dataclass(frozen=True)
class ServerTls:
    """The public port's TLS files (paths, checked when the server starts)."""

    cert: str
    key: str
    client_ca: Optional[str] = None

    @classmethod
    def from_flags(cls, cert: Optional[str], key: Optional[str],
                   client_ca: Optional[str]) -> Optional["ServerTls"]:
        """None when TLS is off; ValueError for an incomplete combination."""
        if not cert and not key:
            if client_ca:
                raise ValueError("--tls-client-ca: mutual TLS needs TLS; also give --tls-cert "
                                 "and --tls-key")
            return None
        if not cert or not key:
            missing = "--tls-key" if cert else "--tls-cert"
            raise ValueError(f"{missing}: TLS needs both --tls-cert and --tls-key")
        return cls(cert, key, client_ca or None)

    def credentials(self):
        """grpc.ServerCredentials (reads the files; ValueError naming the flag)."""
        import grpc

        cert = read_pem(self.cert, "--tls-cert")
        key = read_pem(self.key, "--tls-key")
        ca = read_pem(self.client_ca, "--tls-client-ca") if self.client_ca else None
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                           require_client_auth=ca is not None)


def client_credentials(ca_file: Optional[str] = None, cert_file: Optional[str] = None,
                       key_file: Optional[str] = None) -> dict:
    """Client() keyword arguments for these files (empty dict when none is given)."""
    if bool(cert_file) != bool(key_file):
        missing = "--client-key" if cert_file else "--client-cert"
        raise ValueError(f"{missing}: a client certificate needs both --client-cert and "
                         "--client-key")
    options: dict = {}
    if ca_file:
        options["root_certificates"] = read_pem(ca_file, "--ca-file")
    if cert_file:
        options["certificate_chain"] = read_pem(cert_file, "--client-cert")
        options["private_key"] = read_pem(key_file, "--client-key")
    if options:
        options["tls"] = True
    return options
