"""Tables in: DataFrames, Arrow tables, readers and streams, and files, as bounded batches.

Every source becomes an iterator of :class:`SourceBatch`: an Arrow record batch of at most
``batch_rows`` rows holding only the mapped columns, the 0-based record index of each of its
rows in the source, and the rows that could not be read at all (a ragged CSV line, bytes that
are not UTF-8, a JSON line that is not an object) as :class:`RowError`. Files are streamed, so
memory does not grow with them.

In memory: a pandas DataFrame, a pyarrow Table or RecordBatchReader, and any object that
exports an Arrow stream (``__arrow_c_stream__``: a polars DataFrame, a DuckDB relation), read
through Arrow's C stream interface without a copy into pandas. Files
(:mod:`feedkit.filesources`): a CSV, TSV, JSON lines or Parquet file, a directory or glob of
them, locally or at an ``s3://``, ``gs://`` or ``http(s)://`` URL. A text file is recognised
by its first bytes, not its name: gzip, bzip2, zstd and xz compressed ones are read through
their codec (``posts.csv.gz``, or a ``.csv`` that is really gzip); a zip archive or a Parquet
file named ``.csv`` is refused by name. A mapped column whose name appears twice is refused.

A source of several files numbers its records on across them (in path order), and each of its
errors names the file and the record within it as well::

    RowError(row=12, ..., message="logs/b.csv, row 2: CSV record has ...", file="logs/b.csv",
             file_row=2)
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from feedkit.errors import FeedkitError, UsageError
from feedkit.mapping import MappingError
from feedkit.schema import Reason

__all__ = ["RowError", "Source", "SourceBatch", "SourceError", "located", "open_source"]


class SourceError(FeedkitError):
    """The source cannot be opened or read at all (not a bad row: those are RowErrors)."""


class SourceNotFoundError(SourceError, UsageError):
    """The source is a path or URL where there is no file."""


@dataclass(frozen=True)
class RowError:
    """One failure of one source row: where (row, column, field), why (code) and the value.

    In a source of several files, ``file`` names the row's file and ``file_row`` its 0-based
    record index within it (the message starts with both); otherwise they are None."""

    row: int
    column: str
    field: str
    code: str
    message: str
    value: Any = None
    file: str | None = None
    file_row: int | None = None


@dataclass
class SourceBatch:
    batch: pa.RecordBatch
    rows: np.ndarray  # int64 record index of each row of ``batch``
    errors: list[RowError] = field(default_factory=list)
    file: str | None = None  # the file of every row, in a source of several files
    file_start: int = 0  # the record index of that file's first record

    @property
    def rows_read(self) -> int:
        """Rows of the batch plus the unreadable records that never made it into it."""
        skipped = {e.row for e in self.errors if e.code == Reason.MALFORMED_ROW.value}
        return int(self.batch.num_rows) + len(skipped)

    def locate(self, errors: list[RowError]) -> list[RowError]:
        """``errors`` of this batch's rows, naming its file (where it has one)."""
        return located(errors, self.file, self.file_start) if self.file is not None else errors


def located(errors: list[RowError], file: str | None, start: int) -> list[RowError]:
    """Errors that name ``file`` and their row within it (whose first record is ``start``);
    those that already name a file are left as they are."""
    if file is None:
        return errors
    return [
        e
        if e.file is not None
        else replace(e, file=file, file_row=e.row - start,
                     message=f"{file}, row {e.row - start}: {e.message}")
        for e in errors
    ]  # fmt: skip


class Source:
    """A readable source; iterate it for :class:`SourceBatch` values."""

    def __init__(
        self,
        name: str,
        batches: Iterator[SourceBatch],
        total_rows: int | None,
        fingerprint: str | None,
        size: int | None = None,
        position: Callable[[], int] | None = None,
        text: bool = False,
    ) -> None:
        self.name = name
        self.text = text  # every column is text (CSV): the converter infers numbers and times
        self._batches = batches
        self.total_rows = total_rows
        self.fingerprint = fingerprint
        self.size = size  # bytes of the file, where the row count is not known beforehand
        self._position = position
        # (first record, file) of each file begun so far, in a source of several files
        self.file_starts: list[tuple[int, str]] = []

    def locate(self, errors: list[RowError]) -> list[RowError]:
        """``errors`` naming the file of their row, in a source of several files (for errors
        made after the read, such as duplicates: their rows are in files already begun)."""
        if not self.file_starts or all(e.file is not None for e in errors):
            return errors
        out = []
        for e in errors:
            at = bisect.bisect_right(self.file_starts, e.row, key=lambda x: x[0]) - 1
            start, file = self.file_starts[max(at, 0)]
            out += located([e], file, start) if at >= 0 else [e]
        return out

    def position(self) -> int:
        """Bytes of the file read so far (0 where ``size`` is None): progress in bytes."""
        return self._position() if self._position is not None else 0

    def __iter__(self) -> Iterator[SourceBatch]:
        return self._batches

    def __repr__(self) -> str:
        return f"Source({self.name!r}, total_rows={self.total_rows})"


def missing_columns(columns: Sequence[str], available: Sequence[str], where: str = "") -> None:
    """Every mapped column is in the source: else a MappingError naming the missing ones."""
    missing = [c for c in columns if c not in available]
    if missing:
        place = f"{where}: " if where else ""
        raise MappingError(
            f"{place}mapped column(s) {missing} not in the source; it has {list(available)}",
            columns=missing,
        )


def unique_columns(columns: Sequence[str], available: Sequence[str], where: str) -> None:
    """A mapped column must name one column: two of the same name are ambiguous."""
    twice = sorted({c for c in columns if list(available).count(c) > 1})
    if twice:
        raise SourceError(
            f"{where} has more than one column named {', '.join(map(repr, twice))}: a mapping "
            "cannot tell them apart; rename them"
        )


def open_source(source: Any, columns: Sequence[str], *, batch_rows: int = 10_000) -> Source:
    """Open ``source`` for reading ``columns`` in batches of at most ``batch_rows`` rows."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if isinstance(source, (str, os.PathLike)):
        from feedkit.filesources import open_files

        return open_files(source, columns, batch_rows)
    if isinstance(source, pa.RecordBatchReader):
        return _stream(source, "RecordBatchReader", columns, batch_rows)
    if isinstance(source, pa.Table):
        missing_columns(columns, source.column_names)
        unique_columns(columns, source.column_names, "the Table")
        return Source(
            "Table", _table(source.select(list(columns)), batch_rows), source.num_rows, None
        )
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(source, pd.DataFrame):
        names = [str(c) for c in source.columns]
        missing_columns(columns, names)
        unique_columns(columns, names, "the DataFrame")
        return Source("DataFrame", _frame(source, columns, batch_rows), len(source), None)
    if hasattr(source, "__arrow_c_stream__"):
        return _stream(stream_reader(source), _kind(source), columns, batch_rows)
    raise SourceError(
        f"cannot read a {type(source).__name__}: pass a DataFrame (pandas, polars), a pyarrow "
        "Table or RecordBatchReader, an object with __arrow_c_stream__, or a path or URL of "
        ".csv/.tsv/.jsonl/.parquet files"
    )


# Objects whose Arrow stream starts afresh each time it is asked for (a second read of any
# other stream may find it consumed: empty).
REREADABLE_STREAMS = frozenset({
    "pandas.DataFrame", "pyarrow.Table", "pyarrow.RecordBatch", "polars.DataFrame",
    "duckdb.DuckDBPyRelation",
})  # fmt: skip


def _kind(source: Any) -> str:
    return f"{type(source).__module__.split('.')[0]}.{type(source).__name__}"


def is_stream(source: Any) -> bool:
    """Whether reading ``source`` may consume it: a RecordBatchReader, or an object exporting
    an Arrow stream not known to start afresh each time (see ``REREADABLE_STREAMS``)."""
    if isinstance(source, pa.RecordBatchReader):
        return True
    if isinstance(source, (str, os.PathLike, pa.Table)):
        return False
    return hasattr(source, "__arrow_c_stream__") and _kind(source) not in REREADABLE_STREAMS


def stream_reader(source: Any) -> pa.RecordBatchReader:
    """A RecordBatchReader over an object's Arrow stream (``__arrow_c_stream__``), no copy."""
    if isinstance(source, pa.RecordBatchReader):
        return source
    try:
        return pa.RecordBatchReader.from_stream(source)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise SourceError(f"cannot read the {_kind(source)} as an Arrow stream: {exc}") from None


def _stream(
    reader: pa.RecordBatchReader, kind: str, columns: Sequence[str], batch_rows: int
) -> Source:
    missing_columns(columns, reader.schema.names)
    unique_columns(columns, reader.schema.names, f"the {kind}")
    return Source(kind, _reader(reader, columns, batch_rows), None, None)


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


def _plain(t: pa.DataType) -> pa.DataType:
    """A type without Arrow's view and large layouts (polars exports string_view), which the
    converter's kernels take as their plain forms."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if (
        pa.types.is_large_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
        or pa.types.is_list(t)
    ):
        return pa.list_(_plain(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_plain(f.type)) for f in t])
    return t


def _reader(
    reader: pa.RecordBatchReader, columns: Sequence[str], batch_rows: int
) -> Iterator[SourceBatch]:
    start = 0
    indices = [reader.schema.get_field_index(c) for c in columns]
    chosen = pa.schema([reader.schema.field(i) for i in indices])
    plain = pa.schema([f.with_type(_plain(f.type)) for f in chosen])
    for batch in reader:
        for sb in _slices(batch.select(indices), start, batch_rows):
            if plain != chosen:  # each slice alone: a cast to 32-bit offsets must fit
                sb.batch = sb.batch.cast(plain)
            yield sb
        start += batch.num_rows


def parquet_batches(
    pf: pq.ParquetFile, columns: Sequence[str], batch_rows: int
) -> Iterator[SourceBatch]:
    """A Parquet file's ``columns``, row group by row group."""
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
        rows = np.arange(start, start + len(chunk), dtype=np.int64)
        arrays, errors = [], []
        for c in columns:
            arr, bad = _pandas_column(chunk[by_name[c]])
            arrays.append(arr)
            errors += [
                RowError(int(rows[i]), c, "", Reason.ENCODING.value,
                         "holds a lone surrogate, not Unicode text", text)
                for i, text in bad
            ]  # fmt: skip
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
        yield SourceBatch(batch, rows, errors)


def _pandas_column(series: Any) -> tuple[pa.Array, list[tuple[int, str]]]:
    """An Arrow array of a pandas column (mixed object columns become strings), and the
    (position, text) of strings that are not Unicode text (a lone surrogate): those are null."""
    bad: list[tuple[int, str]] = []
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        values: list[str | None] = []
        for i, v in enumerate(series.tolist()):
            text = None if _is_missing(v) else str(v)
            if text is not None and not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    bad.append((i, text.encode("utf-8", "backslashreplace").decode()))
                    text = None
            values.append(text)
        arr = pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr, bad


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA
    except (TypeError, ValueError):
        return False
