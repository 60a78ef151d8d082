"""Chroma's hnswlib segment files, parsed with numpy (no hnswlib call, nothing executed).

Chroma persists a vector segment with its fork of hnswlib (chroma-hnswlib in 0.5.x, the same
C++ code linked into the Rust server in 1.x) in four files under `<chroma>/<segment id>/`
(`PERSISTENCE_VERSION` 1 of that fork, little-endian on the x86-64/arm64 machines Chroma
ships for). Only `header.bin`, `data_level0.bin` and `length.bin` hold what we need:

header.bin, 100 bytes:
    int32   persistence version (1)
    uint64  offsetLevel0 (0), max_elements (capacity), cur_element_count,
            size_data_per_element, label_offset, offsetData
    int32   maxlevel            uint32 enterpoint_node
    uint64  maxM, maxM0, M      float64 mult      uint64 ef_construction

data_level0.bin, size_data_per_element bytes per element (0.5.x writes `max_elements`
elements, 1.x `cur_element_count`; only the first `cur_element_count` are in use):
    [0, offsetData)              level-0 links: uint16 count, uint8 flags (bit 0 = deleted),
                                 uint8 unused, maxM0 x uint32 neighbours
    [offsetData, label_offset)   the vector: dim x float32
    [label_offset, +8)           uint64 label (Chroma's index_metadata.pickle maps it to an id)

length.bin: one float32 per element, the vector's length before normalization. In a cosine
index the fork stores the *normalized* vector and its length, and `get` returns
vector x length (one float32 multiply), which is what `vectors()` returns too.

link_lists.bin holds the upper graph levels, which segmentdb rebuilds, so it is not read.

Why parse rather than `hnswlib.load_index`: stock hnswlib reads only the single-file format
(and would have to be handed the split files re-assembled), it needs the space and dimension
up front, allocates the whole capacity, and reports damage as a bare RuntimeError or a crash.
Reading three flat arrays with numpy checks every size first and names the broken file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segmentdb.chroma_import import ChromaFormatError

HEADER_FILE = "header.bin"
DATA_FILE = "data_level0.bin"
LENGTH_FILE = "length.bin"
PERSISTENCE_VERSION = 1
_HEADER = struct.Struct("<i6QiI3QdQ")  # 100 bytes, see the module docstring
_LINK_HEADER_BYTES = 4                  # uint16 count + uint8 flags + uint8 unused
_DELETED_FLAG = 0x01
_MAX_DIMENSION = 65536


@dataclass(frozen=True)
class Header:
    max_elements: int
    count: int
    size_per_element: int
    label_offset: int
    data_offset: int
    max_m0: int
    m: int
    ef_construction: int

    @property
    def dimension(self) -> int:
        return (self.label_offset - self.data_offset) // 4


@dataclass(frozen=True)
class IndexFiles:
    """The elements of one persisted index: labels[i], vectors[i], deleted[i]."""

    header: Header
    labels: np.ndarray    # (count,) uint64
    vectors: np.ndarray   # (count, dim) float32, as Chroma's `get` returns them
    deleted: np.ndarray   # (count,) bool: marked deleted in the graph


def read_header(folder: Path) -> Header:
    path = folder / HEADER_FILE
    if not path.is_file():
        raise ChromaFormatError(f"{path}: missing; the index folder is incomplete")
    raw = path.read_bytes()
    if len(raw) != _HEADER.size:
        raise ChromaFormatError(
            f"{path}: {len(raw)} bytes, expected {_HEADER.size} (chroma-hnswlib persistence "
            "version 1); the file is truncated or not a Chroma index header"
        )
    (version, offset_level0, max_elements, count, size_per_element, label_offset, data_offset,
     _max_level, _enter_point, _max_m, max_m0, m, _mult, ef_construction) = _HEADER.unpack(raw)
    if version != PERSISTENCE_VERSION:
        raise ChromaFormatError(
            f"{path}: persistence version {version}, this importer reads version "
            f"{PERSISTENCE_VERSION} (chromadb 0.5.x-1.x); open the folder with that chromadb"
        )
    header = Header(max_elements, count, size_per_element, label_offset, data_offset, max_m0,
                    m, ef_construction)
    problems = []
    if offset_level0 != 0:
        problems.append(f"offsetLevel0 is {offset_level0}, expected 0")
    if count > max_elements:
        problems.append(f"{count} elements exceed the capacity {max_elements}")
    if data_offset != _LINK_HEADER_BYTES + 4 * max_m0:
        problems.append(f"offsetData {data_offset} != 4 + 4 x maxM0 ({max_m0})")
    if not 0 < label_offset - data_offset <= 4 * _MAX_DIMENSION or (label_offset - data_offset) % 4:
        problems.append(f"the vector area [{data_offset}, {label_offset}) is not a float32 vector")
    if size_per_element != label_offset + 8:
        problems.append(f"size_data_per_element {size_per_element} != label offset + 8")
    if m < 1 or max_m0 != 2 * m:
        problems.append(f"M = {m} and maxM0 = {max_m0} (hnswlib keeps maxM0 = 2M)")
    if problems:
        raise ChromaFormatError(f"{path}: not a sane hnswlib header: {'; '.join(problems)}")
    return header


def read(folder: Path, *, cosine: bool) -> IndexFiles:
    """Every element of the index in `folder`; vectors re-scaled by their length if `cosine`."""
    header = read_header(folder)
    n, size = header.count, header.size_per_element
    data = _array(folder / DATA_FILE, n * size, np.uint8).reshape(n, size)
    links = data[:, :_LINK_HEADER_BYTES]
    deleted = (links[:, 2] & _DELETED_FLAG).astype(bool)
    vectors = np.ascontiguousarray(data[:, header.data_offset:header.label_offset]).view("<f4")
    labels = np.ascontiguousarray(data[:, header.label_offset:size]).view("<u8").reshape(n)
    if cosine:
        lengths = _array(folder / LENGTH_FILE, 4 * n, "<f4")
        vectors = vectors * lengths[:, None]  # float32 x float32, as the fork's getDataByLabel
    return IndexFiles(header, labels, vectors.astype(np.float32, copy=False), deleted)


def _array(path: Path, need_bytes: int, dtype) -> np.ndarray:
    """The first `need_bytes` of `path` as an array; a shorter file is damage."""
    if not path.is_file():
        raise ChromaFormatError(f"{path}: missing; the index folder is incomplete")
    have = path.stat().st_size
    if have < need_bytes:
        raise ChromaFormatError(
            f"{path}: {have} bytes, the header promises at least {need_bytes}; the file is "
            "truncated"
        )
    count = need_bytes // np.dtype(dtype).itemsize
    return np.fromfile(path, dtype=dtype, count=count)
