from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComparisonOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_OPERATOR_UNSPECIFIED: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_EQ: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_NE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_GT: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_GTE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_LT: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_LTE: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_IN: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_NIN: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_CONTAINS: _ClassVar[ComparisonOperator]
    COMPARISON_OPERATOR_NOT_CONTAINS: _ClassVar[ComparisonOperator]

class DocumentOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_OPERATOR_UNSPECIFIED: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_CONTAINS: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_NOT_CONTAINS: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_REGEX: _ClassVar[DocumentOperator]
    DOCUMENT_OPERATOR_NOT_REGEX: _ClassVar[DocumentOperator]

class IncludeField(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCLUDE_FIELD_UNSPECIFIED: _ClassVar[IncludeField]
    INCLUDE_FIELD_DOCUMENTS: _ClassVar[IncludeField]
    INCLUDE_FIELD_METADATAS: _ClassVar[IncludeField]
    INCLUDE_FIELD_EMBEDDINGS: _ClassVar[IncludeField]
    INCLUDE_FIELD_DISTANCES: _ClassVar[IncludeField]
COMPARISON_OPERATOR_UNSPECIFIED: ComparisonOperator
COMPARISON_OPERATOR_EQ: ComparisonOperator
COMPARISON_OPERATOR_NE: ComparisonOperator
COMPARISON_OPERATOR_GT: ComparisonOperator
COMPARISON_OPERATOR_GTE: ComparisonOperator
COMPARISON_OPERATOR_LT: ComparisonOperator
COMPARISON_OPERATOR_LTE: ComparisonOperator
COMPARISON_OPERATOR_IN: ComparisonOperator
COMPARISON_OPERATOR_NIN: ComparisonOperator
COMPARISON_OPERATOR_CONTAINS: ComparisonOperator
COMPARISON_OPERATOR_NOT_CONTAINS: ComparisonOperator
DOCUMENT_OPERATOR_UNSPECIFIED: DocumentOperator
DOCUMENT_OPERATOR_CONTAINS: DocumentOperator
DOCUMENT_OPERATOR_NOT_CONTAINS: DocumentOperator
DOCUMENT_OPERATOR_REGEX: DocumentOperator
DOCUMENT_OPERATOR_NOT_REGEX: DocumentOperator
INCLUDE_FIELD_UNSPECIFIED: IncludeField
INCLUDE_FIELD_DOCUMENTS: IncludeField
INCLUDE_FIELD_METADATAS: IncludeField
INCLUDE_FIELD_EMBEDDINGS: IncludeField
INCLUDE_FIELD_DISTANCES: IncludeField

class VectorBatch(_message.Message):
    __slots__ = ("dimension", "data")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    data: bytes
    def __init__(self, dimension: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class IntList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class FloatList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class BoolList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, values: _Optional[_Iterable[bool]] = ...) -> None: ...

class MetadataValue(_message.Message):
    __slots__ = ("string_value", "int_value", "float_value", "bool_value", "string_list", "int_list", "float_list", "bool_list", "null_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_LIST_FIELD_NUMBER: _ClassVar[int]
    INT_LIST_FIELD_NUMBER: _ClassVar[int]
    FLOAT_LIST_FIELD_NUMBER: _ClassVar[int]
    BOOL_LIST_FIELD_NUMBER: _ClassVar[int]
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    float_value: float
    bool_value: bool
    string_list: StringList
    int_list: IntList
    float_list: FloatList
    bool_list: BoolList
    null_value: _struct_pb2.NullValue
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: _Optional[bool] = ..., string_list: _Optional[_Union[StringList, _Mapping]] = ..., int_list: _Optional[_Union[IntList, _Mapping]] = ..., float_list: _Optional[_Union[FloatList, _Mapping]] = ..., bool_list: _Optional[_Union[BoolList, _Mapping]] = ..., null_value: _Optional[_Union[_struct_pb2.NullValue, str]] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("fields",)
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MetadataValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MetadataValue, _Mapping]] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.MessageMap[str, MetadataValue]
    def __init__(self, fields: _Optional[_Mapping[str, MetadataValue]] = ...) -> None: ...

class OptionalString(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: str
    def __init__(self, value: _Optional[str] = ...) -> None: ...

class FieldCondition(_message.Message):
    __slots__ = ("key", "operator", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    operator: ComparisonOperator
    value: MetadataValue
    def __init__(self, key: _Optional[str] = ..., operator: _Optional[_Union[ComparisonOperator, str]] = ..., value: _Optional[_Union[MetadataValue, _Mapping]] = ...) -> None: ...

class WhereList(_message.Message):
    __slots__ = ("clauses",)
    CLAUSES_FIELD_NUMBER: _ClassVar[int]
    clauses: _containers.RepeatedCompositeFieldContainer[Where]
    def __init__(self, clauses: _Optional[_Iterable[_Union[Where, _Mapping]]] = ...) -> None: ...

class Where(_message.Message):
    __slots__ = ("all_of", "any_of", "condition")
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    all_of: WhereList
    any_of: WhereList
    condition: FieldCondition
    def __init__(self, all_of: _Optional[_Union[WhereList, _Mapping]] = ..., any_of: _Optional[_Union[WhereList, _Mapping]] = ..., condition: _Optional[_Union[FieldCondition, _Mapping]] = ...) -> None: ...

class DocumentCondition(_message.Message):
    __slots__ = ("operator", "pattern")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    operator: DocumentOperator
    pattern: str
    def __init__(self, operator: _Optional[_Union[DocumentOperator, str]] = ..., pattern: _Optional[str] = ...) -> None: ...

class WhereDocumentList(_message.Message):
    __slots__ = ("clauses",)
    CLAUSES_FIELD_NUMBER: _ClassVar[int]
    clauses: _containers.RepeatedCompositeFieldContainer[WhereDocument]
    def __init__(self, clauses: _Optional[_Iterable[_Union[WhereDocument, _Mapping]]] = ...) -> None: ...

class WhereDocument(_message.Message):
    __slots__ = ("all_of", "any_of", "condition")
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    all_of: WhereDocumentList
    any_of: WhereDocumentList
    condition: DocumentCondition
    def __init__(self, all_of: _Optional[_Union[WhereDocumentList, _Mapping]] = ..., any_of: _Optional[_Union[WhereDocumentList, _Mapping]] = ..., condition: _Optional[_Union[DocumentCondition, _Mapping]] = ...) -> None: ...

class Include(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[IncludeField]
    def __init__(self, fields: _Optional[_Iterable[_Union[IncludeField, str]]] = ...) -> None: ...

class RecordBatch(_message.Message):
    __slots__ = ("ids", "documents", "metadatas", "embeddings", "distances")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    METADATAS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    documents: _containers.RepeatedCompositeFieldContainer[OptionalString]
    metadatas: _containers.RepeatedCompositeFieldContainer[Metadata]
    embeddings: VectorBatch
    distances: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., documents: _Optional[_Iterable[_Union[OptionalString, _Mapping]]] = ..., metadatas: _Optional[_Iterable[_Union[Metadata, _Mapping]]] = ..., embeddings: _Optional[_Union[VectorBatch, _Mapping]] = ..., distances: _Optional[_Iterable[float]] = ...) -> None: ...
