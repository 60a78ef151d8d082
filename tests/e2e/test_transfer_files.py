"""`segmentdb export` / `segmentdb import` end to end, as subprocesses against the session service.

- 100,000 records (dimension 8) with nasty values go collection -> FILE -> new collection
  through the CLI, for .parquet, .jsonl and .csv, and come back exact: ids, documents (None
  vs ""), metadata value types and values, float32 vectors bit for bit, and the collection's
  configuration, metadata and dimension. That is `make test-slow` (~10 s a format on an idle
  machine, minutes on a loaded one); the main suite runs the same test at 10,000 records.
- The CSV reads with pandas.read_csv into sensible columns.
- An import killed with SIGKILL mid-way, run again, resumes after the committed chunks and
  ends with every record exactly once.
"""

from __future__ import annotations

import json
import math
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from segmentdb import transfer, transfer_files
from segmentdb.transfer import Records

REPO = Path(__file__).resolve().parents[2]
FULL_COUNT = 100_000
QUICK_COUNT = 10_000
DIM = 8
CONFIGURATION = {"hnsw": {"space": "cosine", "max_neighbors": 12, "ef_construction": 80,
                          "ef_search": 40, "sync_threshold": 5000, "batch_size": 500,
                          "resize_factor": 1.5}}
COLLECTION_METADATA = {"owner": "ünï, \"quoted\"\nline", "version": 3, "ratio": 0.25,
                       "public": True}
DOCUMENTS = ["plain", "", "comma, separated", 'say "hi", then \'bye\'', "line\nbreak",
             "crlf\r\nand\rcr", "ünïcødé ✓ 日本語 🚀", "NA", "null", "   ", "\ttab", "#hash",
             "a\\backslash", None]


def _metadata(i: int):
    kind = i % 7
    if kind == 0:
        return None
    if kind == 1:
        return {"int": i, "float": i / 10, "bool": i % 2 == 0, "str": f"s{i},\"x\"\n"}
    if kind == 2:
        return {"near53": 2**53 + i, "max": 2**63 - 1 - i, "min": -(2**63) + i, "one": 1}
    if kind == 3:
        return {"tenth": 0.1, "tiny": 1e-38, "huge": 1.7976931348623157e308, "whole": 5.0,
                "sub": 5e-324}
    if kind == 4:
        return {"ints": [1, -2, 2**62], "floats": [0.1, 2.5], "bools": [True, False],
                "strs": ["a", "b,c", "ü"]}
    if kind == 5:
        return {"true": True, "zero": 0, "zero_float": 0.0, "empty": ""}
    return {"unicode ключ": "значение", "emoji 🚀": 1}


def _dataset(count: int) -> Records:
    rng = np.random.default_rng(5)
    embeddings = rng.standard_normal((count, DIM)).astype(np.float32)
    specials = np.array([-0.0, 0.1, 1e-38, 1e-45, 3.4e38, -3.4e38, 1.0, 0.0], np.float32)
    embeddings[::9] = specials  # every ninth vector holds the awkward values
    ids = [f"id-{i}" if i % 11 else f"ü,\"{i}\"\n" for i in range(count)]
    documents = [DOCUMENTS[i % len(DOCUMENTS)] if i % 3 else f"doc {i}" for i in range(count)]
    return Records(ids, embeddings, documents, [_metadata(i) for i in range(count)])


def _same(a, b) -> bool:
    """Equal with the same type at every level; floats compared by their bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def cli(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "segmentdb.cli", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stderr
    return result


class Sources:
    """Source collections by size, made on first use and deleted at the module's end."""

    def __init__(self, client):
        self.client = client
        self.made: dict[int, tuple] = {}

    def get(self, count: int):
        if count not in self.made:
            name = f"transfer-source-{count}-{os.getpid()}"
            collection = self.client.create_collection(name, configuration=CONFIGURATION,
                                                       metadata=COLLECTION_METADATA)
            data = _dataset(count)
            for begin in range(0, count, 25_000):
                part = data.slice(begin, begin + 25_000)
                collection.add(ids=part.ids, embeddings=part.embeddings,
                               documents=part.documents, metadatas=part.metadatas)
            self.made[count] = (collection, data)
        return self.made[count]


@pytest.fixture(scope="module")
def sources(service):
    import segmentdb

    client = segmentdb.Client(service.address)
    made = Sources(client)
    yield made
    for collection, _data in made.made.values():
        client.delete_collection(collection.name)
    client.close()


@pytest.mark.parametrize("suffix", transfer_files.FORMATS)
@pytest.mark.parametrize("count", [QUICK_COUNT, pytest.param(FULL_COUNT, marks=pytest.mark.slow)])
def test_a_round_trip_through_a_file_is_exact(service, client, sources, tmp_path, suffix, count):
    collection, data = sources.get(count)
    out = tmp_path / f"export{suffix}"
    exported = json.loads(cli("export", "--target", service.address, "--collection",
                              collection.name, "--out", str(out), "--json").stdout)
    assert exported["records"] == count and exported["bytes"] == out.stat().st_size
    target = f"{collection.name}-{suffix[1:]}"
    imported = json.loads(cli("import", "--target", service.address, "--collection", target,
                              str(out), "--json").stdout)
    assert (imported["records"], imported["inserted"], imported["created"]) == (count, count, True)
    try:
        copy = client.get_collection(target)
        assert copy.configuration == collection.configuration
        assert copy.configuration["hnsw"]["max_neighbors"] == 12
        assert _same(copy.metadata, COLLECTION_METADATA) and copy.dimension == DIM
        got = copy.get(include=["documents", "metadatas", "embeddings"])
        assert got["ids"] == data.ids
        assert [type(d) for d in got["documents"]] == [type(d) for d in data.documents]
        assert got["documents"] == data.documents
        bad = [i for i, (a, e) in enumerate(zip(got["metadatas"], data.metadatas)) if not _same(a, e)]
        assert not bad, (bad[:3], got["metadatas"][bad[0]], data.metadatas[bad[0]])
        assert got["embeddings"].dtype == np.float32
        assert np.array_equal(got["embeddings"].view(np.uint32), data.embeddings.view(np.uint32))
    finally:
        client.delete_collection(target)


def test_the_csv_reads_with_pandas(service, client, make_collection, tmp_path):
    import pandas as pd

    small = make_collection(metadata={"k": 1})
    small.add(ids=["1", "b,\"2\"", "c"], embeddings=[[0.5, -0.0], [1e-38, 2.0], [3.0, 4.0]],
              documents=["x,\ny", "", None], metadatas=[{"n": 1, "f": 1.5}, None, {"l": [1, 2]}])
    out = tmp_path / "small.csv"
    cli("export", "--target", service.address, "--collection", small.name, "--out", str(out))
    frame = pd.read_csv(out, dtype={"id": str}, keep_default_na=False, na_values=[""])
    assert list(frame.columns) == ["id", "document", "metadata", "embedding"]
    assert frame["id"].tolist() == ["1", "b,\"2\"", "c"]
    assert frame["document"].tolist()[0] == "x,\ny"
    assert math.isnan(frame["document"][2])
    assert json.loads(frame["metadata"][0]) == {"n": 1, "f": 1.5} and math.isnan(frame["metadata"][1])
    assert json.loads(frame["embedding"][1]) == [float(np.float32(1e-38)), 2.0]
    sidecar = json.loads(Path(f"{out}.collection.json").read_text())
    assert sidecar["collection"]["metadata"] == {"k": 1} and sidecar["record_count"] == 3


def test_an_import_killed_mid_way_resumes_with_every_record_once(service, client, collection_name,
                                                                 tmp_path):
    count = 30_000
    path = tmp_path / "big.jsonl"
    described = {"name": collection_name, "metadata": None,
                 "configuration": {"hnsw": {"space": "l2"}}, "dimension": 4}
    with transfer_files.open_writer(path, described, count) as writer:
        writer.write(Records([f"k{i}" for i in range(count)],
                             np.arange(count * 4, dtype=np.float32).reshape(count, 4),
                             [f"d{i}" for i in range(count)], None))
    command = [sys.executable, "-m", "segmentdb.cli", "import", "--target", service.address,
               str(path), "--chunk-size", "50", "--json"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    committed = 0
    while committed < 2_000 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        try:
            committed = client.get_collection(collection_name).count()
        except Exception:  # noqa: BLE001 - not created yet
            committed = 0
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = client.get_collection(collection_name).count()
    assert 2_000 <= before < count, "the import finished before it could be killed"
    again = json.loads(cli("import", "--target", service.address, str(path), "--chunk-size",
                           "50", "--json").stdout)
    # Chunks the killed CLI had in flight may commit after `before` was read (the gateway
    # finishes a chunk it already holds); the resumed stream waits for them
    # (gateway/import_leases.py), so it starts at or after `before` — at most the CLI's
    # in-flight window later — and writes exactly the rest.
    in_flight = (transfer.MAX_IN_FLIGHT + 1) * 50
    assert before <= again["resumed_from"] <= before + in_flight  # nothing committed lost
    assert again["records"] == count and again["inserted"] == count - again["resumed_from"]
    imported = client.get_collection(collection_name)
    got = imported.get(include=["documents"])
    assert got["ids"] == [f"k{i}" for i in range(count)]
    assert got["documents"] == [f"d{i}" for i in range(count)]
    client.delete_collection(collection_name)


def test_cli_errors_are_one_line_with_exit_1(service, tmp_path, make_collection):
    unknown = cli("export", "--target", service.address, "--collection", "nope-nope",
                  "--out", str(tmp_path / "x.parquet"), check=False)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "does not exist" in unknown.stderr and not (tmp_path / "x.parquet").exists()
    bad_suffix = cli("export", "--target", service.address, "--collection", "nope-nope",
                     "--out", str(tmp_path / "x.xlsx"), check=False)
    assert bad_suffix.returncode == 1 and "name the file .parquet, .jsonl or .csv" in bad_suffix.stderr
    no_vectors = tmp_path / "plain.jsonl"
    no_vectors.write_text('{"id": "a", "document": "text only"}\n')
    target = make_collection("-plain").name
    refused = cli("import", "--target", service.address, "--collection", target, str(no_vectors),
                  check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "plain.jsonl line 1: embedding is missing" in refused.stderr
    assert "import does not embed" in refused.stderr


@pytest.mark.parametrize("suffix", transfer_files.FORMATS)
def test_an_empty_collection_round_trips_with_its_configuration(service, client, make_collection,
                                                                tmp_path, suffix):
    empty = make_collection(configuration={"hnsw": {"space": "ip", "ef_search": 7}},
                            metadata={"kept": True})
    out = tmp_path / f"empty{suffix}"
    cli("export", "--target", service.address, "--collection", empty.name, "--out", str(out))
    copy_name = f"{empty.name}-copy"
    imported = json.loads(cli("import", "--target", service.address, "--collection", copy_name,
                              str(out), "--json").stdout)
    assert (imported["records"], imported["created"]) == (0, True)
    copy = client.get_collection(copy_name)
    assert copy.configuration == empty.configuration and copy.metadata == {"kept": True}
    assert copy.count() == 0
    client.delete_collection(copy_name)


def test_a_file_without_a_header_imports_with_defaults_into_the_named_collection(
        service, client, tmp_path, collection_name):
    plain = tmp_path / "plain.jsonl"
    plain.write_text('{"id": "a", "embedding": [1, 2]}\n{"id": "b", "embedding": [3.5, 4],'
                     ' "document": "bee", "metadata": {"n": 2}}\n')
    unnamed = cli("import", "--target", service.address, str(plain), check=False)
    assert unnamed.returncode == 1 and "pass --collection NAME" in unnamed.stderr
    cli("import", "--target", service.address, "--collection", collection_name, str(plain))
    copy = client.get_collection(collection_name)
    got = copy.get(include=["documents", "metadatas", "embeddings"])
    assert got["ids"] == ["a", "b"] and got["documents"] == [None, "bee"]
    assert got["metadatas"] == [None, {"n": 2}] and got["embeddings"].tolist() == [[1, 2], [3.5, 4]]
    assert copy.configuration["hnsw"]["space"] == "l2"
    client.delete_collection(collection_name)
