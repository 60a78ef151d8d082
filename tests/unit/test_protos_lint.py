"""Proto rules buf can't check for us (buf.yaml relaxes RPC_REQUEST_RESPONSE_UNIQUE so the
internal metadata service can reuse public messages)."""

from __future__ import annotations

from segmentdb.v1 import (
    admin_service_pb2,
    collection_service_pb2,
    record_service_pb2,
    system_service_pb2,
    tenancy_service_pb2,
    transfer_service_pb2,
)

PUBLIC = [admin_service_pb2, collection_service_pb2, record_service_pb2, system_service_pb2, tenancy_service_pb2,
          transfer_service_pb2]


def _methods():
    for module in PUBLIC:
        for service in module.DESCRIPTOR.services_by_name.values():
            yield from service.methods


def test_every_public_rpc_has_its_own_request_and_response():
    seen: dict[str, str] = {}
    for method in _methods():
        assert method.input_type.name == f"{method.name}Request", method.full_name
        assert method.output_type.name == f"{method.name}Response", method.full_name
        for message in (method.input_type, method.output_type):
            assert message.full_name not in seen, (
                f"{message.full_name} used by {seen.get(message.full_name)} and {method.full_name}")
            seen[message.full_name] = method.full_name


def test_enums_start_with_unspecified():
    from segmentdb.internal.v1 import segment_pb2
    from segmentdb.v1 import collection_pb2, common_pb2

    for module in (common_pb2, collection_pb2, segment_pb2, transfer_service_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.full_name
