"""Proto <-> domain for the vector worker: SegmentSpec -> SegmentParams, results -> Neighbors."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from segmentdb import errors
from segmentdb.internal.v1 import segment_pb2, vector_service_pb2
from segmentdb.v1 import collection_pb2

_SEGMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

SPACE_NAMES = {
    collection_pb2.SPACE_L2: "l2",
    collection_pb2.SPACE_IP: "ip",
    collection_pb2.SPACE_COSINE: "cosine",
}

# Defaults of docs/internals.md, used only if a spec arrives with a field unset
# (specs are meant to be fully resolved by the metadata worker).
DEFAULT_MAX_NEIGHBORS = 16
DEFAULT_EF_CONSTRUCTION = 100
DEFAULT_EF_SEARCH = 100
DEFAULT_RESIZE_FACTOR = 1.2
DEFAULT_SYNC_THRESHOLD = 1000


@dataclass(frozen=True)
class SegmentParams:
    """Everything a segment needs to know about its collection."""

    segment_id: str
    collection_id: str
    dimension: int
    space: str  # "l2" | "ip" | "cosine" (hnswlib's names)
    max_neighbors: int
    ef_construction: int
    ef_search: int = DEFAULT_EF_SEARCH
    num_threads: int = 1
    resize_factor: float = DEFAULT_RESIZE_FACTOR
    sync_threshold: int = DEFAULT_SYNC_THRESHOLD

    def same_structure(self, other: "SegmentParams") -> bool:
        """True when an index built for `other` can serve `self` (immutable fields equal)."""
        return (self.segment_id, self.collection_id, self.dimension, self.space,
                self.max_neighbors, self.ef_construction) == (
                other.segment_id, other.collection_id, other.dimension, other.space,
                other.max_neighbors, other.ef_construction)


def check_segment_id(segment_id: str, field: str) -> None:
    """A segment id names a folder: refuse anything that could escape `<path>/index/`."""
    if not segment_id:
        raise errors.InvalidArgumentError(f"{field}: must be set (the vector segment's UUID)")
    if not _SEGMENT_ID.fullmatch(segment_id):
        raise errors.InvalidArgumentError(
            f"{field}: {segment_id!r} is not a valid segment id; send the segment's UUID "
            "(letters, digits and '-' only)")


def params_from_spec(spec: segment_pb2.SegmentSpec, field: str = "segment") -> SegmentParams:
    """Validate a SegmentSpec and turn it into SegmentParams."""
    check_segment_id(spec.segment_id, f"{field}.segment_id")
    if not spec.collection_id:
        raise errors.InvalidArgumentError(f"{field}.collection_id: must be set")
    hnsw = spec.hnsw
    space_value = hnsw.space if hnsw.HasField("space") else collection_pb2.SPACE_L2
    if space_value not in SPACE_NAMES:
        raise errors.InvalidArgumentError(
            f"{field}.hnsw.space: {space_value} is not a known space; use SPACE_L2, SPACE_IP or SPACE_COSINE")

    def positive(name: str, default: int | float) -> int | float:
        if not hnsw.HasField(name):
            return default
        value = getattr(hnsw, name)
        if value <= 0:
            raise errors.InvalidArgumentError(f"{field}.hnsw.{name}: must be > 0, got {value}")
        return value

    resize_factor = positive("resize_factor", DEFAULT_RESIZE_FACTOR)
    if resize_factor <= 1.0:
        raise errors.InvalidArgumentError(
            f"{field}.hnsw.resize_factor: must be > 1.0, got {resize_factor}")
    num_threads = hnsw.num_threads if hnsw.HasField("num_threads") and hnsw.num_threads > 0 \
        else (os.cpu_count() or 1)
    return SegmentParams(
        segment_id=spec.segment_id,
        collection_id=spec.collection_id,
        dimension=spec.dimension,
        space=SPACE_NAMES[space_value],
        max_neighbors=int(positive("max_neighbors", DEFAULT_MAX_NEIGHBORS)),
        ef_construction=int(positive("ef_construction", DEFAULT_EF_CONSTRUCTION)),
        ef_search=int(positive("ef_search", DEFAULT_EF_SEARCH)),
        num_threads=int(num_threads),
        resize_factor=float(resize_factor),
        sync_threshold=int(positive("sync_threshold", DEFAULT_SYNC_THRESHOLD)),
    )


def neighbors(labels: np.ndarray, distances: np.ndarray) -> vector_service_pb2.Neighbors:
    return vector_service_pb2.Neighbors(
        labels=[int(x) for x in labels], distances=[float(x) for x in distances])
