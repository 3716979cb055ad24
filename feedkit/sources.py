"""Tables in: DataFrames, Arrow tables and readers, CSV and Parquet files, as bounded batches.

Every source becomes an iterator of :class:`SourceBatch`: an Arrow record batch of at most
``batch_rows`` rows holding only the mapped columns, the 0-based record index of each of its
rows in the source, and the rows that could not be read at all (a ragged CSV line, bytes that
are not UTF-8) as :class:`RowError`. Files are streamed, so memory does not grow with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from feedkit.errors import FeedkitError
from feedkit.mapping import MappingError
from feedkit.schema import Reason

__all__ = ["RowError", "Source", "SourceBatch", "SourceError", "open_source"]

CSV_BLOCK = 1 << 20


class SourceError(FeedkitError):
    """The source cannot be opened or read at all (not a bad row: those are RowErrors)."""


@dataclass(frozen=True)
class RowError:
    """One failure of one source row: where (row, column, field), why (code) and the value."""

    row: int
    column: str
    field: str
    code: str
    message: str
    value: Any = None


@dataclass
class SourceBatch:
    batch: pa.RecordBatch
    rows: np.ndarray  # int64 record index of each row of ``batch``
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Rows of the batch plus the unreadable records that never made it into it."""
        skipped = {e.row for e in self.errors if e.code == Reason.MALFORMED_ROW.value}
        return int(self.batch.num_rows) + len(skipped)


class Source:
    """A readable source; iterate it for :class:`SourceBatch` values."""

    def __init__(
        self,
        name: str,
        batches: Iterator[SourceBatch],
        total_rows: int | None,
        fingerprint: str | None,
    ) -> None:
        self.name = name
        self._batches = batches
        self.total_rows = total_rows
        self.fingerprint = fingerprint

    def __iter__(self) -> Iterator[SourceBatch]:
        return self._batches

    def __repr__(self) -> str:
        return f"Source({self.name!r}, total_rows={self.total_rows})"


def _missing(columns: Sequence[str], available: Sequence[str]) -> None:
    missing = [c for c in columns if c not in available]
    if missing:
        raise MappingError(
            f"mapped column(s) {missing} not in the source; it has {list(available)}",
            columns=missing,
        )


def _file_fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def open_source(source: Any, columns: Sequence[str], *, batch_rows: int = 10_000) -> Source:
    """Open ``source`` for reading ``columns`` in batches of at most ``batch_rows`` rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise SourceError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix in (".csv", ".tsv", ".txt"):
            tab = suffix == ".tsv"
            names = _csv_header(path, tab)
            if names is not None:
                _missing(columns, names)
            return Source(
                str(path),
                _csv(path, names, columns, batch_rows, tab),
                None,
                _file_fingerprint(path),
            )
        if suffix in (".parquet", ".pq"):
            try:
                pf = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None
            _missing(columns, pf.schema_arrow.names)
            return Source(
                str(path),
                _parquet(pf, columns, batch_rows),
                pf.metadata.num_rows,
                _file_fingerprint(path),
            )
        raise SourceError(f"{path}: read .csv, .tsv or .parquet files (or pass a DataFrame)")
    if isinstance(source, pa.RecordBatchReader):
        _missing(columns, source.schema.names)
        return Source("RecordBatchReader", _reader(source, columns, batch_rows), None, None)
    if isinstance(source, pa.Table):
        _missing(columns, source.column_names)
        return Source(
            "Table", _table(source.select(list(columns)), batch_rows), source.num_rows, None
        )
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        names = [str(c) for c in source.columns]
        _missing(columns, names)
        return Source("DataFrame", _frame(source, columns, batch_rows), len(source), None)
    raise SourceError(
        f"cannot read a {type(source).__name__}: pass a DataFrame, a pyarrow "
        "Table or RecordBatchReader, or a .csv/.parquet path"
    )


def _slices(batch: pa.RecordBatch, start: int, batch_rows: int) -> Iterator[SourceBatch]:
    for offset in range(0, batch.num_rows, batch_rows):
        part = batch.slice(offset, batch_rows)
        rows = np.arange(start + offset, start + offset + part.num_rows, dtype=np.int64)
        yield SourceBatch(part, rows)


def _table(table: pa.Table, batch_rows: int) -> Iterator[SourceBatch]:
    start = 0
    for batch in table.to_batches(max_chunksize=batch_rows):
        yield from _slices(batch, start, batch_rows)
        start += batch.num_rows


def _reader(
    reader: pa.RecordBatchReader, columns: Sequence[str], batch_rows: int
) -> Iterator[SourceBatch]:
    start = 0
    indices = [reader.schema.get_field_index(c) for c in columns]
    for batch in reader:
        yield from _slices(batch.select(indices), start, batch_rows)
        start += batch.num_rows


def _parquet(pf: pq.ParquetFile, columns: Sequence[str], batch_rows: int) -> Iterator[SourceBatch]:
    start = 0
    # One row group at a time: a single iter_batches over the file keeps the memory of every
    # group it has read until the end (pyarrow 26), so peak memory would grow with the file.
    for group in range(pf.num_row_groups):
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(columns),
                                     row_groups=[group]):  # fmt: skip
            yield from _slices(batch, start, batch_rows)
            start += batch.num_rows


def _frame(df: Any, columns: Sequence[str], batch_rows: int) -> Iterator[SourceBatch]:
    by_name = {str(c): c for c in df.columns}
    for start in range(0, len(df), batch_rows):
        chunk = df.iloc[start : start + batch_rows]
        arrays = [_pandas_column(chunk[by_name[c]]) for c in columns]
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
        yield SourceBatch(batch, np.arange(start, start + len(chunk), dtype=np.int64))


def _pandas_column(series: Any) -> pa.Array:
    """An Arrow array of a pandas column; mixed object columns become strings."""
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        values = [None if _is_missing(v) else str(v) for v in series.tolist()]
        arr = pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA
    except (TypeError, ValueError):
        return False


def _csv_header(path: Path, tab: bool) -> list[str] | None:
    """The column names of a CSV file (None when the file is empty)."""
    try:
        probe = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(
                invalid_row_handler=lambda row: "skip", **_csv_parse(tab)
            ),
            convert_options=pcsv.ConvertOptions(check_utf8=False),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return None
        raise SourceError(f"{path}: cannot read the CSV header: {exc}") from None
    names = list(probe.schema.names)
    probe.close()
    return names


def _csv_parse(tab: bool) -> dict[str, Any]:
    return {"delimiter": "\t" if tab else ",", "newlines_in_values": True}


def _malformed(row: int, text: str, width: int) -> RowError:
    return RowError(
        row,
        "",
        "",
        Reason.MALFORMED_ROW.value,
        f"CSV record has the wrong number of fields ({width} expected)",
        text,
    )


def _csv(
    path: Path, names: list[str] | None, columns: Sequence[str], batch_rows: int, tab: bool
) -> Iterator[SourceBatch]:
    """Stream a CSV file: every column as text, ragged lines and bad bytes as row errors.

    Only an empty cell is missing: "NA" or "null" are text. The reader reports ragged
    records by number, possibly while it reads ahead, so each batch claims the ragged
    records that fall inside its own span of record numbers.
    """
    if names is None:
        return
    ragged: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        number = row.number if row.number is not None and row.number > 1 else None
        ragged.append((number - 2 if number is not None else -1, row.text))
        return "skip"

    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK),
        parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid, **_csv_parse(tab)),
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.binary() for n in names},
            include_columns=list(columns),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )
    next_row = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise SourceError(f"{path}: unreadable CSV after record {next_row}: {exc}") from None
        ragged.sort()
        end = next_row + batch.num_rows
        mine: list[tuple[int, str]] = []
        while ragged and (ragged[0][0] < end):
            row, text = ragged.pop(0)
            mine.append((row if row >= next_row else end, text))
            end += 1
        bad = {r for r, _ in mine}
        rows = np.array([r for r in range(next_row, end) if r not in bad], dtype=np.int64)
        next_row = end
        errors = [_malformed(r, t, len(names)) for r, t in mine]
        text_batch, encoding_errors = _decode(batch, rows)
        for start in range(0, max(text_batch.num_rows, 1), batch_rows):
            part = text_batch.slice(start, batch_rows)
            part_rows = rows[start : start + batch_rows]
            lo, hi = (int(part_rows[0]), int(part_rows[-1])) if len(part_rows) else (0, -1)
            found = [e for e in encoding_errors if lo <= e.row <= hi]
            found += errors if start == 0 else []
            if part.num_rows or found:
                yield SourceBatch(part, part_rows, found)
    if ragged:
        empty = pa.RecordBatch.from_arrays(
            [pa.array([], pa.string())] * len(columns), names=list(columns)
        )
        rows_left = [max(r, next_row + i) for i, (r, _) in enumerate(sorted(ragged))]
        yield SourceBatch(
            empty,
            np.array([], dtype=np.int64),
            [
                _malformed(r, t, len(names))
                for r, (_, t) in zip(rows_left, sorted(ragged), strict=True)
            ],
        )


def _decode(batch: pa.RecordBatch, rows: np.ndarray) -> tuple[pa.RecordBatch, list[RowError]]:
    """Binary CSV columns as UTF-8 strings; rows with other bytes become errors (and null)."""
    arrays = []
    errors: list[RowError] = []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        try:
            arrays.append(pc.cast(col, pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        values = col.to_pylist()
        decoded: list[str | None] = []
        for i, raw in enumerate(values):
            if raw is None:
                decoded.append(None)
                continue
            try:
                decoded.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                decoded.append(None)
                errors.append(
                    RowError(
                        int(rows[i]),
                        name,
                        "",
                        Reason.ENCODING.value,
                        f"bytes that are not UTF-8 at offset {exc.start}",
                        raw.decode("utf-8", errors="replace"),
                    )
                )
        arrays.append(pa.array(decoded, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), errors
