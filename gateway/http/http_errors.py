"""segmentdb.errors classes -> Chroma's HTTP status and error body.

Chroma's server answers `{"error": NAME, "message": TEXT}` and the stock client raises
chromadb.errors.error_types[NAME] (a plain Exception for a name it does not know). The
names and statuses follow what chromadb 1.5.9's server sends (docs/shared reference):
404 NotFoundError, 400 InvalidArgumentError, 409 ChromaError "... already exists". Where
Chroma has no equivalent, the status is the HTTP analogue of our gRPC code and the name is
one the stock client knows, so `except chromadb.errors.ChromaError` catches every error.
"""

from __future__ import annotations

import logging
import traceback

import grpc

from segmentdb import errors

log = logging.getLogger("segmentdb.http")

# (HTTP status, Chroma error name) by our class; subclasses fall back to their base.
_BY_CLASS: dict[type[errors.SegmentDBError], tuple[int, str]] = {
    errors.DuplicateIDError: (400, "DuplicateID"),
    errors.InvalidArgumentError: (400, "InvalidArgumentError"),
    errors.NotFoundError: (404, "NotFoundError"),
    errors.UniqueConstraintError: (409, "ChromaError"),
    errors.FailedPreconditionError: (412, "ChromaError"),
    errors.BatchSizeExceededError: (413, "BatchSizeExceededError"),
    errors.StorageFullError: (507, "InternalError"),
    errors.UnavailableError: (503, "InternalError"),
    errors.DeadlineExceededError: (504, "InternalError"),
    errors.AuthenticationError: (401, "AuthorizationError"),
    errors.AuthorizationError: (403, "AuthError"),
    errors.DataLossError: (500, "InternalError"),
    errors.InternalError: (500, "InternalError"),
    errors.CancelledError: (499, "ChromaError"),
}


def status_of(error: errors.SegmentDBError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    return 500, "InternalError"


def to_segmentdb_error(exc: BaseException, where: str) -> errors.SegmentDBError:
    """The SegmentDBError an exception from a servicer call stands for.

    The same rule as segmentdb.serving's ErrorInterceptor: our classes as they are, a
    worker's RpcError by its ErrorInfo/code, anything else INTERNAL with a logged traceback.
    """
    if isinstance(exc, errors.SegmentDBError):
        return exc
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return errors.from_rpc_error(exc)
    log.error("internal error in %s:\n%s", where,
              "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return errors.InternalError(f"internal error: {type(exc).__name__}: {exc}")


def error_body(error: errors.SegmentDBError) -> tuple[int, dict[str, str]]:
    status, name = status_of(error)
    return status, {"error": name, "message": errors.bounded_message(error.message)}
