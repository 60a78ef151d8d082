"""The Parquet and CSV export files, through pyarrow (format rules: segmentdb.transfer_files).

Parquet: columns id (string), document (string, nullable), metadata (JSON text, nullable)
and embedding (fixed_size_list<float32>[dimension]); the header in the schema's key-value
metadata. pandas.read_parquet reads it as it is. On import the embedding may also be a
list<float> / float64 column (a hand-made file), and metadata a struct column (what
pandas makes of a column of dicts; null fields are left out).

CSV: the same four columns, every value quoted and nulls left empty, metadata and embedding
as JSON text; the header in FILE.collection.json. Readable with
`pandas.read_csv(FILE, dtype={"id": str}, keep_default_na=False, na_values=[""])` and
`json.loads` on the metadata and embedding columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from segmentdb.errors import InvalidArgumentError
from segmentdb.transfer import Records
from segmentdb.transfer_files import (
    COLUMNS, HEADER_KEY, SIDECAR_SUFFIX, Writer, check_record, finite, metadata_text,
    parse_header, parse_metadata, parse_vector, stack, to_json, vector_lists,
)

# Rows per Parquet row group: pages arrive by the thousand, groups this size read faster.
ROW_GROUP_ROWS = 10_000
CSV_BLOCK_BYTES = 4 << 20


def _columns(records: Records) -> tuple[list, list]:
    count = len(records)
    documents = records.documents if records.documents is not None else [None] * count
    metadatas = records.metadatas if records.metadatas is not None else [None] * count
    return documents, [metadata_text(m) for m in metadatas]


# ------------------------------------------------------------------ Parquet

class ParquetWriter(Writer):
    def __init__(self, path, collection, record_count):
        super().__init__(path, collection, record_count)
        self._temp = self.output.temp_for(self.path)
        self._writer: Optional[pq.ParquetWriter] = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def _schema(self, dimension: Optional[int]) -> pa.Schema:
        vector = (pa.list_(pa.float32(), dimension) if dimension else pa.list_(pa.float32()))
        schema = pa.schema([pa.field("id", pa.string(), nullable=False),
                            pa.field("document", pa.string()),
                            pa.field("metadata", pa.string()),
                            pa.field("embedding", vector, nullable=False)])
        return schema.with_metadata({HEADER_KEY: to_json(self.header)})

    def write(self, records: Records) -> None:
        if not len(records):
            return
        embeddings = np.ascontiguousarray(records.embeddings, dtype=np.float32)
        dimension = self.dimension or embeddings.shape[1]
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._temp, self._schema(dimension))
        documents, metadatas = _columns(records)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.ravel()), dimension)
        self._pending.append(pa.record_batch(
            [pa.array(records.ids, pa.string()), pa.array(documents, pa.string()),
             pa.array(metadatas, pa.string()), vectors], schema=self._writer.schema))
        self._pending_rows += len(records)
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_batches(self._pending))
            self._pending, self._pending_rows = [], 0

    def finish(self) -> None:
        if self._writer is None:  # no records: still a file with the schema and header
            self._writer = pq.ParquetWriter(self._temp, self._schema(self.dimension))
        self._flush()
        self._writer.close()


class ParquetReader:
    def __init__(self, path, batch_size: int):
        self.path = Path(path)
        self.batch_size = batch_size
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidArgumentError(f"{self.path}: not a readable Parquet file ({exc})") from None
        schema = self._file.schema_arrow
        names = set(schema.names)
        for required in ("id", "embedding"):
            if required not in names:
                raise InvalidArgumentError(
                    f"{self.path}: no {required!r} column; an import needs id and embedding "
                    "(and may have document and metadata)")
        self._columns = [c for c in COLUMNS if c in names]
        self.collection, self.record_count = None, self._file.metadata.num_rows
        raw = (schema.metadata or {}).get(HEADER_KEY.encode())
        if raw is not None:
            self.collection, _ = parse_header(json.loads(raw), f"{self.path} header")

    def __iter__(self) -> Iterator[Records]:
        position = 0
        for batch in self._file.iter_batches(batch_size=self.batch_size, columns=self._columns):
            names = [f"{self.path} row {position + i + 1}" for i in range(batch.num_rows)]
            yield _records(batch, names, _parquet_vectors(batch.column("embedding"), names))
            position += batch.num_rows


def _parquet_vectors(column: pa.Array, names: list[str]) -> np.ndarray:
    if column.null_count:
        row = column.is_null().to_pylist().index(True)
        parse_vector(None, names[row])  # raises, naming the row
    kind = column.type
    if pa.types.is_fixed_size_list(kind) and pa.types.is_floating(kind.value_type):
        flat = column.flatten().to_numpy(zero_copy_only=False)
        array = flat.astype(np.float32, copy=False).reshape(len(column), kind.list_size)
        return finite(array, names)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return stack(column.to_pylist(), names)
    raise InvalidArgumentError(
        f"{names[0]}: the embedding column is {kind}; use a list of float32 (or float64)")


# ------------------------------------------------------------------ CSV

class CsvWriter(Writer):
    _SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])

    def __init__(self, path, collection, record_count):
        super().__init__(path, collection, record_count)
        sidecar = Path(f"{self.path}{SIDECAR_SUFFIX}")
        self.output.temp_for(sidecar).write_text(to_json(self.header) + "\n", encoding="utf-8")
        self._writer = pa_csv.CSVWriter(
            str(self.output.temp_for(self.path)), self._SCHEMA,
            write_options=pa_csv.WriteOptions(quoting_style="all_valid"))

    def write(self, records: Records) -> None:
        if not len(records):
            return
        documents, metadatas = _columns(records)
        vectors = [to_json(row) for row in vector_lists(records.embeddings)]
        self._writer.write_batch(pa.record_batch(
            [pa.array(records.ids, pa.string()), pa.array(documents, pa.string()),
             pa.array(metadatas, pa.string()), pa.array(vectors, pa.string())],
            schema=self._SCHEMA))

    def finish(self) -> None:
        self._writer.close()


class CsvReader:
    def __init__(self, path, batch_size: int):
        self.path = Path(path)
        self.batch_size = batch_size
        self.collection, self.record_count = None, None
        sidecar = Path(f"{self.path}{SIDECAR_SUFFIX}")
        if sidecar.is_file():
            try:
                value = json.loads(sidecar.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise InvalidArgumentError(f"{sidecar}: not valid JSON ({exc})") from None
            self.collection, self.record_count = parse_header(value, str(sidecar))

    def __iter__(self) -> Iterator[Records]:
        reader = self._open()
        present = reader.schema.names
        for required in ("id", "embedding"):
            if required not in present:
                raise InvalidArgumentError(
                    f"{self.path}: no {required!r} column in the first line; an import needs "
                    f"the columns id and embedding (and may have document and metadata)")
        position = 0
        for batch in _batches(reader, self.path):
            for begin in range(0, batch.num_rows, self.batch_size):
                piece = batch.slice(begin, self.batch_size)
                # Line numbers only where no value spans lines; rows are exact.
                names = [f"{self.path} record {position + i + 1}" for i in range(piece.num_rows)]
                rows = [parse_vector(text, name) for text, name
                        in zip(piece.column("embedding").to_pylist(), names)]
                yield _records(piece, names, stack(rows, names))
                position += piece.num_rows

    def _open(self) -> pa_csv.CSVStreamingReader:
        try:
            return pa_csv.open_csv(
                self.path,
                read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                # Documents may hold newlines (quoted): parse values across lines.
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in COLUMNS},
                    # Only an empty unquoted value is null; "" stays an empty string and
                    # "NA"/"null" stay text.
                    strings_can_be_null=True, quoted_strings_can_be_null=False,
                    null_values=[""]))
        except pa.ArrowException as exc:
            raise InvalidArgumentError(f"{self.path}: not a readable CSV file ({exc})") from None


def _batches(reader: pa_csv.CSVStreamingReader, path: Path) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowException as exc:
            raise InvalidArgumentError(f"{path}: not a readable CSV file ({exc})") from None
        yield batch


# ------------------------------------------------------------------ shared

def _records(batch: pa.RecordBatch, names: list[str], embeddings: np.ndarray) -> Records:
    columns = batch.schema.names
    ids = batch.column("id").to_pylist()
    documents = batch.column("document").to_pylist() if "document" in columns else None
    for i, name in enumerate(names):
        check_record(ids[i], documents[i] if documents is not None else None, name)
    metadatas = None
    if "metadata" in columns:
        column = batch.column("metadata")
        values = column.to_pylist()
        if pa.types.is_struct(column.type):
            values = [{k: v for k, v in m.items() if v is not None} if m else None for m in values]
        metadatas = [parse_metadata(value, name) for value, name in zip(values, names)]
    return Records(ids, embeddings, documents, metadatas)
