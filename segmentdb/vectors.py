"""The vector codec: numpy <-> VectorBatch (packed little-endian float32).

Every process encodes and decodes vectors here and nowhere else, so the wire format
(`len(data) == count * dimension * 4`) is checked in one place.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import common_pb2

WIRE_DTYPE = np.dtype("<f4")


def to_array(vectors: Any, field: str = "embeddings") -> np.ndarray:
    """A 2-D float32 array from a numpy array or a list of equal-length sequences.

    Raises InvalidArgumentError naming `field` for ragged, empty-row or non-numeric input.
    """
    if isinstance(vectors, np.ndarray):
        array = vectors
        if array.ndim == 1:
            array = array.reshape(1, -1)
    else:
        rows = list(vectors)
        if not rows:
            return np.zeros((0, 0), dtype=WIRE_DTYPE)
        lengths = {len(row) for row in rows}
        if len(lengths) != 1:
            raise InvalidArgumentError(
                f"{field}: vectors have different lengths {sorted(lengths)}; every vector "
                "in one request must have the same dimension"
            )
        try:
            array = np.asarray(rows, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"{field}: every value must be a number ({exc})"
            ) from None
    if array.ndim != 2:
        raise InvalidArgumentError(f"{field}: expected a 2-D array of vectors, got {array.ndim}-D")
    if array.size and array.shape[1] == 0:
        raise InvalidArgumentError(f"{field}: vectors must not be empty")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidArgumentError(f"{field}: every value must be a real number")
    return np.ascontiguousarray(array, dtype=WIRE_DTYPE)


def encode(vectors: Any, field: str = "embeddings") -> common_pb2.VectorBatch:
    """Pack vectors (array-like, shape (n, d)) into one VectorBatch."""
    array = to_array(vectors, field)
    if array.shape[0] == 0:
        return common_pb2.VectorBatch(dimension=0, data=b"")
    return common_pb2.VectorBatch(dimension=array.shape[1], data=array.tobytes())


def decode(batch: common_pb2.VectorBatch, field: str = "embeddings") -> np.ndarray:
    """Unpack a VectorBatch into a read-only (n, d) float32 array; checks the size."""
    data = batch.data
    dim = batch.dimension
    if not data:
        return np.zeros((0, dim), dtype=WIRE_DTYPE)
    if dim == 0:
        raise InvalidArgumentError(f"{field}.dimension: must be > 0 when {field}.data is set")
    if len(data) % (dim * 4):
        raise InvalidArgumentError(
            f"{field}.data: {len(data)} bytes is not a whole number of {dim}-dimensional "
            "float32 vectors (expected count * dimension * 4 bytes)"
        )
    return np.frombuffer(data, dtype=WIRE_DTYPE).reshape(-1, dim)


def check_finite(array: np.ndarray, field: str = "embeddings") -> None:
    """Raise InvalidArgumentError naming the first row holding NaN or infinity."""
    if array.size and not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidArgumentError(
            f"{field}[{row}]: contains NaN or infinity; every value must be a finite number"
        )


def decode_checked(
    batch: common_pb2.VectorBatch, count: int | None, field: str = "embeddings"
) -> np.ndarray:
    """decode + finiteness + (optionally) one vector per id."""
    array = decode(batch, field)
    check_finite(array, field)
    if count is not None and array.shape[0] != count:
        raise InvalidArgumentError(
            f"{field}: got {array.shape[0]} vectors for {count} ids; give exactly one per id"
        )
    return array


def rows(vectors: Sequence[bytes], dimension: int) -> np.ndarray:
    """Stack float32 blobs as stored in SQLite into one (n, d) array."""
    if not vectors:
        return np.zeros((0, dimension), dtype=WIRE_DTYPE)
    return np.frombuffer(b"".join(vectors), dtype=WIRE_DTYPE).reshape(-1, dimension)
