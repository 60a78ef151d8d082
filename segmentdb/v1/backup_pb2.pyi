from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BackupManifest(_message.Message):
    __slots__ = ("format_version", "created_at", "segmentdb_version", "schema_version", "log_position", "files", "collections", "records")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTDB_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    LOG_POSITION_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    created_at: str
    segmentdb_version: str
    schema_version: int
    log_position: int
    files: _containers.RepeatedCompositeFieldContainer[BackupFile]
    collections: int
    records: int
    def __init__(self, format_version: _Optional[int] = ..., created_at: _Optional[str] = ..., segmentdb_version: _Optional[str] = ..., schema_version: _Optional[int] = ..., log_position: _Optional[int] = ..., files: _Optional[_Iterable[_Union[BackupFile, _Mapping]]] = ..., collections: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...

class BackupFile(_message.Message):
    __slots__ = ("path", "size_bytes", "sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    size_bytes: int
    sha256: str
    def __init__(self, path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class BackupProgress(_message.Message):
    __slots__ = ("pages_copied", "pages_total")
    PAGES_COPIED_FIELD_NUMBER: _ClassVar[int]
    PAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    pages_copied: int
    pages_total: int
    def __init__(self, pages_copied: _Optional[int] = ..., pages_total: _Optional[int] = ...) -> None: ...

class BackupChunk(_message.Message):
    __slots__ = ("path", "offset", "data")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    path: str
    offset: int
    data: bytes
    def __init__(self, path: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
