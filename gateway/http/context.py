"""A stand-in for grpc.ServicerContext, for servicer calls that arrive over HTTP.

What the gateway's servicers and interceptors read from a context: invocation_metadata()
(the bearer token, for gateway.auth_interceptor), time_remaining() (the deadline passed on to
the workers: HTTP clients send none, so None, like a gRPC call without a deadline), peer()
(the request log), is_active(), and add_callback() (AdminService.Backup). Anything that would
abort raises instead: servicers raise segmentdb.errors classes and never abort.
"""

from __future__ import annotations

from typing import Callable, Optional

from segmentdb import errors

_BEARER = "Bearer "


def bearer_from_headers(headers) -> Optional[str]:
    """The token of `Authorization: Bearer <t>` or Chroma's `X-Chroma-Token: <t>` header.

    Returned as the full `Bearer <t>` value gRPC clients send, so one authentication code
    path checks both transports; None when the request carries neither header.
    """
    authorization = headers.get("authorization")
    if authorization is not None:
        return authorization
    token = headers.get("x-chroma-token")
    if token is not None:
        return _BEARER + token.strip()
    return None


class HttpCallContext:
    def __init__(self, authorization: Optional[str], peer: str):
        self._metadata = (("authorization", authorization),) if authorization is not None else ()
        self._peer = peer
        self._callbacks: list[Callable[[], None]] = []

    def invocation_metadata(self):
        return self._metadata

    def time_remaining(self) -> Optional[float]:
        return None

    def peer(self) -> str:
        return self._peer

    def is_active(self) -> bool:
        return True

    def add_callback(self, callback: Callable[[], None]) -> bool:
        self._callbacks.append(callback)
        return True

    def abort(self, code, details: str):  # pragma: no cover - servicers raise, never abort
        raise errors.BY_CODE.get(code, errors.InternalError)(details)

    def finish(self) -> None:
        """Run add_callback() callbacks: the HTTP request is over."""
        for callback in self._callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a failing cleanup must not change the answer
                pass
