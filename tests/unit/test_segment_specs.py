"""gateway.segment_specs: positions only grow, writes raise them, the cache is bounded."""

from gateway.segment_specs import SegmentSpecs
from segmentdb.internal.v1 import segment_pb2


def _spec(segment: str, dimension: int = 4) -> segment_pb2.SegmentSpec:
    return segment_pb2.SegmentSpec(segment_id=segment, collection_id="c", dimension=dimension)


def test_positions_never_go_back_and_writes_move_them_forward():
    specs = SegmentSpecs()
    assert specs.get("c") is None
    specs.wrote("c", 5)  # nothing known yet: nothing to raise
    assert specs.get("c") is None
    specs.learn("c", _spec("s1"), 10)
    specs.learn("c", _spec("s1"), 7)  # an older answer arriving late
    assert specs.get("c").log_sequence == 10
    specs.wrote("c", 12)
    assert specs.get("c").log_sequence == 12
    specs.learn("c", _spec("s1", dimension=8), 12)
    assert specs.get("c").spec.dimension == 8
    specs.forget("c")
    assert specs.get("c") is None


def test_least_recently_used_entries_are_dropped_first():
    specs = SegmentSpecs(max_entries=2)
    specs.learn("a", _spec("sa"), 1)
    specs.learn("b", _spec("sb"), 1)
    specs.get("a")  # a is now the most recently used
    specs.learn("c", _spec("sc"), 1)
    assert specs.get("b") is None and specs.get("a") is not None and len(specs) == 2
