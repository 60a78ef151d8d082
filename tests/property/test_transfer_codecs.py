"""Property: every export file format reads back exactly what was written.

For any records the record model allows — ids and documents of any Unicode text (newlines,
CR, commas, quotes, NUL), documents absent or empty, metadata of every value type with
extreme ints, subnormal/negative-zero floats, float32 vectors of any finite bit pattern —
writing them in batches and reading them back in batches of another size gives the same
ids, the same documents (None stays None, "" stays ""), metadata values of the same Python
type and bits, and bit-identical vectors, plus the header's collection description.
"""

from __future__ import annotations

import math
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from segmentdb import transfer_files
from segmentdb.transfer import Records

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
NASTY = st.sampled_from(["", "a,b", 'say "hi"', "line\nbreak", "cr\rlf\r\n", "\x00nul",
                         "NA", "null", "ünïcødé ✓ 🚀", " lead", "trail ", "\\", "'"])
texts = st.one_of(TEXT, NASTY)
INT64 = st.one_of(st.integers(-(2**63), 2**63 - 1),
                  st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 0]))
FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.1, 1e-38, -0.0, 5e-324, 1.7976931348623157e308, 2.0]))
scalars = st.one_of(INT64, FLOATS, st.booleans(), texts)
lists = st.one_of(st.lists(INT64, min_size=1, max_size=3), st.lists(FLOATS, min_size=1, max_size=3),
                  st.lists(st.booleans(), min_size=1, max_size=3),
                  st.lists(texts, min_size=1, max_size=3))
metadatas = st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=6),
                                                 st.one_of(scalars, lists), max_size=4))
# float32 bit patterns: finite ones only (exponent not all ones), sign bit included.
vector_bits = st.integers(0, 2**32 - 1).filter(lambda b: (b >> 23) & 0xFF != 0xFF)


@st.composite
def record_batches(draw):
    dimension = draw(st.integers(1, 5))
    count = draw(st.integers(0, 12))
    ids = draw(st.lists(st.one_of(TEXT, NASTY).filter(bool), min_size=count, max_size=count,
                        unique=True))
    bits = draw(st.lists(vector_bits, min_size=count * dimension, max_size=count * dimension))
    embeddings = np.array(bits, dtype=np.uint32).view(np.float32).reshape(count, dimension)
    documents = draw(st.one_of(st.none(), st.lists(st.one_of(st.none(), texts),
                                                   min_size=count, max_size=count)))
    metas = draw(st.one_of(st.none(), st.lists(metadatas, min_size=count, max_size=count)))
    cut = draw(st.integers(0, count))
    batch = Records(ids, embeddings, documents, metas)
    return dimension, [batch.slice(0, cut), batch.slice(cut, count)]


collections = st.fixed_dictionaries({
    "name": st.just("books"),
    "metadata": st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=5),
                                                     st.one_of(INT64, FLOATS, st.booleans(), texts),
                                                     max_size=3)),
    "configuration": st.fixed_dictionaries({"hnsw": st.fixed_dictionaries({
        "space": st.sampled_from(["l2", "ip", "cosine"]), "max_neighbors": st.integers(2, 64),
        "ef_search": st.integers(1, 500), "resize_factor": st.floats(1.0, 4.0)})}),
})


def _same(a, b) -> bool:
    """Equal with the same type at every level; floats compared by their bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _joined(batches: list[Records], count: int, dimension: int) -> Records:
    ids = [i for b in batches for i in b.ids]
    embeddings = (np.concatenate([b.embeddings for b in batches]) if batches
                  else np.zeros((0, dimension), np.float32))
    documents = [d for b in batches for d in (b.documents or [None] * len(b))]
    metas = [m or None for b in batches for m in (b.metadatas or [None] * len(b))]
    assert len(ids) == count
    return Records(ids, embeddings.reshape(-1, dimension), documents, metas)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=record_batches(), collection=collections, read_batch=st.integers(1, 7),
       suffix=st.sampled_from(transfer_files.FORMATS))
def test_files_read_back_exactly_what_was_written(data, collection, read_batch, suffix):
    dimension, batches = data
    collection = {**collection, "dimension": dimension}
    count = sum(len(b) for b in batches)
    expected = _joined(batches, count, dimension)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        with transfer_files.open_writer(path, collection, count) as writer:
            for batch in batches:
                writer.write(batch)
        reader = transfer_files.open_reader(path, batch_size=read_batch)
        got = list(reader)
        leftovers = sorted(p.name for p in Path(folder).iterdir() if ".tmp-" in p.name)
    assert not leftovers
    assert all(1 <= len(b) <= read_batch for b in got)
    assert _same(reader.collection, collection)
    assert reader.record_count == count
    actual = _joined(got, count, dimension)
    assert actual.ids == expected.ids
    assert [type(d) for d in actual.documents] == [type(d) for d in expected.documents]
    assert actual.documents == expected.documents
    assert all(_same(a, e) for a, e in zip(actual.metadatas, expected.metadatas)), (
        actual.metadatas, expected.metadatas)
    assert actual.embeddings.dtype == np.float32
    assert actual.embeddings.view(np.uint32).tolist() == expected.embeddings.view(np.uint32).tolist()


@settings(max_examples=30, deadline=None)
@given(suffix=st.sampled_from(transfer_files.FORMATS), batches=st.integers(0, 2))
def test_a_failed_export_leaves_no_file_behind(suffix, batches):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        try:
            with transfer_files.open_writer(path, None, None) as writer:
                for _ in range(batches):
                    writer.write(Records(["a"], np.zeros((1, 2), np.float32)))
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        assert list(Path(folder).iterdir()) == []
