"""The Chroma file readers: the restricted unpickler and the hnswlib file parser.

Real files come from the committed fixtures (written by chromadb 0.5.23 and 1.5.9); damaged
ones are copies of them, cut or altered the way a bad disk or copy would.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from segmentdb.chroma_import import ChromaFormatError, hnsw_files, safe_pickle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chroma"


def _index_folders(version: str) -> list[Path]:
    return sorted(p.parent for p in (FIXTURES / version / "chroma_data").glob("*/index_metadata.pickle"))


# ------------------------------------------------------------------ index_metadata.pickle


@pytest.mark.parametrize("version", ["0.5.23", "1.5.9"])
def test_real_index_metadata_loads(version):
    folders = _index_folders(version)
    assert folders
    for folder in folders:
        metadata = safe_pickle.read(folder / safe_pickle.FILENAME)
        assert metadata.id_to_label
        labels = set(metadata.id_to_label.values())
        assert len(labels) == len(metadata.id_to_label)  # one label per id


def test_the_0_5_pickle_is_a_class_instance_and_the_1_x_one_a_plain_dict():
    globals_in = {}
    for version in ("0.5.23", "1.5.9"):
        raw = (_index_folders(version)[0] / safe_pickle.FILENAME).read_bytes()
        names = [arg for op, arg, _ in pickletools.genops(raw)
                 if op.name in ("SHORT_BINUNICODE", "GLOBAL") and isinstance(arg, str)
                 and arg.startswith("chromadb")]
        globals_in[version] = names
    assert globals_in["0.5.23"] == ["chromadb.segment.impl.vector.local_persistent_hnsw"]
    assert globals_in["1.5.9"] == []


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('MARKER').touch()",))


def _malicious(marker: Path) -> list[bytes]:
    """Pickles that would create `marker` if anything in them ran."""
    by_system = [pickle.dumps(_System(f"touch {marker}"), protocol=p) for p in (0, 2, 4, 5)]
    by_eval = pickle.dumps(_Eval()).replace(b"MARKER", str(marker).encode())
    # The allowed module with a name that is not the allowed class.
    wrong_name = (b"\x80\x04\x8c2chromadb.segment.impl.vector.local_persistent_hnsw\x94"
                  b"\x8c\x02os\x94\x93\x94.")
    # Chroma's real 0.5.x header, then a REDUCE of posix.system.
    disguised = (b"\x80\x05\x8c\x05posix\x94\x8c\x06system\x94\x93\x94"
                 + pickle.dumps(f"touch {marker}", protocol=5)[2:-1] + b"\x85R.")
    return [*by_system, by_eval, wrong_name, disguised]


def test_malicious_pickles_are_refused_and_run_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for i, data in enumerate(_malicious(marker)):
        with pytest.raises(safe_pickle.UnsafePickleError) as info:
            safe_pickle.loads(data, f"evil-{i}.pickle")
        assert f"evil-{i}.pickle: refusing to load" in str(info.value)
        assert "Nothing from it was run" in str(info.value)
        assert not marker.exists(), f"pickle {i} executed code"
    # Proof that the payloads are live: the standard unpickler does run the first one.
    pickle.loads(_malicious(marker)[0])
    assert marker.exists()


def test_a_malicious_pickle_file_is_refused_by_read(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / safe_pickle.FILENAME
    path.write_bytes(_malicious(marker)[2])
    with pytest.raises(safe_pickle.UnsafePickleError, match="posix.system"):
        safe_pickle.read(path)
    assert not marker.exists()


def test_damaged_or_foreign_pickles_are_clear_errors(tmp_path):
    real = (_index_folders("0.5.23")[0] / safe_pickle.FILENAME).read_bytes()
    with pytest.raises(ChromaFormatError, match="not a readable pickle"):
        safe_pickle.loads(real[: len(real) // 2], "cut.pickle")
    path = tmp_path / safe_pickle.FILENAME
    path.write_bytes(pickle.dumps({"id_to_label": {"a": "not an int"}}))
    with pytest.raises(ChromaFormatError, match="id_to_label is not a map"):
        safe_pickle.read(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ChromaFormatError, match="expected Chroma's index metadata"):
        safe_pickle.read(path)


# ------------------------------------------------------------------ hnswlib files


@pytest.mark.parametrize("version", ["0.5.23", "1.5.9"])
def test_real_index_files_parse_and_match_their_pickle(version):
    for folder in _index_folders(version):
        header = hnsw_files.read_header(folder)
        assert header.dimension == 16
        index = hnsw_files.read(folder, cosine=False)
        assert index.vectors.shape == (header.count, 16)
        assert np.isfinite(index.vectors).all()
        metadata = safe_pickle.read(folder / safe_pickle.FILENAME)
        assert set(metadata.id_to_label.values()) <= set(int(x) for x in index.labels)


def _copy(tmp_path: Path) -> Path:
    source = _index_folders("1.5.9")[0]
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    return folder


def test_a_truncated_data_file_names_the_file(tmp_path):
    folder = _copy(tmp_path)
    data = folder / hnsw_files.DATA_FILE
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(ChromaFormatError, match=r"data_level0.bin: 1000 bytes.*truncated"):
        hnsw_files.read(folder, cosine=False)


def test_a_missing_length_file_matters_only_for_cosine(tmp_path):
    folder = _copy(tmp_path)
    (folder / hnsw_files.LENGTH_FILE).unlink()
    hnsw_files.read(folder, cosine=False)
    with pytest.raises(ChromaFormatError, match="length.bin: missing"):
        hnsw_files.read(folder, cosine=True)


@pytest.mark.parametrize("offset, value, message", [
    (0, struct.pack("<i", 2), "persistence version 2"),
    (4 + 8 * 2, struct.pack("<Q", 10**6), "exceed the capacity"),          # cur_element_count
    (4 + 8 * 3, struct.pack("<Q", 12345), "size_data_per_element"),       # size per element
    (4 + 8 * 6 + 8 + 8, struct.pack("<Q", 7), "maxM0"),                    # maxM0
])
def test_an_insane_header_is_refused(tmp_path, offset, value, message):
    folder = _copy(tmp_path)
    header = bytearray((folder / hnsw_files.HEADER_FILE).read_bytes())
    header[offset:offset + len(value)] = value
    (folder / hnsw_files.HEADER_FILE).write_bytes(bytes(header))
    with pytest.raises(ChromaFormatError, match=message):
        hnsw_files.read(folder, cosine=False)


def test_a_header_of_the_wrong_size_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / hnsw_files.HEADER_FILE).write_bytes(b"\x01\x00\x00\x00" + b"\x00" * 40)
    with pytest.raises(ChromaFormatError, match="44 bytes, expected 100"):
        hnsw_files.read_header(folder)


def test_cosine_vectors_are_rescaled_by_their_stored_length(tmp_path):
    """The fork stores normalized vectors and their lengths; get() returns the product."""
    folder = _copy(tmp_path)
    plain = hnsw_files.read(folder, cosine=False).vectors
    lengths = np.fromfile(folder / hnsw_files.LENGTH_FILE, "<f4")[: len(plain)]
    scaled = hnsw_files.read(folder, cosine=True).vectors
    assert np.array_equal(scaled, plain * lengths[:, None])


def test_a_missing_header_names_the_file(tmp_path):
    folder = _copy(tmp_path)
    (folder / hnsw_files.HEADER_FILE).unlink()
    with pytest.raises(ChromaFormatError, match=r"header.bin: missing"):
        hnsw_files.read(folder, cosine=False)
