from segmentdb.internal.v1 import segment_pb2 as _segment_pb2
from segmentdb.v1 import admin_pb2 as _admin_pb2
from segmentdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("segment", "queries", "k", "min_sequence", "filtered", "allowed")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    queries: _common_pb2.VectorBatch
    k: int
    min_sequence: int
    filtered: bool
    allowed: _segment_pb2.LabelBatch
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., queries: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., k: _Optional[int] = ..., min_sequence: _Optional[int] = ..., filtered: _Optional[bool] = ..., allowed: _Optional[_Union[_segment_pb2.LabelBatch, _Mapping]] = ...) -> None: ...

class Neighbors(_message.Message):
    __slots__ = ("labels", "distances")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    distances: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, labels: _Optional[_Iterable[int]] = ..., distances: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "applied_sequence")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Neighbors]
    applied_sequence: int
    def __init__(self, results: _Optional[_Iterable[_Union[Neighbors, _Mapping]]] = ..., applied_sequence: _Optional[int] = ...) -> None: ...

class DropSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class DropSegmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWorkerStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetWorkerStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _admin_pb2.WorkerStats
    def __init__(self, stats: _Optional[_Union[_admin_pb2.WorkerStats, _Mapping]] = ...) -> None: ...

class PinSegmentRequest(_message.Message):
    __slots__ = ("segment", "min_sequence")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    min_sequence: int
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class PinSegmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReleaseSegmentRequest(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    def __init__(self, segment_id: _Optional[str] = ...) -> None: ...

class ReleaseSegmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebuildSegmentRequest(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ...) -> None: ...

class RebuildSegmentResponse(_message.Message):
    __slots__ = ("live_count", "seconds")
    LIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    live_count: int
    seconds: float
    def __init__(self, live_count: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class WarmSegmentRequest(_message.Message):
    __slots__ = ("segment", "min_sequence")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    min_sequence: int
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class WarmSegmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactSegmentRequest(_message.Message):
    __slots__ = ("segment", "min_deleted_fraction")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    MIN_DELETED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    min_deleted_fraction: float
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., min_deleted_fraction: _Optional[float] = ...) -> None: ...

class CompactSegmentResponse(_message.Message):
    __slots__ = ("live_count", "deleted_count", "rebuilt", "bytes_before", "bytes_after", "seconds")
    LIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REBUILT_FIELD_NUMBER: _ClassVar[int]
    BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    live_count: int
    deleted_count: int
    rebuilt: bool
    bytes_before: int
    bytes_after: int
    seconds: float
    def __init__(self, live_count: _Optional[int] = ..., deleted_count: _Optional[int] = ..., rebuilt: _Optional[bool] = ..., bytes_before: _Optional[int] = ..., bytes_after: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...
