from segmentdb.v1 import collection_pb2 as _collection_pb2
from segmentdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateCollectionRequest(_message.Message):
    __slots__ = ("tenant", "database", "name", "metadata", "configuration", "get_or_create")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    GET_OR_CREATE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    name: str
    metadata: _common_pb2.Metadata
    configuration: _collection_pb2.CollectionConfiguration
    get_or_create: bool
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., name: _Optional[str] = ..., metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., configuration: _Optional[_Union[_collection_pb2.CollectionConfiguration, _Mapping]] = ..., get_or_create: _Optional[bool] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection", "created")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    collection: _collection_pb2.Collection
    created: bool
    def __init__(self, collection: _Optional[_Union[_collection_pb2.Collection, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("tenant", "database", "name", "id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    name: str
    id: str
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class GetCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: _collection_pb2.Collection
    def __init__(self, collection: _Optional[_Union[_collection_pb2.Collection, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("tenant", "database", "limit", "offset")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    limit: int
    offset: int
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[_collection_pb2.Collection]
    def __init__(self, collections: _Optional[_Iterable[_Union[_collection_pb2.Collection, _Mapping]]] = ...) -> None: ...

class CountCollectionsRequest(_message.Message):
    __slots__ = ("tenant", "database")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ...) -> None: ...

class CountCollectionsResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class ModifyCollectionRequest(_message.Message):
    __slots__ = ("collection_id", "new_name", "new_metadata", "new_configuration")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_METADATA_FIELD_NUMBER: _ClassVar[int]
    NEW_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    new_name: str
    new_metadata: _common_pb2.Metadata
    new_configuration: _collection_pb2.CollectionConfiguration
    def __init__(self, collection_id: _Optional[str] = ..., new_name: _Optional[str] = ..., new_metadata: _Optional[_Union[_common_pb2.Metadata, _Mapping]] = ..., new_configuration: _Optional[_Union[_collection_pb2.CollectionConfiguration, _Mapping]] = ...) -> None: ...

class ModifyCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: _collection_pb2.Collection
    def __init__(self, collection: _Optional[_Union[_collection_pb2.Collection, _Mapping]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("tenant", "database", "name")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    database: str
    name: str
    def __init__(self, tenant: _Optional[str] = ..., database: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
