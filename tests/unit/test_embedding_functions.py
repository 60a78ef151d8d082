"""segmentdb.embedding_functions: Chroma 1.x's JSON <-> the proto, the checks, import-chroma's
mapping; and the SDK's record for client-side functions."""

from __future__ import annotations

import json

import pytest

from segmentdb import embedding_functions as ef
from segmentdb.client import client_side_spec
from segmentdb.errors import InvalidArgumentError
from segmentdb.v1 import collection_pb2

DEFAULT = {"type": "known", "name": "default", "config": {}}


@pytest.mark.parametrize("spec", [DEFAULT, {"type": "legacy"}])
def test_chromas_json_round_trips_through_the_proto(spec):
    message = ef.message_from_dict(spec, "embedding_function")
    assert ef.from_proto(message, "f") == spec
    assert ef.dict_from_message(ef.to_proto(spec)) == spec


def test_the_default_json_is_chromas():
    message = ef.message_from_dict({"type": "known", "name": "default"}, "f")
    assert message.type == collection_pb2.EMBEDDING_FUNCTION_TYPE_KNOWN
    assert (message.name, json.loads(message.config_json)) == ("default", {})
    assert ef.default_spec() == DEFAULT and ef.KNOWN_FUNCTIONS["default"].dimension == 384


@pytest.mark.parametrize("spec, message", [
    ({"type": "known", "name": "", "config": {}}, r"name: expected the function's name"),
    ({"type": "known", "name": "x" * 257, "config": {}}, "1-256 characters"),
    ({"type": "known", "name": "openai", "config": {"k": "v" * 70_000}}, "at most 65536"),
    ({"type": "custom"}, "not an embedding function type"),
    ({"type": "known", "name": "default", "config": {"model_name": "x"}}, "takes no parameters"),
])
def test_checks_name_the_field_and_the_fix(spec, message):
    with pytest.raises(InvalidArgumentError, match=message):
        ef.check(spec, "configuration.embedding_function")


def test_unspecified_and_bad_config_json_are_refused():
    with pytest.raises(InvalidArgumentError, match=r"f\.type: value 0"):
        ef.from_proto(collection_pb2.EmbeddingFunctionConfiguration(), "f")
    bad = collection_pb2.EmbeddingFunctionConfiguration(
        type=collection_pb2.EMBEDDING_FUNCTION_TYPE_KNOWN, name="default", config_json="[1]")
    with pytest.raises(InvalidArgumentError, match="f.config_json: expected a JSON object"):
        ef.from_proto(bad, "f")
    with pytest.raises(InvalidArgumentError, match="a known function needs a name"):
        ef.message_from_dict({"type": "known"}, "f")


@pytest.mark.parametrize("chroma_config, recorded", [
    ({"embedding_function": {"type": "known", "name": "default", "config": {}}}, DEFAULT),
    ({"embedding_function": {"type": "known", "name": "openai", "config": {"k": 1}}},
     {"type": "known", "name": "openai", "config": {"k": 1}}),
    ({"embedding_function": {"type": "known", "name": "", "config": {}}}, {"type": "legacy"}),
    ({"embedding_function": {"type": "legacy"}}, {"type": "legacy"}),
    ({"hnsw": {}}, {"type": "legacy"}),
    (None, {"type": "legacy"}),
])
def test_import_chroma_keeps_the_function_chroma_recorded(chroma_config, recorded):
    assert ef.from_chroma_config(chroma_config) == recorded


def test_any_named_function_is_recorded_as_chroma_records_it():
    spec = {"type": "known", "name": "openai", "config": {"model_name": "text-embedding-3"}}
    assert ef.check(spec, "f") == spec
    assert ef.from_proto(ef.message_from_dict(spec, "f"), "f") == spec
    assert ef.function_of(spec) is None  # recorded, not run by the server
    assert ef.function_of(DEFAULT) is ef.KNOWN_FUNCTIONS["default"]


def test_a_client_side_function_records_its_name_and_config():
    class Named:
        def __init__(self, name):
            self._name = name

        def __call__(self, input):  # noqa: A002
            return [[0.0]] * len(input)

        def name(self):
            return self._name

    assert client_side_spec(Named("default")) == DEFAULT
    assert client_side_spec(Named("sentence_transformer")) == {
        "type": "known", "name": "sentence_transformer", "config": {}}
    configured = Named("openai")
    configured.get_config = lambda: {"model_name": "m"}
    assert client_side_spec(configured) == {"type": "known", "name": "openai",
                                            "config": {"model_name": "m"}}
    assert client_side_spec(lambda texts: [[0.0]] * len(texts)) == {"type": "legacy"}
