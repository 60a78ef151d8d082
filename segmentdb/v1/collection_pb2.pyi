from segmentdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Space(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPACE_UNSPECIFIED: _ClassVar[Space]
    SPACE_L2: _ClassVar[Space]
    SPACE_IP: _ClassVar[Space]
    SPACE_COSINE: _ClassVar[Space]

class EmbeddingFunctionType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBEDDING_FUNCTION_TYPE_UNSPECIFIED: _ClassVar[EmbeddingFunctionType]
    EMBEDDING_FUNCTION_TYPE_KNOWN: _ClassVar[EmbeddingFunctionType]
    EMBEDDING_FUNCTION_TYPE_LEGACY: _ClassVar[EmbeddingFunctionType]
SPACE_UNSPECIFIED: Space
SPACE_L2: Space
SPACE_IP: Space
SPACE_COSINE: Space
EMBEDDING_FUNCTION_TYPE_UNSPECIFIED: EmbeddingFunctionType
EMBEDDING_FUNCTION_TYPE_KNOWN: EmbeddingFunctionType
EMBEDDING_FUNCTION_TYPE_LEGACY: EmbeddingFunctionType

class HnswConfiguration(_message.Message):
    __slots__ = ("space", "max_neighbors", "ef_construction", "ef_search", "num_threads", "resize_factor", "sync_threshold", "batch_size")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    MAX_NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    EF_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    NUM_THREADS_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    SYNC_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    space: Space
    max_neighbors: int
    ef_construction: int
    ef_search: int
    num_threads: int
    resize_factor: float
    sync_threshold: int
    batch_size: int
    def __init__(self, space: _Optional[_Union[Space, str]] = ..., max_neighbors: _Optional[int] = ..., ef_construction: _Optional[int] = ..., ef_search: _Optional[int] = ..., num_threads: _Optional[int] = ..., resize_factor: _Optional[float] = ..., sync_threshold: _Optional[int] = ..., batch_size: _Optional[int] = ...) -> None: ...

class EmbeddingFunctionConfiguration(_message.Message):
    __slots__ = ("type", "name", "config_json")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    type: EmbeddingFunctionType
    name: str
    config_json: str
    def __init__(self, type: _Optional[_Union[EmbeddingFunctionType, str]] = ..., name: _Optional[str] = ..., config_json: _Optional[str] = ...) -> None: ...

class CollectionConfiguration(_message.Message):
    __slots__ = ("hnsw", "embedding_function")
    HNSW_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FUNCTION_FIELD_NUMBER: _ClassVar[int]
    hnsw: HnswConfiguration
    embedding_function: EmbeddingFunctionConfiguration
    def __init__(self, hnsw: _Optional[_Union[HnswConfiguration, _Mapping]] = ..., embedding_function: _Optional[_Union[EmbeddingFunctionConfiguration, _Mapping]] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("id", "name", "tenant", "database", "metadata", "configuration", "dimension")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    tenant: str
    database: str
    metadata: _common_pb2.Metadata
    configuration: CollectionConfiguration
    dimension: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., tenant: _Optional[str] = ..., database: _Optional[str] = ..., metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., configuration: _Optional[_Union[CollectionConfiguration, _Mapping]] = ..., dimension: _Optional[int] = ...) -> None: ...
