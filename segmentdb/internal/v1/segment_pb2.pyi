from segmentdb.v1 import collection_pb2 as _collection_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LogOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_OPERATION_UNSPECIFIED: _ClassVar[LogOperation]
    LOG_OPERATION_UPSERT: _ClassVar[LogOperation]
    LOG_OPERATION_DELETE: _ClassVar[LogOperation]
LOG_OPERATION_UNSPECIFIED: LogOperation
LOG_OPERATION_UPSERT: LogOperation
LOG_OPERATION_DELETE: LogOperation

class SegmentSpec(_message.Message):
    __slots__ = ("segment_id", "collection_id", "dimension", "hnsw")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    HNSW_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    collection_id: str
    dimension: int
    hnsw: _collection_pb2.HnswConfiguration
    def __init__(self, segment_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., dimension: _Optional[int] = ..., hnsw: _Optional[_Union[_collection_pb2.HnswConfiguration, _Mapping]] = ...) -> None: ...

class LabelBatch(_message.Message):
    __slots__ = ("int64_le",)
    INT64_LE_FIELD_NUMBER: _ClassVar[int]
    int64_le: bytes
    def __init__(self, int64_le: _Optional[bytes] = ...) -> None: ...
