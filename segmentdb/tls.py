"""TLS credentials from PEM files: the gateway's public port (optionally mutual TLS) and
the SDK/CLI side of it.

Server: `--tls-cert FILE --tls-key FILE` serve TLS only (a plaintext client fails its
handshake); `--tls-client-ca FILE` also requires every client to present a certificate
signed by that CA (mutual TLS). Client: a CA file to trust (else the system roots), and a
client certificate and key for mutual TLS.

Internal channels (gateway -> workers, vector worker -> metadata worker) reuse the same
pieces: a worker given `--internal-tls-cert/--internal-tls-key` serves TLS only
(`ServerTls.internal`), and a caller given `--internal-tls-ca` (`InternalClientTls`) trusts
that CA alone, optionally checking the certificate against `--internal-tls-server-name`
instead of the address (grpc.ssl_target_name_override).
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
    # The flags named in errors: the public port's, or the internal ones (`internal`).
    flags: tuple[str, str, str] = ("--tls-cert", "--tls-key", "--tls-client-ca")

    @classmethod
    def internal(cls, cert: Optional[str], key: Optional[str]) -> Optional["ServerTls"]:
        """A worker's port: None when off; ValueError when only one of the two is given."""
        flags = ("--internal-tls-cert", "--internal-tls-key", "")
        if not cert and not key:
            return None
        if not cert or not key:
            missing = flags[1] if cert else flags[0]
            raise ValueError(f"{missing}: internal TLS needs both --internal-tls-cert and "
                             "--internal-tls-key")
        return cls(cert, key, None, flags)

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

        cert = read_pem(self.cert, self.flags[0])
        key = read_pem(self.key, self.flags[1])
        ca = read_pem(self.client_ca, self.flags[2]) if self.client_ca else None
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


@dataclass(frozen=True)
class InternalClientTls:
    """How a segmentdb process reaches the workers over TLS: the CA it trusts (its PEM bytes,
    read once at start-up) and the name to check their certificates against, when that is
    not the address's host (grpc.ssl_target_name_override)."""

    ca_pem: bytes
    server_name: Optional[str] = None

    @classmethod
    def from_flags(cls, ca_file: Optional[str],
                   server_name: Optional[str]) -> Optional["InternalClientTls"]:
        """None when off (plaintext); ValueError naming the flag otherwise."""
        if not ca_file:
            if server_name:
                raise ValueError("--internal-tls-server-name: only used with internal TLS; "
                                 "also give --internal-tls-ca")
            return None
        return cls(read_pem(ca_file, "--internal-tls-ca"), server_name or None)

    def open(self, address: str, options: list) -> "grpc.Channel":
        """A TLS channel to `address` (HOST:PORT or unix:PATH) with these channel options."""
        import grpc

        if self.server_name:
            options = [*options, ("grpc.ssl_target_name_override", self.server_name)]
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_pem)
        return grpc.secure_channel(address, credentials, options=options)


def internal_channel(address: str, options: list,
                     tls: Optional[InternalClientTls] = None) -> "grpc.Channel":
    """A channel to another segmentdb process: TLS when `tls` is given, else plaintext."""
    import grpc

    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return tls.open(address, options)
