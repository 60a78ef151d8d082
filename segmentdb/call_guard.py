"""Run a check before a gRPC method's behaviour, for every kind of method handler.

Server interceptors only see the method name and metadata; a check that needs the request
(which tenant a call touches) must run inside the handler. `guard(handler, check)` returns a
handler of the same kind whose behaviour first calls `check(context, request)`:
- unary requests: `request` is the request message;
- streamed requests: the first message of the stream (peeked, then handed on unchanged), or
  None when the stream is empty or `peek_stream` is False.

`check` raises a `segmentdb.errors` class to refuse the call. The ErrorInterceptor of
segmentdb.serving sits outside every other interceptor, so the refusal becomes a status with
its code and message like any servicer error.
"""

from __future__ import annotations

import itertools
from typing import Callable, Optional

import grpc

Check = Callable[[grpc.ServicerContext, Optional[object]], None]


def guard(handler: grpc.RpcMethodHandler, check: Check, *,
          peek_stream: bool = False) -> grpc.RpcMethodHandler:
    """`handler` with `check` run first (see the module docstring)."""
    kwargs = dict(request_deserializer=handler.request_deserializer,
                  response_serializer=handler.response_serializer)
    if handler.unary_unary:
        behavior = handler.unary_unary

        def unary_unary(request, context):
            check(context, request)
            return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream:
        behavior = handler.unary_stream

        def unary_stream(request, context):
            check(context, request)
            yield from behavior(request, context)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary:
        behavior = handler.stream_unary

        def stream_unary(requests, context):
            return behavior(_checked_stream(requests, context, check, peek_stream), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    if handler.stream_stream:
        behavior = handler.stream_stream

        def stream_stream(requests, context):
            requests = _checked_stream(requests, context, check, peek_stream)
            yield from behavior(requests, context)

        return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)
    return handler


_END = object()


def _checked_stream(requests, context, check: Check, peek: bool):
    if not peek:
        check(context, None)
        return requests
    first = next(requests, _END)
    if first is _END:
        check(context, None)
        return iter(())
    check(context, first)
    return itertools.chain([first], requests)
