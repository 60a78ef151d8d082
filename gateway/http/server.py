"""Run the Chroma HTTP API (starlette on uvicorn) inside the gateway process, on its own
thread and event loop, beside the gRPC server.

The socket is bound first (gateway.http.listen, on the caller's thread, before this module
and starlette are even imported): a port in use fails the gateway's start with a clear
message instead of a log line from a background thread, and an `auto` port (any free one)
is known at once for the port file. The gateway's public TLS
settings (--tls-cert/--tls-key/--tls-client-ca) apply to this port too.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from typing import Optional

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.auth_interceptor import AuthInterceptor
from gateway.http.endpoint import observe
from gateway.http.routes import ChromaRoutes, Servicers
from segmentdb.tls import ServerTls

log = logging.getLogger("segmentdb.http")


def build_app(servicers: Servicers, *, allow_reset: bool, max_body_bytes: int,
              auth: Optional[AuthInterceptor]) -> Starlette:
    routes = ChromaRoutes(servicers, allow_reset).routes(max_body_bytes, auth)

    async def not_found(request: Request, exc) -> JSONResponse:
        status = getattr(exc, "status_code", 404)
        observe(request.method, "<unmatched>", status, 0.0,
                f"{request.client.host}:{request.client.port}" if request.client else "unknown")
        if status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = (f"{request.url.path} is not a route of this server's Chroma API v2 "
                       "(see README, Chroma compatibility)")
        return JSONResponse({"error": "NotFoundError" if status == 404 else "ChromaError",
                             "message": message}, status)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


class HttpServer:
    """uvicorn serving `app` on an already-bound socket, in a daemon thread."""

    def __init__(self, app: Starlette, sock: socket.socket, tls: Optional[ServerTls],
                 grace: float):
        self.port = sock.getsockname()[1]
        self._sock = sock
        options = {}
        if tls is not None:
            options = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key}
            if tls.client_ca:
                options.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=max(int(grace), 1),
                                server_header=False, **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="http-api", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except Exception:  # noqa: BLE001 - logged: the gRPC side keeps serving
            log.exception("the HTTP API server stopped with an error")

    def start(self) -> None:
        self._thread.start()

    def begin_stop(self) -> None:
        """Stop accepting connections; in-flight requests get the grace period."""
        self._server.should_exit = True

    def stop(self, timeout: float = 30.0) -> None:
        self.begin_stop()
        self._thread.join(timeout)
        try:
            self._sock.close()
        except OSError:
            pass
