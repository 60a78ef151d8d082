from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SegmentStats(_message.Message):
    __slots__ = ("segment_id", "collection_id", "bytes", "live_count", "dimension", "pinned", "idle_seconds", "applied_sequence", "persisted_sequence", "ef_search")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    LIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PERSISTED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    collection_id: str
    bytes: int
    live_count: int
    dimension: int
    pinned: bool
    idle_seconds: float
    applied_sequence: int
    persisted_sequence: int
    ef_search: int
    def __init__(self, segment_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., bytes: _Optional[int] = ..., live_count: _Optional[int] = ..., dimension: _Optional[int] = ..., pinned: _Optional[bool] = ..., idle_seconds: _Optional[float] = ..., applied_sequence: _Optional[int] = ..., persisted_sequence: _Optional[int] = ..., ef_search: _Optional[int] = ...) -> None: ...

class WorkerStats(_message.Message):
    __slots__ = ("address", "reachable", "error", "memory_budget_bytes", "loaded_bytes", "resident_bytes", "peak_resident_bytes", "hits", "misses", "loads", "rebuilds", "evictions", "persists", "load_seconds_total", "load_seconds_max", "idle_ttl_seconds", "segments")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOADED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEAK_RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    LOADS_FIELD_NUMBER: _ClassVar[int]
    REBUILDS_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    PERSISTS_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LOAD_SECONDS_MAX_FIELD_NUMBER: _ClassVar[int]
    IDLE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    address: str
    reachable: bool
    error: str
    memory_budget_bytes: int
    loaded_bytes: int
    resident_bytes: int
    peak_resident_bytes: int
    hits: int
    misses: int
    loads: int
    rebuilds: int
    evictions: int
    persists: int
    load_seconds_total: float
    load_seconds_max: float
    idle_ttl_seconds: float
    segments: _containers.RepeatedCompositeFieldContainer[SegmentStats]
    def __init__(self, address: _Optional[str] = ..., reachable: _Optional[bool] = ..., error: _Optional[str] = ..., memory_budget_bytes: _Optional[int] = ..., loaded_bytes: _Optional[int] = ..., resident_bytes: _Optional[int] = ..., peak_resident_bytes: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., loads: _Optional[int] = ..., rebuilds: _Optional[int] = ..., evictions: _Optional[int] = ..., persists: _Optional[int] = ..., load_seconds_total: _Optional[float] = ..., load_seconds_max: _Optional[float] = ..., idle_ttl_seconds: _Optional[float] = ..., segments: _Optional[_Iterable[_Union[SegmentStats, _Mapping]]] = ...) -> None: ...

class StorageStats(_message.Message):
    __slots__ = ("log_entries", "sqlite_bytes", "collections", "records")
    LOG_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    SQLITE_BYTES_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    log_entries: int
    sqlite_bytes: int
    collections: int
    records: int
    def __init__(self, log_entries: _Optional[int] = ..., sqlite_bytes: _Optional[int] = ..., collections: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...
