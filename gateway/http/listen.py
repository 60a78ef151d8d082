"""The HTTP API's listening socket, bound before starlette and uvicorn are imported.

The gateway binds it while it builds the gRPC server, writes both ports to its port file,
and only then imports and starts the HTTP server (gateway.http.server, ~45 ms of imports):
that import is no longer on the path to the first gRPC answer after a start. A client that
connects in between waits in the listen backlog, it is not refused.
"""

from __future__ import annotations

import socket


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0 = any free port); raises OSError."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose socket says
    # so, and without it every response on a kept-alive connection waits ~40 ms (Nagle
    # holding the body behind the headers until the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted ones inherit it
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
