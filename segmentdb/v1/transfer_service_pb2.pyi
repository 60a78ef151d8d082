from segmentdb.v1 import collection_pb2 as _collection_pb2
from segmentdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_MODE_UNSPECIFIED: _ClassVar[ImportMode]
    IMPORT_MODE_INSERT: _ClassVar[ImportMode]
    IMPORT_MODE_UPSERT: _ClassVar[ImportMode]
IMPORT_MODE_UNSPECIFIED: ImportMode
IMPORT_MODE_INSERT: ImportMode
IMPORT_MODE_UPSERT: ImportMode

class ExportRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "page_size", "page_token")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    page_size: int
    page_token: str
    def __init__(self, collection_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportHeader(_message.Message):
    __slots__ = ("collection", "record_count", "remaining_count")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    REMAINING_COUNT_FIELD_NUMBER: _ClassVar[int]
    collection: _collection_pb2.Collection
    record_count: int
    remaining_count: int
    def __init__(self, collection: _Optional[_Union[_collection_pb2.Collection, _Mapping]] = ..., record_count: _Optional[int] = ..., remaining_count: _Optional[int] = ...) -> None: ...

class ExportPage(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _common_pb2.RecordBatch
    next_page_token: str
    def __init__(self, records: _Optional[_Union[_common_pb2.RecordBatch, _Mapping]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportRecordsResponse(_message.Message):
    __slots__ = ("header", "page")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    header: ExportHeader
    page: ExportPage
    def __init__(self, header: _Optional[_Union[ExportHeader, _Mapping]] = ..., page: _Optional[_Union[ExportPage, _Mapping]] = ...) -> None: ...

class ImportStart(_message.Message):
    __slots__ = ("tenant", "database", "collection_name", "collection_metadata", "configuration", "import_id", "mode", "dimension")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_METADATA_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    collection_name: str
    collection_metadata: _common_pb2.Metadata
    configuration: _collection_pb2.CollectionConfiguration
    import_id: str
    mode: ImportMode
    dimension: int
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., collection_name: _Optional[str] = ..., collection_metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., configuration: _Optional[_Union[_collection_pb2.CollectionConfiguration, _Mapping]] = ..., import_id: _Optional[str] = ..., mode: _Optional[_Union[ImportMode, str]] = ..., dimension: _Optional[int] = ...) -> None: ...

class ImportStarted(_message.Message):
    __slots__ = ("collection", "created", "committed_records", "committed_chunks")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    collection: _collection_pb2.Collection
    created: bool
    committed_records: int
    committed_chunks: int
    def __init__(self, collection: _Optional[_Union[_collection_pb2.Collection, _Mapping]] = ..., created: _Optional[bool] = ..., committed_records: _Optional[int] = ..., committed_chunks: _Optional[int] = ...) -> None: ...

class ImportChunk(_message.Message):
    __slots__ = ("offset", "ids", "embeddings", "documents", "metadatas")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    METADATAS_FIELD_NUMBER: _ClassVar[int]
    offset: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    embeddings: _common_pb2.VectorBatch
    documents: _containers.RepeatedCompositeFieldContainer[_common_pb2.OptionalString]
    metadatas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Metadata]
    def __init__(self, offset: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ..., embeddings: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[_common_pb2.OptionalString, _Mapping]]] = ..., metadatas: _Optional[_Iterable[_Union[_common_pb2.Metadata, _Mapping]]] = ...) -> None: ...

class ImportAck(_message.Message):
    __slots__ = ("offset", "count", "committed_records", "already_committed", "inserted", "updated", "log_sequence")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_COMMITTED_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    offset: int
    count: int
    committed_records: int
    already_committed: bool
    inserted: int
    updated: int
    log_sequence: int
    def __init__(self, offset: _Optional[int] = ..., count: _Optional[int] = ..., committed_records: _Optional[int] = ..., already_committed: _Optional[bool] = ..., inserted: _Optional[int] = ..., updated: _Optional[int] = ..., log_sequence: _Optional[int] = ...) -> None: ...

class ImportRecordsRequest(_message.Message):
    __slots__ = ("start", "chunk")
    START_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    start: ImportStart
    chunk: ImportChunk
    def __init__(self, start: _Optional[_Union[ImportStart, _Mapping]] = ..., chunk: _Optional[_Union[ImportChunk, _Mapping]] = ...) -> None: ...

class ImportRecordsResponse(_message.Message):
    __slots__ = ("started", "ack")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    started: ImportStarted
    ack: ImportAck
    def __init__(self, started: _Optional[_Union[ImportStarted, _Mapping]] = ..., ack: _Optional[_Union[ImportAck, _Mapping]] = ...) -> None: ...
