"""The one table of segmentdb errors, used in both directions.

Servers raise these classes; one interceptor (segmentdb.serving) turns them into a
gRPC status carrying a google.rpc.ErrorInfo whose `reason` is the class name. The
SDK turns a status back into the same class with `from_rpc_error`, so a client sees
chromadb's exception names *and* the gRPC code (`err.code`).
"""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "segmentdb"


class SegmentDBError(Exception):
    """Base of every error segmentdb raises. `code` is the gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    @classmethod
    def name(cls) -> str:
        return cls.__name__


# Names follow chromadb.errors so code written for chromadb catches the same names.
class InvalidArgumentError(SegmentDBError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidDimensionException(InvalidArgumentError):
    """A vector's length differs from the collection's dimension."""


class DuplicateIDError(InvalidArgumentError):
    """The same id appears twice in one request."""


class InvalidCollectionNameError(InvalidArgumentError):
    pass


class NotFoundError(SegmentDBError, ValueError):
    code = grpc.StatusCode.NOT_FOUND


class UniqueConstraintError(SegmentDBError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(SegmentDBError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class BatchSizeExceededError(SegmentDBError):
    """A request over the configured message size or batch size."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StorageFullError(SegmentDBError):
    """The disk (or the process's file-size limit) is full; nothing was written."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(SegmentDBError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(SegmentDBError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class AuthenticationError(SegmentDBError):
    code = grpc.StatusCode.UNAUTHENTICATED


class AuthorizationError(SegmentDBError):
    code = grpc.StatusCode.PERMISSION_DENIED


class DataLossError(SegmentDBError):
    code = grpc.StatusCode.DATA_LOSS


class InternalError(SegmentDBError):
    code = grpc.StatusCode.INTERNAL


class CancelledError(SegmentDBError):
    code = grpc.StatusCode.CANCELLED


_ALL: list[type[SegmentDBError]] = [
    InvalidArgumentError,
    InvalidDimensionException,
    DuplicateIDError,
    InvalidCollectionNameError,
    NotFoundError,
    UniqueConstraintError,
    FailedPreconditionError,
    BatchSizeExceededError,
    StorageFullError,
    UnavailableError,
    DeadlineExceededError,
    AuthenticationError,
    AuthorizationError,
    DataLossError,
    InternalError,
    CancelledError,
]
BY_NAME: dict[str, type[SegmentDBError]] = {cls.__name__: cls for cls in _ALL}
# The class used when a status arrives without our ErrorInfo (e.g. from grpc itself).
BY_CODE: dict[grpc.StatusCode, type[SegmentDBError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: UniqueConstraintError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: BatchSizeExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthorizationError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


# A status travels in trailing metadata (twice: grpc-message and the details), and clients
# refuse metadata over 8 KiB by default: a message quoting a 10 MB name would turn a clear
# INVALID_ARGUMENT into a transport error. Longer messages are cut, saying so.
MAX_MESSAGE_CHARS = 2000


def bounded_message(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS] + f"... ({len(message)} characters, cut)"


def to_status(error: SegmentDBError) -> grpc.Status:
    """A grpc.Status for `context.abort_with_status`, with ErrorInfo naming the class."""
    info = error_details_pb2.ErrorInfo(reason=error.name(), domain=ERROR_DOMAIN)
    status = status_pb2.Status(code=error.code.value[0], message=bounded_message(error.message))
    status.details.add().Pack(info)
    return rpc_status.to_status(status)


def from_rpc_error(err: grpc.RpcError) -> SegmentDBError:
    """The SegmentDBError a failed call stands for (ErrorInfo first, then the code)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    cls: type[SegmentDBError] | None = None
    try:
        status = rpc_status.from_call(err)
    except Exception:  # a malformed trailer must not hide the original error
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN:
                    cls = BY_NAME.get(info.reason)
    if cls is None:
        cls = BY_CODE.get(code, InternalError)
    return cls(message or code.name)


__all__ = [cls.__name__ for cls in _ALL] + [
    "SegmentDBError",
    "to_status",
    "from_rpc_error",
    "BY_NAME",
    "BY_CODE",
    "code_pb2",
]
