"""A stand-in servicer, registered before a process's start-up work so that its gRPC server
(and health, NOT_SERVING) answers while that work runs: the metadata worker binds before it
applies schema migrations, which can take minutes on a large database. Until `ready()` hands
it the real servicer, every call gets UNAVAILABLE (which clients and the SDK retry).

gRPC binds method handlers when servicers are registered and a server can't take new
servicers after it started, hence a proxy rather than registering later.
"""

from __future__ import annotations

from typing import Any, Callable

from segmentdb import errors


class DeferredServicer:
    def __init__(self, what: str):
        self._what = what
        self._target: Any = None

    def ready(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Callable:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(request, context):
            target = self._target
            if target is None:
                raise errors.UnavailableError(
                    f"{self._what} is starting (opening its database, applying schema "
                    "migrations); retry shortly")
            return getattr(target, name)(request, context)

        call.__name__ = name
        return call
