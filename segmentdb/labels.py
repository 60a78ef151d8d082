"""Packing label sets (int64) into LabelBatch and back, like vectors.py does for vectors.

Labels are the metadata worker's `embeddings.id` values. A filter may match 100,000 of them;
packed bytes decode with one numpy.frombuffer instead of a Python loop per label.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from segmentdb import errors
from segmentdb.internal.v1 import segment_pb2

_DTYPE = np.dtype("<i8")


def encode(labels: Iterable[int] | np.ndarray) -> segment_pb2.LabelBatch:
    array = np.asarray(labels if isinstance(labels, np.ndarray) else list(labels), dtype=_DTYPE)
    return segment_pb2.LabelBatch(int64_le=array.reshape(-1).tobytes())


def decode(batch: segment_pb2.LabelBatch, field: str = "labels") -> np.ndarray:
    """A read-only int64 array (native byte order) viewing the message's bytes."""
    data = batch.int64_le
    if len(data) % _DTYPE.itemsize:
        raise errors.InvalidArgumentError(
            f"{field}: {len(data)} bytes is not a whole number of int64 labels (8 bytes each)")
    return np.frombuffer(data, dtype=_DTYPE).astype(np.int64, copy=False)
