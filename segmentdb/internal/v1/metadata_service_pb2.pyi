import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from segmentdb.internal.v1 import segment_pb2 as _segment_pb2
from segmentdb.v1 import admin_pb2 as _admin_pb2
from segmentdb.v1 import backup_pb2 as _backup_pb2
from segmentdb.v1 import collection_service_pb2 as _collection_service_pb2
from segmentdb.v1 import common_pb2 as _common_pb2
from segmentdb.v1 import record_service_pb2 as _record_service_pb2
from segmentdb.v1 import tenancy_service_pb2 as _tenancy_service_pb2
from segmentdb.v1 import transfer_service_pb2 as _transfer_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeleteDatabaseResponse(_message.Message):
    __slots__ = ("vector_segment_ids",)
    VECTOR_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    vector_segment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vector_segment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ("vector_segment_ids",)
    VECTOR_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    vector_segment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vector_segment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ResetAllRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResetAllResponse(_message.Message):
    __slots__ = ("vector_segment_ids",)
    VECTOR_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    vector_segment_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vector_segment_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PrepareQueryRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "where", "where_document")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    where: _common_pb2.Where
    where_document: _common_pb2.WhereDocument
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., where: _Optional[_Union[_common_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_common_pb2.WhereDocument, _Mapping]] = ...) -> None: ...

class PrepareQueryResponse(_message.Message):
    __slots__ = ("segment", "log_sequence", "filtered", "record_count", "allowed")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.SegmentSpec
    log_sequence: int
    filtered: bool
    record_count: int
    allowed: _segment_pb2.LabelBatch
    def __init__(self, segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., log_sequence: _Optional[int] = ..., filtered: _Optional[bool] = ..., record_count: _Optional[int] = ..., allowed: _Optional[_Union[_segment_pb2.LabelBatch, _Mapping]] = ...) -> None: ...

class FetchRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "labels", "include")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    labels: _containers.RepeatedScalarFieldContainer[int]
    include: _common_pb2.Include
    def __init__(self, collection_id: _Optional[str] = ..., labels: _Optional[_Iterable[int]] = ..., include: _Optional[_Union[_common_pb2.Include, _Mapping]] = ...) -> None: ...

class FetchRecordsResponse(_message.Message):
    __slots__ = ("labels", "records", "segment", "log_sequence")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    records: _common_pb2.RecordBatch
    segment: _segment_pb2.SegmentSpec
    log_sequence: int
    def __init__(self, labels: _Optional[_Iterable[int]] = ..., records: _Optional[_Union[_common_pb2.RecordBatch, _Mapping]] = ..., segment: _Optional[_Union[_segment_pb2.SegmentSpec, _Mapping]] = ..., log_sequence: _Optional[int] = ...) -> None: ...

class ReadLogRequest(_message.Message):
    __slots__ = ("collection_id", "after_sequence", "limit")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    after_sequence: int
    limit: int
    def __init__(self, collection_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ReadLogResponse(_message.Message):
    __slots__ = ("sequences", "operations", "labels", "vectors", "read_through", "more", "purged_through")
    SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    READ_THROUGH_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    PURGED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    sequences: _containers.RepeatedScalarFieldContainer[int]
    operations: _containers.RepeatedScalarFieldContainer[_segment_pb2.LogOperation]
    labels: _containers.RepeatedScalarFieldContainer[int]
    vectors: _common_pb2.VectorBatch
    read_through: int
    more: bool
    purged_through: int
    def __init__(self, sequences: _Optional[_Iterable[int]] = ..., operations: _Optional[_Iterable[_Union[_segment_pb2.LogOperation, str]]] = ..., labels: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., read_through: _Optional[int] = ..., more: _Optional[bool] = ..., purged_through: _Optional[int] = ...) -> None: ...

class ScanVectorsRequest(_message.Message):
    __slots__ = ("collection_id", "page_size")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    page_size: int
    def __init__(self, collection_id: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ReportPersistedRequest(_message.Message):
    __slots__ = ("segment_id", "collection_id", "applied_sequence")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    collection_id: str
    applied_sequence: int
    def __init__(self, segment_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., applied_sequence: _Optional[int] = ...) -> None: ...

class ReportPersistedResponse(_message.Message):
    __slots__ = ("purged_through",)
    PURGED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    purged_through: int
    def __init__(self, purged_through: _Optional[int] = ...) -> None: ...

class GetStorageStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStorageStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _admin_pb2.StorageStats
    def __init__(self, stats: _Optional[_Union[_admin_pb2.StorageStats, _Mapping]] = ...) -> None: ...

class ScanVectorsResponse(_message.Message):
    __slots__ = ("labels", "vectors", "snapshot_sequence")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[int]
    vectors: _common_pb2.VectorBatch
    snapshot_sequence: int
    def __init__(self, labels: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., snapshot_sequence: _Optional[int] = ...) -> None: ...

class StreamSnapshotRequest(_message.Message):
    __slots__ = ("chunk_bytes",)
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    chunk_bytes: int
    def __init__(self, chunk_bytes: _Optional[int] = ...) -> None: ...

class StreamSnapshotResponse(_message.Message):
    __slots__ = ("progress", "manifest", "chunk")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    progress: _backup_pb2.BackupProgress
    manifest: _backup_pb2.BackupManifest
    chunk: _backup_pb2.BackupChunk
    def __init__(self, progress: _Optional[_Union[_backup_pb2.BackupProgress, _Mapping]] = ..., manifest: _Optional[_Union[_backup_pb2.BackupManifest, _Mapping]] = ..., chunk: _Optional[_Union[_backup_pb2.BackupChunk, _Mapping]] = ...) -> None: ...

class ListVectorSegmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVectorSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.SegmentSpec]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[_segment_pb2.SegmentSpec, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VacuumStorageRequest(_message.Message):
    __slots__ = ("started_at", "index_bytes_before", "index_bytes_after", "segments_examined", "segments_rebuilt", "segments_failed")
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_EXAMINED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_REBUILT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    started_at: _timestamp_pb2.Timestamp
    index_bytes_before: int
    index_bytes_after: int
    segments_examined: int
    segments_rebuilt: int
    segments_failed: int
    def __init__(self, started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., index_bytes_before: _Optional[int] = ..., index_bytes_after: _Optional[int] = ..., segments_examined: _Optional[int] = ..., segments_rebuilt: _Optional[int] = ..., segments_failed: _Optional[int] = ...) -> None: ...

class VacuumStorageResponse(_message.Message):
    __slots__ = ("sqlite_bytes_before", "sqlite_bytes_after", "log_entries_before", "log_entries_after", "maintenance_run_id")
    SQLITE_BYTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SQLITE_BYTES_AFTER_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LOG_ENTRIES_AFTER_FIELD_NUMBER: _ClassVar[int]
    MAINTENANCE_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    sqlite_bytes_before: int
    sqlite_bytes_after: int
    log_entries_before: int
    log_entries_after: int
    maintenance_run_id: int
    def __init__(self, sqlite_bytes_before: _Optional[int] = ..., sqlite_bytes_after: _Optional[int] = ..., log_entries_before: _Optional[int] = ..., log_entries_after: _Optional[int] = ..., maintenance_run_id: _Optional[int] = ...) -> None: ...

class GetImportProgressRequest(_message.Message):
    __slots__ = ("collection_id", "import_id")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    import_id: str
    def __init__(self, collection_id: _Optional[str] = ..., import_id: _Optional[str] = ...) -> None: ...

class GetImportProgressResponse(_message.Message):
    __slots__ = ("committed_records", "committed_chunks")
    COMMITTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    committed_records: int
    committed_chunks: int
    def __init__(self, committed_records: _Optional[int] = ..., committed_chunks: _Optional[int] = ...) -> None: ...

class ImportChunkRequest(_message.Message):
    __slots__ = ("collection_id", "import_id", "mode", "chunk")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    import_id: str
    mode: _transfer_service_pb2.ImportMode
    chunk: _transfer_service_pb2.ImportChunk
    def __init__(self, collection_id: _Optional[str] = ..., import_id: _Optional[str] = ..., mode: _Optional[_Union[_transfer_service_pb2.ImportMode, str]] = ..., chunk: _Optional[_Union[_transfer_service_pb2.ImportChunk, _Mapping]] = ...) -> None: ...

class ImportChunkResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: _transfer_service_pb2.ImportAck
    def __init__(self, ack: _Optional[_Union[_transfer_service_pb2.ImportAck, _Mapping]] = ...) -> None: ...
