"""Export files: `.parquet`, `.jsonl` and `.csv`, written and read in batches of Records.

Every format holds the same four columns and a header describing the collection:

- `id` (string), `document` (string or null), `metadata` (a JSON object or null),
  `embedding` (the float32 vector).
- The header: `{"segmentdb_export": 1, "collection": {"name", "metadata", "configuration",
  "dimension"}, "record_count": N}`. Parquet keeps it in the file's key-value metadata
  (key `segmentdb_export`), JSONL as its first line, CSV in a sidecar file
  `FILE.collection.json` (a CSV has nowhere else to put it that pandas.read_csv would not
  trip over). A file without a header imports with the default configuration.

Exactness (tests/property/test_transfer_codecs.py):
- Metadata is JSON as Python's json module writes it: an int is written without a decimal
  point, a float always with one (or an exponent) in its shortest round-tripping form,
  bools as true/false, so int, float, bool, str and lists of them read back as the same
  Python type and value. (Readers in JavaScript see ints beyond 2^53 inexactly.)
- Vectors: Parquet stores float32 as is. JSONL and CSV write each float32 as the shortest
  decimal that reads back to the same float64, whose float32 is then the same bits
  (-0.0, subnormals and 1e-38 included).
- Documents keep null apart from "": JSONL has null; Parquet has nulls; the CSV quotes every
  value and leaves a null empty and unquoted (read back with pyarrow, which tells the two
  apart; pandas.read_csv reads both as NaN).

Output is written to temporary files that replace FILE only when the writer commits, so a
failed or interrupted export never leaves a truncated FILE behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from segmentdb.errors import InvalidArgumentError
from segmentdb.transfer import Records

HEADER_KEY = "segmentdb_export"
FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".collection.json"
FORMATS = (".parquet", ".jsonl", ".csv")
COLUMNS = ("id", "document", "metadata", "embedding")
DEFAULT_BATCH_SIZE = 1000


def format_of(path: str | os.PathLike) -> str:
    """The file's format from its extension: '.parquet', '.jsonl' or '.csv'."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidArgumentError(
            f"{path}: unknown file type {suffix or '(none)'!r}; name the file .parquet, .jsonl "
            "or .csv")
    return suffix


def header(collection: Optional[dict], record_count: Optional[int]) -> dict:
    return {HEADER_KEY: FORMAT_VERSION, "collection": collection, "record_count": record_count}


def parse_header(value: Any, where: str) -> tuple[Optional[dict], Optional[int]]:
    """(collection description, record count) of a header object."""
    if not isinstance(value, dict) or value.get(HEADER_KEY) is None:
        raise InvalidArgumentError(f"{where}: not a segmentdb export header")
    if value[HEADER_KEY] != FORMAT_VERSION:
        raise InvalidArgumentError(
            f"{where}: export format version {value[HEADER_KEY]!r}; this segmentdb reads version "
            f"{FORMAT_VERSION}: use a newer segmentdb")
    collection = value.get("collection")
    if collection is not None and not isinstance(collection, dict):
        raise InvalidArgumentError(f"{where}: 'collection' must be an object")
    return collection, value.get("record_count")


# ------------------------------------------------------------------ values

def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def metadata_text(metadata: Optional[dict]) -> Optional[str]:
    return to_json(metadata) if metadata else None


def vector_lists(embeddings: np.ndarray) -> list[list[float]]:
    """float32 rows as lists of Python floats (exact: every float32 is a float64)."""
    return np.asarray(embeddings, dtype=np.float32).astype(np.float64).tolist()


def parse_metadata(value: Any, where: str) -> Optional[dict]:
    if isinstance(value, str):
        value = _loads(value, f"{where}: metadata")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"{where}: metadata must be a JSON object (or null), got {type(value).__name__}")
    return value or None


def parse_vector(value: Any, where: str) -> list:
    if isinstance(value, str):
        value = _loads(value, f"{where}: embedding")
    if not isinstance(value, list) or not value:
        raise InvalidArgumentError(
            f"{where}: embedding is missing or not a list of numbers; every record needs its "
            "embedding (import does not embed documents: add them with collection.add(documents=...), "
            "which the server embeds)")
    return value


def stack(rows: list[list], names: list[str]) -> np.ndarray:
    """Rows of numbers as an (n, d) float32 array; names[i] says where row i is in the file.
    Ragged, non-numeric or non-finite rows are an error naming the row."""
    lengths = [len(row) for row in rows]
    for name, length in zip(names, lengths):
        if length != lengths[0]:
            raise InvalidArgumentError(
                f"{name}: embedding has {length} values where the records before it have "
                f"{lengths[0]}; every record of a collection has the same dimension")
    try:
        array = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"{names[0]}...{names[-1]}: embedding values must be numbers ({exc})") from None
    return finite(array.astype(np.float32).reshape(len(rows), -1), names)


def finite(array: np.ndarray, names: list[str]) -> np.ndarray:
    """`array`, after checking that every value is finite (the error names the row)."""
    if not np.isfinite(array).all():
        row = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidArgumentError(
            f"{names[row]}: the embedding has NaN or infinity; every value must be finite")
    return array


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"{where} is not valid JSON ({exc})") from None


def check_record(record_id: Any, document: Any, where: str) -> None:
    if not isinstance(record_id, str) or not record_id:
        raise InvalidArgumentError(f"{where}: id is missing or empty; every record needs an id")
    if document is not None and not isinstance(document, str):
        raise InvalidArgumentError(
            f"{where}: document must be a string or null, got {type(document).__name__}")


# ------------------------------------------------------------------ atomic output

class Output:
    """Temporary files that become their final names on commit (and vanish on abort)."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []

    def temp_for(self, final: str | os.PathLike) -> Path:
        final = Path(final)
        temp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        self._files.append((temp, final))
        return temp

    def commit(self) -> None:
        for temp, final in self._files:
            os.replace(temp, final)
        self._files.clear()

    def abort(self) -> None:
        for temp, _final in self._files:
            temp.unlink(missing_ok=True)
        self._files.clear()


class Writer:
    """Base of the three writers: `with open_writer(...) as w: w.write(records)`; the file
    appears when the block ends without an exception."""

    def __init__(self, path: str | os.PathLike, collection: Optional[dict],
                 record_count: Optional[int]):
        self.path = Path(path)
        self.header = header(collection, record_count)
        self.dimension = (collection or {}).get("dimension")
        self.output = Output()

    def write(self, records: Records) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Flush and close the temporary files (before commit)."""

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.finish()
        except BaseException:
            self.output.abort()
            raise
        if exc_type is None:
            self.output.commit()
        else:
            self.output.abort()


# ------------------------------------------------------------------ JSONL

class JsonlWriter(Writer):
    """The header line, then one object per record: id, document, metadata, embedding."""

    def __init__(self, path, collection, record_count):
        super().__init__(path, collection, record_count)
        self._file = open(self.output.temp_for(self.path), "w", encoding="utf-8", newline="\n")
        self._file.write(to_json(self.header) + "\n")

    def write(self, records: Records) -> None:
        documents = records.documents or [None] * len(records)
        metadatas = records.metadatas or [None] * len(records)
        lines = [
            to_json({"id": i, "document": d, "metadata": m or None, "embedding": e}) + "\n"
            for i, d, m, e in zip(records.ids, documents, metadatas,
                                  vector_lists(records.embeddings))
        ]
        self._file.writelines(lines)

    def finish(self) -> None:
        self._file.close()


class JsonlReader:
    def __init__(self, path, batch_size: int):
        self.path = Path(path)
        self.batch_size = batch_size
        self.collection: Optional[dict] = None
        self.record_count: Optional[int] = None
        with open(self.path, "rb") as fh:
            first = fh.readline()
        try:
            value = json.loads(first) if first.strip() else None
        except ValueError:
            value = None  # reported with its line number when the records are read
        self._skip_first = isinstance(value, dict) and HEADER_KEY in value
        if self._skip_first:
            self.collection, self.record_count = parse_header(value, f"{self.path} line 1")

    def __iter__(self) -> Iterator[Records]:
        ids, documents, metadatas, rows, names = [], [], [], [], []
        with open(self.path, "rb") as fh:
            for number, line in enumerate(fh, 1):
                if (number == 1 and self._skip_first) or not line.strip():
                    continue
                where = f"{self.path} line {number}"
                record = _loads(line, where)  # bytes: bad UTF-8 is a ValueError too
                if not isinstance(record, dict):
                    raise InvalidArgumentError(f"{where}: expected a JSON object per line")
                check_record(record.get("id"), record.get("document"), where)
                ids.append(record["id"])
                documents.append(record.get("document"))
                metadatas.append(parse_metadata(record.get("metadata"), where))
                rows.append(parse_vector(record.get("embedding"), where))
                names.append(where)
                if len(ids) == self.batch_size:
                    yield Records(ids, stack(rows, names), documents, metadatas)
                    ids, documents, metadatas, rows, names = [], [], [], [], []
        if ids:
            yield Records(ids, stack(rows, names), documents, metadatas)


# ------------------------------------------------------------------ dispatch

def open_writer(path: str | os.PathLike, collection: Optional[dict] = None,
                record_count: Optional[int] = None) -> Writer:
    """A writer for `path` by extension. `collection` is `segmentdb.transfer.describe(...)`
    (or an Export's `collection`)."""
    from segmentdb import transfer_arrow

    kind = format_of(path)
    writer = {".jsonl": JsonlWriter, ".csv": transfer_arrow.CsvWriter,
              ".parquet": transfer_arrow.ParquetWriter}[kind]
    return writer(path, collection, record_count)


def open_reader(path: str | os.PathLike, batch_size: int = DEFAULT_BATCH_SIZE):
    """A reader by extension: `.collection` and `.record_count` from the header (None without
    one), and iteration over Records batches."""
    from segmentdb import transfer_arrow

    kind = format_of(path)
    if not Path(path).is_file():
        raise InvalidArgumentError(f"{path}: no such file")
    reader = {".jsonl": JsonlReader, ".csv": transfer_arrow.CsvReader,
              ".parquet": transfer_arrow.ParquetReader}[kind]
    return reader(path, batch_size)
