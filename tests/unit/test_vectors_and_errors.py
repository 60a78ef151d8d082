"""The vector codec and the error table, both directions."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from segmentdb import errors, vectors
from segmentdb.v1 import common_pb2


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
                  elements=st.floats(-1e6, 1e6, width=32)))
def test_round_trip_is_bit_exact(array):
    batch = vectors.encode(array)
    assert batch.dimension == array.shape[1]
    assert len(batch.data) == array.size * 4
    back = vectors.decode(batch)
    assert back.dtype == np.dtype("<f4")
    assert np.array_equal(back.view(np.uint32), array.astype("<f4").view(np.uint32))


def test_ragged_lists_name_the_field():
    with pytest.raises(errors.InvalidArgumentError, match="embeddings: vectors have different lengths"):
        vectors.encode([[1.0, 2.0], [1.0]])


def test_bad_byte_count_is_rejected():
    batch = common_pb2.VectorBatch(dimension=3, data=b"\0" * 8)
    with pytest.raises(errors.InvalidArgumentError, match="not a whole number"):
        vectors.decode(batch)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_names_the_row(bad):
    array = np.zeros((3, 2), dtype=np.float32)
    array[2, 1] = bad
    with pytest.raises(errors.InvalidArgumentError, match=r"embeddings\[2\]"):
        vectors.decode_checked(vectors.encode(array), 3)


def test_count_must_match_ids():
    with pytest.raises(errors.InvalidArgumentError, match="got 2 vectors for 3 ids"):
        vectors.decode_checked(vectors.encode(np.zeros((2, 2))), 3)


@pytest.fixture(scope="module")
def raising_server():
    """A real gRPC server, built by segmentdb.serving, whose one method raises the error
    class named in the request — so the interceptor and the table are tested over the wire."""
    from segmentdb import serving

    def raise_named(request: bytes, context):
        name = request.decode()
        if name == "ValueError":
            raise ValueError("a bug")
        raise errors.BY_NAME[name](f"field x: do y ({name})")

    def register(server):
        handler = grpc.method_handlers_generic_handler(
            "test.Raiser", {"Raise": grpc.unary_unary_rpc_method_handler(raise_named)}
        )
        server.add_generic_rpc_handlers((handler,))
        return ["test.Raiser"]

    served = serving.build_server(register, host="127.0.0.1", port=0, max_message_bytes=1 << 20)
    channel = grpc.insecure_channel(f"127.0.0.1:{served.port}")
    yield channel.unary_unary("/test.Raiser/Raise")
    channel.close()
    served.server.stop(None)


@pytest.mark.parametrize("cls", list(errors.BY_NAME.values()), ids=lambda c: c.__name__)
def test_every_error_round_trips_with_its_code(raising_server, cls):
    with pytest.raises(grpc.RpcError) as info:
        raising_server(cls.__name__.encode())
    assert info.value.code() == cls.code
    back = errors.from_rpc_error(info.value)
    assert type(back) is cls
    assert back.message == f"field x: do y ({cls.__name__})"


def test_unexpected_exception_is_internal_not_unknown(raising_server):
    with pytest.raises(grpc.RpcError) as info:
        raising_server(b"ValueError")
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert isinstance(errors.from_rpc_error(info.value), errors.InternalError)


def test_oversized_request_is_resource_exhausted(raising_server):
    with pytest.raises(grpc.RpcError) as info:
        raising_server(b"x" * (2 << 20))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(errors.from_rpc_error(info.value), errors.BatchSizeExceededError)
