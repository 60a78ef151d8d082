"""docs/api.md's grpcurl examples, run against a live gateway the way grpcurl runs them:
methods and message types come from the server's reflection service (no generated stubs),
request bodies are parsed from the documented JSON, responses decoded through reflection too.
A renamed field, a wrong enum name or bad base64 in the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
TARGET = "localhost:50051"  # the address the docs use; replaced by the test service's


def _examples() -> list[dict]:
    """Each grpcurl command of the grpcurl section: verb, method or symbol, body, capture."""
    text = DOC.read_text().split("## Calling it with grpcurl", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = []
    for block in blocks:
        block = block.replace("\\\n", " ")
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if "grpcurl" not in line or line.startswith("#"):
                continue
            command = {"line": line, "expect": None, "capture": None, "body": None}
            capture = re.match(r"(\w+)=\$\(grpcurl", line)
            if capture:
                command["capture"] = capture.group(1)
            heredoc = re.search(r"-d @ \S+ (\S+) <<EOF$", line)
            inline = re.search(r"-d '(.*?)' +\S+ +(\S+?)(\s*\|.*)?\)?$", line)
            listing = re.search(r"grpcurl -plaintext \S+ (list|describe)\s*(\S*)$", line)
            if heredoc:
                command["method"] = heredoc.group(1)
                body = []
                while lines[i].strip() != "EOF":
                    body.append(lines[i])
                    i += 1
                i += 1
                command["body"] = "\n".join(body)
            elif inline:
                command["method"], command["body"] = inline.group(2).rstrip(")"), inline.group(1)
            elif listing:
                command["verb"], command["symbol"] = listing.groups()
            else:
                raise AssertionError(f"docs/api.md: a grpcurl line the test can't read: {line}")
            if i < len(lines) and lines[i].strip().startswith("# ERROR:"):
                command["expect"] = lines[i].strip().split(":", 1)[1].strip()
            commands.append(command)
    return commands


class Reflection:
    """What grpcurl does: descriptors from the server, messages built from them."""

    def __init__(self, channel: grpc.Channel):
        self.channel = channel
        self.database = ProtoReflectionDescriptorDatabase(channel)
        self.pool = descriptor_pool.DescriptorPool(self.database)

    def services(self) -> list[str]:
        return list(self.database.get_services())

    def find(self, symbol: str):
        for lookup in (self.pool.FindServiceByName, self.pool.FindMessageTypeByName):
            try:
                return lookup(symbol)
            except KeyError:
                pass
        return None

    def call(self, method_path: str, body: str):
        service, method = method_path.split("/")
        descriptor = self.pool.FindServiceByName(service).FindMethodByName(method)
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        request = json_format.Parse(body, request_class())
        stub = self.channel.unary_unary(f"/{service}/{method}",
                                        request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        return json_format.MessageToDict(stub(request, timeout=30))


def test_api_doc_grpcurl_examples_run_through_reflection(service, collection_name):
    examples = _examples()
    assert len(examples) >= 9, [e["line"] for e in examples]
    variables: dict[str, str] = {}
    answers: dict[str, dict] = {}
    calls: list[tuple[str, str, dict]] = []
    with grpc.insecure_channel(service.address) as channel:
        reflection = Reflection(channel)
        for example in examples:
            assert TARGET in example["line"], example["line"]
            if example.get("verb") == "list":
                listed = reflection.services()
                for name in ("SystemService", "TenancyService", "CollectionService",
                             "RecordService", "AdminService", "TransferService"):
                    assert f"segmentdb.v1.{name}" in listed, listed
                assert "grpc.health.v1.Health" in listed
                continue
            if example.get("verb") == "describe":
                assert reflection.find(example["symbol"]) is not None, example["symbol"]
                continue
            body = example["body"].replace('"books"', f'"{collection_name}"').replace(
                '"notes"', f'"{collection_name}n"')
            for name, value in variables.items():
                body = body.replace(f"${name}", value)
            try:
                answer = reflection.call(example["method"], body)
            except grpc.RpcError as err:
                documented = example["expect"]
                assert documented, f"{example['line']}: {err.code()} {err.details()}"
                # grpcurl prints codes in CamelCase (NotFound for NOT_FOUND).
                assert err.code().name.replace("_", "").lower() == documented.lower()
                continue
            assert example["expect"] is None, f"{example['line']}: expected {example['expect']}"
            # The first answer of each method; every answer in order.
            answers.setdefault(example["method"].rsplit("/", 1)[1], answer)
            calls.append((example["method"].rsplit("/", 1)[1], body, answer))
            if example["capture"]:
                variables[example["capture"]] = answer["collection"]["id"]

    assert answers["Check"] == {"status": "SERVING"}
    assert answers["CreateCollection"]["collection"]["configuration"]["hnsw"]["space"] == \
        "SPACE_COSINE"
    assert answers["AddRecords"]["inserted"] == 2
    # year > 1855: only "a", with its document and distance (cosine: 0 to itself).
    [hits] = answers["QueryRecords"]["results"]
    assert hits["ids"] == ["a"]
    assert hits["documents"] == [{"value": "a tale of two cities"}]
    assert hits["distances"] == [pytest.approx(0.0, abs=1e-6)]
    assert answers["CountRecords"] == {"count": "2"}
    assert "DeleteCollection" in answers
    # The text example: documents embedded by the server, a query by text finds the cat.
    [text_query] = [a for m, b, a in calls if m == "QueryRecords" and "queryTexts" in b]
    assert text_query["results"][0]["ids"] == ["cat"]
