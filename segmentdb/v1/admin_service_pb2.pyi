from segmentdb.v1 import admin_pb2 as _admin_pb2
from segmentdb.v1 import backup_pb2 as _backup_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ("deleted_collections",)
    DELETED_COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    deleted_collections: int
    def __init__(self, deleted_collections: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("workers", "storage")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[_admin_pb2.WorkerStats]
    storage: _admin_pb2.StorageStats
    def __init__(self, workers: _Optional[_Iterable[_Union[_admin_pb2.WorkerStats, _Mapping]]] = ..., storage: _Optional[_Union[_admin_pb2.StorageStats, _Mapping]] = ...) -> None: ...

class PinCollectionRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class PinCollectionResponse(_message.Message):
    __slots__ = ("worker_address",)
    WORKER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    worker_address: str
    def __init__(self, worker_address: _Optional[str] = ...) -> None: ...

class ReleaseCollectionRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class ReleaseCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReindexCollectionsRequest(_message.Message):
    __slots__ = ("tenant", "database", "collection_name")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    collection_name: str
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., collection_name: _Optional[str] = ...) -> None: ...

class ReindexedCollection(_message.Message):
    __slots__ = ("collection_id", "name", "records", "seconds", "worker_address")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    name: str
    records: int
    seconds: float
    worker_address: str
    def __init__(self, collection_id: _Optional[str] = ..., name: _Optional[str] = ..., records: _Optional[int] = ..., seconds: _Optional[float] = ..., worker_address: _Optional[str] = ...) -> None: ...

class ReindexCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[ReindexedCollection]
    def __init__(self, collections: _Optional[_Iterable[_Union[ReindexedCollection, _Mapping]]] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ("chunk_bytes",)
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    chunk_bytes: int
    def __init__(self, chunk_bytes: _Optional[int] = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ("progress", "manifest", "chunk")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    progress: _backup_pb2.BackupProgress
    manifest: _backup_pb2.BackupManifest
    chunk: _backup_pb2.BackupChunk
    def __init__(self, progress: _Optional[_Union[_backup_pb2.BackupProgress, _Mapping]] = ..., manifest: _Optional[_Union[_backup_pb2.BackupManifest, _Mapping]] = ..., chunk: _Optional[_Union[_backup_pb2.BackupChunk, _Mapping]] = ...) -> None: ...

class VacuumRequest(_message.Message):
    __slots__ = ("min_deleted_fraction",)
    MIN_DELETED_FRACTION_FIELD_NUMBER: _ClassVar[int]
    min_deleted_fraction: float
    def __init__(self, min_deleted_fraction: _Optional[float] = ...) -> None: ...

class VacuumedSegment(_message.Message):
    __slots__ = ("collection_id", "segment_id", "worker_address", "live_count", "deleted_count", "rebuilt", "bytes_before", "bytes_after", "error")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REBUILT_FIELD_NUMBER: _ClassVar[int]
    BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    segment_id: str
    worker_address: str
    live_count: int
    deleted_count: int
    rebuilt: bool
    bytes_before: int
    bytes_after: int
    error: str
    def __init__(self, collection_id: _Optional[str] = ..., segment_id: _Optional[str] = ..., worker_address: _Optional[str] = ..., live_count: _Optional[int] = ..., deleted_count: _Optional[int] = ..., rebuilt: _Optional[bool] = ..., bytes_before: _Optional[int] = ..., bytes_after: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class VacuumResponse(_message.Message):
    __slots__ = ("sqlite_bytes_before", "sqlite_bytes_after", "index_bytes_before", "index_bytes_after", "bytes_before", "bytes_after", "log_entries_before", "log_entries_after", "segments", "maintenance_run_id", "seconds")
    SQLITE_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SQLITE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_AFTER_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    sqlite_bytes_before: int
    sqlite_bytes_after: int
    index_bytes_before: int
    index_bytes_after: int
    bytes_before: int
    bytes_after: int
    log_entries_before: int
    log_entries_after: int
    segments: _containers.RepeatedCompositeFieldContainer[VacuumedSegment]
    maintenance_run_id: int
    seconds: float
    def __init__(self, sqlite_bytes_before: _Optional[int] = ..., sqlite_bytes_after: _Optional[int] = ..., index_bytes_before: _Optional[int] = ..., index_bytes_after: _Optional[int] = ..., bytes_before: _Optional[int] = ..., bytes_after: _Optional[int] = ..., log_entries_before: _Optional[int] = ..., log_entries_after: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[VacuumedSegment, _Mapping]]] = ..., maintenance_run_id: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...
