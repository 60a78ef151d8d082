"""Every rule the gateway checks before a write, and that each message names its field."""

from __future__ import annotations

import math

import grpc
import numpy as np
import pytest

from gateway import validation
from segmentdb import errors, vectors
from segmentdb.v1 import collection_pb2, common_pb2, record_service_pb2 as rs

LIMIT = 1000


def md(**fields) -> common_pb2.Metadata:
    out = common_pb2.Metadata()
    for key, value in fields.items():
        out.fields[key].CopyFrom(value)
    return out


def val(**kind) -> common_pb2.MetadataValue:
    return common_pb2.MetadataValue(**kind)


def add(ids=("a", "b"), dim=3, **kw) -> rs.AddRecordsRequest:
    emb = vectors.encode(np.ones((len(ids), dim))) if dim else common_pb2.VectorBatch()
    return rs.AddRecordsRequest(collection_id="c1", ids=list(ids), embeddings=emb, **kw)


def raises(cls, *fragments):
    """Context manager: raises `cls` and the message contains every fragment."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(cls)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self.ctx.__exit__(*exc)
            for fragment in fragments:
                assert fragment in str(self.info.value), (fragment, str(self.info.value))
            return result

    return _Check()


# ---- collection names --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["abc", "a.b", "A-b_c.9", "x" * 512, "1a1"])
def test_valid_collection_names(name):
    validation.collection_name(name)


@pytest.mark.parametrize("name", ["", "ab", "x" * 513, "-abc", "abc-", "a..b", "a b c",
                                  "ab/c", "_abc", "abc.", "ümlaut"])
def test_invalid_collection_names(name):
    with raises(errors.InvalidCollectionNameError, "name:", "3-512", "[a-zA-Z0-9._-]", "'..'"):
        validation.collection_name(name)


@pytest.mark.parametrize("name", ["1.2.3.4", "127.0.0.1", "255.255.255.255", "0.0.0.0"])
def test_ipv4_addresses_are_not_collection_names(name):
    with raises(errors.InvalidCollectionNameError, "name:", repr(name), "IPv4 address"):
        validation.collection_name(name)


@pytest.mark.parametrize("name", ["256.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5"])
def test_dotted_names_that_are_not_ipv4_addresses_are_fine(name):
    validation.collection_name(name)  # chromadb accepts these too


def test_invalid_collection_name_is_invalid_argument_and_names_field():
    with raises(errors.InvalidCollectionNameError, "new_name:") as info:
        validation.collection_name("a", "new_name")
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


# ---- tenant and database names -----------------------------------------------------------

def test_empty_tenant_and_database_default():
    assert validation.tenant_name("") == "default_tenant"
    assert validation.database_name("") == "default_database"
    assert validation.tenant_name("acme") == "acme"


def test_tenant_required_when_no_default():
    with raises(errors.InvalidArgumentError, "name:", "required"):
        validation.tenant_name("", "name", default=False)


@pytest.mark.parametrize("bad, fragment", [
    ("x" * 513, "at most 512"),
    ("a\x00b", "control character"),
    ("tab\there", "control character"),
    (" padded", "whitespace"),
])
def test_bad_tenant_and_database_names(bad, fragment):
    with raises(errors.InvalidArgumentError, "tenant:", fragment):
        validation.tenant_name(bad)
    with raises(errors.InvalidArgumentError, "database:", fragment):
        validation.database_name(bad)


def test_longest_tenant_name_is_accepted():
    assert validation.tenant_name("t" * 512) == "t" * 512


# ---- ids ---------------------------------------------------------------------------------

def test_write_needs_an_id():
    with raises(errors.InvalidArgumentError, "ids:", "at least one"):
        validation.check_add(add(ids=()), LIMIT)


def test_empty_id_is_rejected_with_position():
    with raises(errors.InvalidArgumentError, "ids[1]:", "non-empty"):
        validation.check_add(add(ids=("a", "")), LIMIT)


def test_duplicate_ids_listed_up_to_five():
    ids = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "f", "f", "g", "g"]
    with raises(errors.DuplicateIDError, "ids:", "'a'", "'e'", "and 2 more") as info:
        validation.check_add(add(ids=ids), LIMIT)
    assert "'f'" not in str(info.value)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_duplicate_ids_in_get_and_delete():
    with raises(errors.DuplicateIDError, "ids:", "'x'"):
        validation.check_get(rs.GetRecordsRequest(collection_id="c", ids=["x", "x"]))
    with raises(errors.DuplicateIDError, "ids:"):
        validation.check_delete(rs.DeleteRecordsRequest(collection_id="c", ids=["x", "x"]), LIMIT)


def test_collection_id_required():
    request = add()
    request.collection_id = ""
    with raises(errors.InvalidArgumentError, "collection_id:"):
        validation.check_add(request, LIMIT)
    with raises(errors.InvalidArgumentError, "collection_id:"):
        validation.check_get(rs.GetRecordsRequest())


# ---- batch size --------------------------------------------------------------------------

def test_batch_over_limit_is_resource_exhausted_naming_limit_and_flag():
    with raises(errors.BatchSizeExceededError, "ids:", "3 records", "limit of 2",
                "--max-batch-size") as info:
        validation.check_add(add(ids=("a", "b", "c")), 2)
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_batch_at_limit_passes():
    validation.check_add(add(ids=("a", "b")), 2)


@pytest.mark.parametrize("check", [validation.check_upsert, validation.check_update])
def test_batch_limit_applies_to_upsert_and_update(check):
    request_type = (rs.UpsertRecordsRequest if check is validation.check_upsert
                    else rs.UpdateRecordsRequest)
    request = request_type(collection_id="c", ids=["a", "b", "c"],
                           embeddings=vectors.encode(np.ones((3, 2))))
    with raises(errors.BatchSizeExceededError, "--max-batch-size"):
        check(request, 2)


# ---- columns -----------------------------------------------------------------------------

def test_documents_column_must_match_ids():
    request = add(documents=[common_pb2.OptionalString(value="d")])
    with raises(errors.InvalidArgumentError, "documents:", "1 entries for 2 ids"):
        validation.check_add(request, LIMIT)


def test_metadatas_column_must_match_ids():
    request = add(metadatas=[md(), md(), md()])
    with raises(errors.InvalidArgumentError, "metadatas:", "3 entries for 2 ids"):
        validation.check_add(request, LIMIT)


def test_empty_columns_are_fine():
    validation.check_add(add(), LIMIT)


# ---- vectors -----------------------------------------------------------------------------

@pytest.mark.parametrize("check, operation", [(validation.check_add, "add"),
                                              (validation.check_upsert, "upsert")])
def test_add_and_upsert_require_embeddings(check, operation):
    request_type = rs.AddRecordsRequest if operation == "add" else rs.UpsertRecordsRequest
    with raises(errors.InvalidArgumentError, "embeddings:", f"required for {operation}",
                "a document per id, which the server embeds"):
        check(request_type(collection_id="c", ids=["a"]), LIMIT)


@pytest.mark.parametrize("check, request_type", [(validation.check_add, rs.AddRecordsRequest),
                                                 (validation.check_upsert, rs.UpsertRecordsRequest)])
def test_documents_without_embeddings_are_to_be_embedded(check, request_type):
    documents = [common_pb2.OptionalString(value="one"), common_pb2.OptionalString(value="")]
    assert check(request_type(collection_id="c", ids=["a", "b"], documents=documents), LIMIT)
    with_vectors = request_type(collection_id="c", ids=["a"], documents=documents[:1],
                                embeddings=vectors.encode(np.ones((1, 2))))
    assert not check(with_vectors, LIMIT)


def test_documents_to_embed_need_a_value_for_every_id():
    documents = [common_pb2.OptionalString(value="one"), common_pb2.OptionalString()]
    with raises(errors.InvalidArgumentError, "documents[1]:", "every id needs one"):
        validation.check_add(rs.AddRecordsRequest(collection_id="c", ids=["a", "b"],
                                                  documents=documents), LIMIT)


def test_an_import_chunk_is_never_embedded():
    chunk = rs.AddRecordsRequest(collection_id="c", ids=["a"],
                                 documents=[common_pb2.OptionalString(value="one")])
    with raises(errors.InvalidArgumentError, "embeddings:", "import does not embed"):
        validation.check_import_chunk(chunk, LIMIT)


def test_query_by_text_or_by_vector_not_both():
    by_text = rs.QueryRecordsRequest(collection_id="c", n_results=1, query_texts=["hello"])
    assert validation.query_texts(by_text, LIMIT)
    assert not validation.query_texts(rs.QueryRecordsRequest(collection_id="c", n_results=1),
                                      LIMIT)
    both = rs.QueryRecordsRequest(collection_id="c", n_results=1, query_texts=["hello"],
                                  query_embeddings=vectors.encode(np.ones((1, 2))))
    with raises(errors.InvalidArgumentError, "query_embeddings/query_texts", "not both"):
        validation.query_texts(both, LIMIT)
    with raises(errors.InvalidArgumentError, "n_results"):
        validation.query_texts(rs.QueryRecordsRequest(collection_id="c", query_texts=["x"]),
                               LIMIT)


def test_update_without_embeddings_is_fine():
    validation.check_update(rs.UpdateRecordsRequest(collection_id="c", ids=["a"]), LIMIT)


def test_update_embeddings_must_match_ids():
    request = rs.UpdateRecordsRequest(collection_id="c", ids=["a", "b"],
                                      embeddings=vectors.encode(np.ones((1, 2))))
    with raises(errors.InvalidArgumentError, "embeddings:", "1 vectors for 2 ids"):
        validation.check_update(request, LIMIT)


def test_vector_count_must_match_ids():
    request = add(ids=("a", "b"))
    request.embeddings.CopyFrom(vectors.encode(np.ones((3, 3))))
    with raises(errors.InvalidArgumentError, "embeddings:", "3 vectors for 2 ids"):
        validation.check_add(request, LIMIT)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_vectors_rejected(bad):
    array = np.ones((2, 3), dtype=np.float32)
    array[1, 2] = bad
    request = add()
    request.embeddings.CopyFrom(common_pb2.VectorBatch(dimension=3, data=array.tobytes()))
    with raises(errors.InvalidArgumentError, "embeddings[1]:", "NaN or infinity"):
        validation.check_add(request, LIMIT)


def test_vector_bytes_must_be_whole_rows():
    request = add()
    request.embeddings.CopyFrom(common_pb2.VectorBatch(dimension=3, data=b"\x00" * 20))
    with raises(errors.InvalidArgumentError, "embeddings.data:", "20 bytes"):
        validation.check_add(request, LIMIT)


def test_vector_data_without_dimension():
    request = add()
    request.embeddings.CopyFrom(common_pb2.VectorBatch(dimension=0, data=b"\x00" * 24))
    with raises(errors.InvalidArgumentError, "embeddings.dimension:"):
        validation.check_add(request, LIMIT)


# ---- metadata ----------------------------------------------------------------------------

def test_good_metadata_passes():
    metadata = md(s=val(string_value="x"), i=val(int_value=3), f=val(float_value=1.5),
                  b=val(bool_value=False),
                  sl=val(string_list=common_pb2.StringList(values=["a"])),
                  fl=val(float_list=common_pb2.FloatList(values=[1.0, 2.0])))
    validation.check_add(add(metadatas=[metadata, md()]), LIMIT)


def test_empty_metadata_key():
    with raises(errors.InvalidArgumentError, "metadatas[1]:", "keys must be non-empty"):
        validation.check_add(add(metadatas=[md(), md(**{"": val(int_value=1)})]), LIMIT)


def test_metadata_value_unset():
    with raises(errors.InvalidArgumentError, "metadatas[0]['k']:", "empty"):
        validation.check_add(add(metadatas=[md(k=val()), md()]), LIMIT)


@pytest.mark.parametrize("kind", ["string_list", "int_list", "float_list", "bool_list"])
def test_empty_lists_rejected(kind):
    list_type = {"string_list": common_pb2.StringList, "int_list": common_pb2.IntList,
                 "float_list": common_pb2.FloatList, "bool_list": common_pb2.BoolList}[kind]
    metadata = md(tags=val(**{kind: list_type()}))
    with raises(errors.InvalidArgumentError, "metadatas[0]['tags']:", "non-empty"):
        validation.check_add(add(metadatas=[metadata, md()]), LIMIT)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_metadata_floats(bad):
    with raises(errors.InvalidArgumentError, "metadatas[0]['x']:", "finite"):
        validation.check_add(add(metadatas=[md(x=val(float_value=bad)), md()]), LIMIT)
    listed = md(x=val(float_list=common_pb2.FloatList(values=[1.0, bad])))
    with raises(errors.InvalidArgumentError, "metadatas[1]['x'][1]:", "finite"):
        validation.check_add(add(metadatas=[md(), listed]), LIMIT)


def test_null_value_only_in_update_and_upsert():
    nulled = md(gone=val(null_value=0))
    with raises(errors.InvalidArgumentError, "metadatas[0]['gone']:", "update and upsert"):
        validation.check_add(add(metadatas=[nulled, md()]), LIMIT)
    validation.check_upsert(rs.UpsertRecordsRequest(
        collection_id="c", ids=["a"], embeddings=vectors.encode([[1.0]]), metadatas=[nulled]),
        LIMIT)
    validation.check_update(rs.UpdateRecordsRequest(collection_id="c", ids=["a"],
                                                    metadatas=[nulled]), LIMIT)


@pytest.mark.parametrize("key", ["#document", "$x", "chroma:document"])
def test_reserved_record_metadata_keys_rejected(key):
    bad = md(**{key: val(string_value="x")})
    with raises(errors.InvalidArgumentError, f"metadatas[1][{key!r}]:", "reserved"):
        validation.check_add(add(metadatas=[md(), bad]), LIMIT)
    with raises(errors.InvalidArgumentError, f"metadatas[0][{key!r}]:", "reserved"):
        validation.check_update(rs.UpdateRecordsRequest(collection_id="c", ids=["a"],
                                                        metadatas=[bad]), LIMIT)


def test_keys_merely_containing_reserved_characters_are_fine():
    validation.check_add(add(metadatas=[md(**{"a#": val(int_value=1), "a$b": val(int_value=2)}),
                                        md(**{"chroma:doc": val(int_value=3)})]), LIMIT)


def test_reserved_collection_metadata_keys():
    for key in ("#x", "$x"):
        with raises(errors.InvalidArgumentError, f"metadata[{key!r}]:", "'#' or '$'"):
            validation.metadata(md(**{key: val(int_value=1)}), "metadata", allow_null=False)
    # chromadb reserves chroma:document in record metadata only.
    validation.metadata(md(**{"chroma:document": val(int_value=1)}), "metadata",
                        allow_null=False)


def test_documents_without_value_are_accepted_on_the_wire():
    # Add/upsert carry embeddings, so (as in chromadb) a record may lack a document; in an
    # update an absent value keeps the stored document (docs/internals.md).
    absent = [common_pb2.OptionalString(), common_pb2.OptionalString(value="d")]
    validation.check_add(add(documents=absent), LIMIT)
    validation.check_update(rs.UpdateRecordsRequest(collection_id="c", ids=["a", "b"],
                                                    documents=absent), LIMIT)


def test_collection_metadata_rules():
    with raises(errors.InvalidArgumentError, "metadata['k']:", "update and upsert"):
        validation.metadata(md(k=val(null_value=0)), "metadata", allow_null=False)


# ---- delete / get / query ----------------------------------------------------------------

def test_delete_needs_ids_or_a_filter():
    with raises(errors.InvalidArgumentError, "ids/where/where_document:"):
        validation.check_delete(rs.DeleteRecordsRequest(collection_id="c"), LIMIT)
    validation.check_delete(rs.DeleteRecordsRequest(collection_id="c", ids=["a"]), LIMIT)
    validation.check_delete(rs.DeleteRecordsRequest(collection_id="c", where=common_pb2.Where()),
                            LIMIT)


def test_get_include_defaults_and_rules():
    assert validation.check_get(rs.GetRecordsRequest(collection_id="c")) == {
        common_pb2.INCLUDE_FIELD_DOCUMENTS, common_pb2.INCLUDE_FIELD_METADATAS}
    empty = rs.GetRecordsRequest(collection_id="c", include=common_pb2.Include())
    assert validation.check_get(empty) == frozenset()
    with raises(errors.InvalidArgumentError, "include.fields[1]:", "only returned by a query"):
        validation.check_get(rs.GetRecordsRequest(collection_id="c", include=common_pb2.Include(
            fields=[common_pb2.INCLUDE_FIELD_DOCUMENTS, common_pb2.INCLUDE_FIELD_DISTANCES])))


@pytest.mark.parametrize("bad", [common_pb2.INCLUDE_FIELD_UNSPECIFIED, 42])
def test_include_unspecified_or_unknown_rejected(bad):
    request = rs.QueryRecordsRequest(collection_id="c", n_results=1,
                                     query_embeddings=vectors.encode([[1.0, 2.0]]),
                                     include=common_pb2.Include(fields=[bad]))
    with raises(errors.InvalidArgumentError, "include.fields[0]:", "DISTANCES"):
        validation.check_query(request)


def query(**kw) -> rs.QueryRecordsRequest:
    kw.setdefault("query_embeddings", vectors.encode([[1.0, 2.0], [3.0, 4.0]]))
    kw.setdefault("n_results", 3)
    return rs.QueryRecordsRequest(collection_id="c", **kw)


def test_query_defaults_include_distances():
    queries, fields = validation.check_query(query())
    assert queries.shape == (2, 2)
    assert common_pb2.INCLUDE_FIELD_DISTANCES in fields
    assert common_pb2.INCLUDE_FIELD_EMBEDDINGS not in fields


def test_query_n_results_at_least_one():
    with raises(errors.InvalidArgumentError, "n_results:", "at least 1"):
        validation.check_query(query(n_results=0))


def test_query_needs_vectors():
    with raises(errors.InvalidArgumentError, "query_embeddings:", "or query_texts"):
        validation.check_query(query(query_embeddings=common_pb2.VectorBatch()))


def test_query_vectors_finite():
    data = np.array([[1.0, math.nan]], dtype="<f4").tobytes()
    with raises(errors.InvalidArgumentError, "query_embeddings[0]:"):
        validation.check_query(query(query_embeddings=common_pb2.VectorBatch(dimension=2,
                                                                            data=data)))


def test_query_ids_checked():
    with raises(errors.DuplicateIDError, "ids:"):
        validation.check_query(query(ids=["a", "a"]))


# ---- configuration -----------------------------------------------------------------------

def config(**hnsw) -> collection_pb2.CollectionConfiguration:
    return collection_pb2.CollectionConfiguration(hnsw=collection_pb2.HnswConfiguration(**hnsw))


def test_good_configuration():
    validation.configuration(config(space=collection_pb2.SPACE_COSINE, max_neighbors=32,
                                    resize_factor=1.5), "configuration")
    validation.configuration(collection_pb2.CollectionConfiguration(), "configuration")


def test_space_unspecified_rejected():
    with raises(errors.InvalidArgumentError, "configuration.hnsw.space:", "SPACE_L2"):
        validation.configuration(config(space=collection_pb2.SPACE_UNSPECIFIED), "configuration")


@pytest.mark.parametrize("name", ["max_neighbors", "ef_construction", "ef_search",
                                  "num_threads", "sync_threshold", "batch_size"])
def test_zero_parameters_rejected(name):
    with raises(errors.InvalidArgumentError, f"new_configuration.hnsw.{name}:", "at least 1"):
        validation.configuration(config(**{name: 0}), "new_configuration")


@pytest.mark.parametrize("bad", [0.5, math.nan, math.inf])
def test_resize_factor_rejected(bad):
    with raises(errors.InvalidArgumentError, "configuration.hnsw.resize_factor:"):
        validation.configuration(config(resize_factor=bad), "configuration")
