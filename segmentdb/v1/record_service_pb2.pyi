from segmentdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AddRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "embeddings", "documents", "metadatas")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    METADATAS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    embeddings: _common_pb2.VectorBatch
    documents: _containers.RepeatedCompositeFieldContainer[_common_pb2.OptionalString]
    metadatas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Metadata]
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., embeddings: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[_common_pb2.OptionalString, _Mapping]]] = ..., metadatas: _Optional[_Iterable[_Union[_common_pb2.Metadata, _Mapping]]] = ...) -> None: ...

class AddRecordsResponse(_message.Message):
    __slots__ = ("log_sequence", "inserted")
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    log_sequence: int
    inserted: int
    def __init__(self, log_sequence: _Optional[int] = ..., inserted: _Optional[int] = ...) -> None: ...

class UpsertRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "embeddings", "documents", "metadatas")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    METADATAS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    embeddings: _common_pb2.VectorBatch
    documents: _containers.RepeatedCompositeFieldContainer[_common_pb2.OptionalString]
    metadatas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Metadata]
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., embeddings: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[_common_pb2.OptionalString, _Mapping]]] = ..., metadatas: _Optional[_Iterable[_Union[_common_pb2.Metadata, _Mapping]]] = ...) -> None: ...

class UpsertRecordsResponse(_message.Message):
    __slots__ = ("log_sequence", "inserted", "updated")
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    log_sequence: int
    inserted: int
    updated: int
    def __init__(self, log_sequence: _Optional[int] = ..., inserted: _Optional[int] = ..., updated: _Optional[int] = ...) -> None: ...

class UpdateRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "embeddings", "documents", "metadatas")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    METADATAS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    embeddings: _common_pb2.VectorBatch
    documents: _containers.RepeatedCompositeFieldContainer[_common_pb2.OptionalString]
    metadatas: _containers.RepeatedCompositeFieldContainer[_common_pb2.Metadata]
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., embeddings: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., documents: _Optional[_Iterable[_Union[_common_pb2.OptionalString, _Mapping]]] = ..., metadatas: _Optional[_Iterable[_Union[_common_pb2.Metadata, _Mapping]]] = ...) -> None: ...

class UpdateRecordsResponse(_message.Message):
    __slots__ = ("log_sequence", "updated")
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    log_sequence: int
    updated: int
    def __init__(self, log_sequence: _Optional[int] = ..., updated: _Optional[int] = ...) -> None: ...

class DeleteRecordsRequest(_message.Message):
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

class DeleteRecordsResponse(_message.Message):
    __slots__ = ("log_sequence", "deleted")
    LOG_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    log_sequence: int
    deleted: int
    def __init__(self, log_sequence: _Optional[int] = ..., deleted: _Optional[int] = ...) -> None: ...

class GetRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "where", "where_document", "limit", "offset", "include")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    where: _common_pb2.Where
    where_document: _common_pb2.WhereDocument
    limit: int
    offset: int
    include: _common_pb2.Include
    def __init__(self, collection_id: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., where: _Optional[_Union[_common_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_common_pb2.WhereDocument, _Mapping]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ..., include: _Optional[_Union[_common_pb2.Include, _Mapping]] = ...) -> None: ...

class GetRecordsResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _common_pb2.RecordBatch
    def __init__(self, records: _Optional[_Union[_common_pb2.RecordBatch, _Mapping]] = ...) -> None: ...

class QueryRecordsRequest(_message.Message):
    __slots__ = ("collection_id", "query_embeddings", "n_results", "where", "where_document", "include", "ids", "query_texts")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    N_RESULTS_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    WHERE_DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    QUERY_TEXTS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    query_embeddings: _common_pb2.VectorBatch
    n_results: int
    where: _common_pb2.Where
    where_document: _common_pb2.WhereDocument
    include: _common_pb2.Include
    ids: _containers.RepeatedScalarFieldContainer[str]
    query_texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection_id: _Optional[str] = ..., query_embeddings: _Optional[_Union[_common_pb2.VectorBatch, _Mapping]] = ..., n_results: _Optional[int] = ..., where: _Optional[_Union[_common_pb2.Where, _Mapping]] = ..., where_document: _Optional[_Union[_common_pb2.WhereDocument, _Mapping]] = ..., include: _Optional[_Union[_common_pb2.Include, _Mapping]] = ..., ids: _Optional[_Iterable[str]] = ..., query_texts: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryRecordsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.RecordBatch]
    def __init__(self, results: _Optional[_Iterable[_Union[_common_pb2.RecordBatch, _Mapping]]] = ...) -> None: ...

class CountRecordsRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class CountRecordsResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...
