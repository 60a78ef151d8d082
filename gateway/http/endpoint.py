"""What every HTTP route shares: the body limit, JSON parsing, calling a servicer method in
the thread pool behind the same authentication as gRPC, error mapping, metrics and the
request log.

- Body: at most --max-message-size bytes (the gRPC limit), else 413; JSON, else 400.
- Auth: with --auth-tokens-file, `Authorization: Bearer <t>` or `X-Chroma-Token: <t>`,
  checked by gateway.auth_interceptor's check_call against the rule of the gRPC method the
  route calls (gateway.auth_policy), so a token may do over HTTP exactly what it may do
  over gRPC.
- Servicer calls block (they call the workers), so they run in starlette's thread pool.
- Request log (logger `segmentdb.http`): one DEBUG line per request (method, route, status,
  duration_ms, peer), WARNING for 5xx; bodies and headers (tokens) are never logged.
- Metrics: segmentdb_http_requests_total{method,route,status},
  segmentdb_http_request_seconds{method,route}, segmentdb_http_requests_in_flight.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth_interceptor import AuthInterceptor
from gateway.http import http_errors
from gateway.http.context import HttpCallContext, bearer_from_headers
from segmentdb import errors, metrics

log = logging.getLogger("segmentdb.http")

_SERVICE = "/segmentdb.v1."


@dataclass
class Call:
    """One HTTP request being handled: its parsed body and its servicer-call context."""

    request: Request
    body: Any
    context: HttpCallContext
    auth: Optional[AuthInterceptor]

    def path(self, name: str) -> str:
        return self.request.path_params[name]

    async def invoke(self, method: str, behavior: Callable, message):
        """`behavior(message, context)` in the thread pool, after the gRPC auth check for
        `method` ("CollectionService/GetCollection")."""
        full = _SERVICE + method

        def run():
            if self.auth is not None:
                self.auth.check_call(self.context, full, message)
            return behavior(message, self.context)

        return await run_in_threadpool(run)

    async def authenticate(self, method: str):
        """Only who the caller is (None without authentication); for /auth/identity."""
        if self.auth is None:
            return None
        return await run_in_threadpool(self.auth.authenticate, self.context, _SERVICE + method)


Handler = Callable[[Call], Awaitable[Any]]


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        # allow_nan=False: a NaN/inf would be invalid JSON for every client; none is stored.
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def endpoint(route: str, handler: Handler, *, max_body_bytes: int,
             auth: Optional[AuthInterceptor], status: int = 200, reads_body: bool = False):
    """A starlette endpoint for `handler`, observed under the route template `route`."""

    async def serve(request: Request) -> Response:
        method = request.method
        started = time.perf_counter()
        recorder = metrics.http  # None unless --metrics-port
        if recorder is not None:
            recorder.started(method, route)
        context = HttpCallContext(bearer_from_headers(request.headers), _peer(request))
        try:
            body = await _read_json(request, max_body_bytes) if reads_body else None
            result = await handler(Call(request, body, context, auth))
            response = result if isinstance(result, Response) else JsonResponse(result, status)
        except Exception as exc:  # noqa: BLE001 - every error becomes Chroma's error body
            error = http_errors.to_segmentdb_error(exc, f"{method} {route}")
            status_code, content = http_errors.error_body(error)
            response = JsonResponse(content, status_code)
        finally:
            context.finish()
        observe(method, route, response.status_code, time.perf_counter() - started,
                _peer(request), response, recorder)
        return response

    return serve


def observe(method: str, route: str, status: int, seconds: float, peer: str,
            response: Optional[Response] = None, started_on=None) -> None:
    """Metrics (`started_on`: the recorder whose started() counted it in flight) and the
    request log line."""
    recorder = started_on or metrics.http
    if recorder is not None:
        recorder.finished(method, route, status, seconds, started=started_on is not None)
    level = logging.WARNING if status >= 500 else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    fields = {"method": method, "route": route, "status": status,
              "duration_ms": round(seconds * 1000, 3), "peer": peer}
    if status >= 500 and response is not None:
        fields["details"] = response.body.decode("utf-8", "replace")[:500]
        log.warning("http %s %s failed: %d %s (%.1f ms, peer %s)", method, route, status,
                    fields["details"], fields["duration_ms"], peer, extra=fields)
    else:
        log.debug("http %s %s %d %.1f ms peer %s", method, route, status,
                  fields["duration_ms"], peer, extra=fields)


def _peer(request: Request) -> str:
    client = request.client
    return f"{client.host}:{client.port}" if client else "unknown"


async def _read_json(request: Request, max_bytes: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidArgumentError(
            f"request body: failed to parse it as JSON ({str(exc)[:200]}); send a JSON "
            "object with Content-Type: application/json") from None


def _too_large(size: int, max_bytes: int) -> errors.BatchSizeExceededError:
    return errors.BatchSizeExceededError(
        f"request body: {size} bytes is over this server's limit of {max_bytes} bytes "
        "(--max-message-size); send fewer records per request")
