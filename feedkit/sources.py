"""Tables in: DataFrames, Arrow tables and readers, CSV and Parquet files, as bounded batches.

Every source becomes an iterator of :class:`SourceBatch`: an Arrow record batch of at most
``batch_rows`` rows holding only the mapped columns, the 0-based record index of each of its
rows in the source, and the rows that could not be read at all (a ragged CSV line, bytes that
are not UTF-8, both) as :class:`RowError`. Files are streamed, so memory does not grow with
them.

CSV files are recognised by their first bytes, not their name: gzip, bzip2, zstd and xz
compressed ones are read through their codec (``posts.csv.gz``, or a ``.csv`` that is really
gzip), a zip archive or a Parquet file named ``.csv`` is refused by name. The bytes pass
through :class:`_Escaped`, which turns bytes that are not UTF-8 into private-use characters so
that the CSV parser never meets them; a cell holding them is an ``encoding`` row error naming
the bytes. A record larger than the parser's block is read again with larger blocks (cells of
up to ``CSV_MAX_BLOCK``). A mapped column whose name appears twice is refused by name.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from feedkit.errors import FeedkitError, UsageError
from feedkit.mapping import MappingError
from feedkit.schema import Reason

__all__ = ["RowError", "Source", "SourceBatch", "SourceError", "open_source"]

CSV_BLOCK = 1 << 20
CSV_MAX_BLOCK = 1 << 30  # a record larger than this stops the read, named by its number
# A byte that is not UTF-8 travels as the private-use character U+F700 + byte (U+F780-U+F7FF).
_ESCAPE = 0xF700
_ESCAPED = "[\uf780-\uf7ff]"
# First bytes of the compressed and binary formats a CSV path may hold, whatever its name.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PAR1", "parquet"),
)
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".zst", ".zstd", ".xz")


def _escape_bytes(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(_ESCAPE + b) for b in bad), exc.end


codecs.register_error("feedkit-escape", _escape_bytes)


class SourceError(FeedkitError):
    """The source cannot be opened or read at all (not a bad row: those are RowErrors)."""


class SourceNotFoundError(SourceError, UsageError):
    """The source is a path where there is no file."""


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
        size: int | None = None,
        position: Callable[[], int] | None = None,
    ) -> None:
        self.name = name
        self._batches = batches
        self.total_rows = total_rows
        self.fingerprint = fingerprint
        self.size = size  # bytes of the file, where the row count is not known beforehand
        self._position = position

    def position(self) -> int:
        """Bytes of the file read so far (0 where ``size`` is None): progress in bytes."""
        return self._position() if self._position is not None else 0

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


def _unique(columns: Sequence[str], available: Sequence[str], where: str) -> None:
    """A mapped column must name one column: two of the same name are ambiguous."""
    twice = sorted({c for c in columns if list(available).count(c) > 1})
    if twice:
        raise SourceError(
            f"{where} has more than one column named {', '.join(map(repr, twice))}: a mapping "
            "cannot tell them apart; rename them"
        )


def _format_suffix(path: Path) -> str:
    """The suffix that names a file's format, past a compression suffix (posts.csv.gz)."""
    suffixes = [x.lower() for x in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes.pop()
    if suffixes:
        return suffixes[-1]
    return ".csv" if path.suffix.lower() in _COMPRESSED_SUFFIXES else path.suffix.lower()


class _Counted(io.RawIOBase):
    """A file's bytes, counted as they are read (``position``), compressed or not."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        self.position += n
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


class _CsvOpener:
    """Fresh streams of a CSV file's text as valid UTF-8 (see :class:`_Escaped`), through
    the codec its first bytes name; ``position`` is the bytes of the file the latest stream
    has read."""

    def __init__(self, path: Path, kind: str | None) -> None:
        self.path = path
        self.kind = kind
        self._latest: _Counted | None = None

    def __call__(self) -> io.RawIOBase:
        counted = self._latest = _Counted(self.path.open("rb", buffering=0))
        raw: Any = counted
        if self.kind == "gzip":
            raw = gzip.GzipFile(fileobj=counted, mode="rb")
        elif self.kind == "bz2":
            raw = bz2.BZ2File(counted, "rb")
        elif self.kind == "xz":
            raw = lzma.LZMAFile(cast(IO[bytes], counted), "rb")  # noqa: SIM115 (closed below)
        elif self.kind == "zstd":
            raw = pa.input_stream(counted, compression="zstd")
        return _Escaped(raw, counted)

    def position(self) -> int:
        return self._latest.position if self._latest is not None else 0


def _csv_opener(path: Path) -> _CsvOpener:
    """A :class:`_CsvOpener` of the file, after checking its first bytes are not another
    format's."""
    with path.open("rb") as f:
        head = f.read(8)
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind in ("zip", "parquet"):
        hint = "unzip it first" if kind == "zip" else "name it .parquet"
        raise SourceError(f"{path}: this is a {kind} file, not CSV text; {hint}")
    return _CsvOpener(path, kind)


class _Escaped(io.RawIOBase):
    """A byte stream re-encoded as valid UTF-8: a byte that is not UTF-8 becomes the
    private-use character U+F700 + byte, which :func:`_decode` reports and names."""

    def __init__(self, inner: Any, file: Any = None) -> None:
        self._inner = inner
        self._file = file  # the file under a decompressor, which does not close it
        self._decoder = codecs.getincrementaldecoder("utf-8")("feedkit-escape")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            chunk = self._inner.read(max(len(view), 1 << 16))
            final = not chunk
            self._pending = self._decoder.decode(chunk, final).encode("utf-8")
            if final:
                break
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._inner.close()
        if self._file is not None:
            self._file.close()
        super().close()


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
            raise SourceNotFoundError(f"{path}: no such file")
        suffix = _format_suffix(path)
        if suffix in (".csv", ".tsv", ".txt"):
            tab = suffix == ".tsv"
            opener = _csv_opener(path)
            names = _csv_header(path, opener, tab)
            if names is not None:
                _missing(columns, names)
                _unique(columns, names, str(path))
            return Source(
                str(path),
                _csv(path, opener, names, columns, batch_rows, tab),
                None,
                _file_fingerprint(path),
                size=path.stat().st_size,
                position=opener.position,
            )
        if suffix in (".parquet", ".pq"):
            try:
                pf = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as exc:
                raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None
            _missing(columns, pf.schema_arrow.names)
            _unique(columns, pf.schema_arrow.names, str(path))
            return Source(
                str(path),
                _parquet(pf, columns, batch_rows),
                pf.metadata.num_rows,
                _file_fingerprint(path),
            )
        raise SourceError(f"{path}: read .csv, .tsv or .parquet files (or pass a DataFrame)")
    if isinstance(source, pa.RecordBatchReader):
        _missing(columns, source.schema.names)
        _unique(columns, source.schema.names, "the RecordBatchReader")
        return Source("RecordBatchReader", _reader(source, columns, batch_rows), None, None)
    if isinstance(source, pa.Table):
        _missing(columns, source.column_names)
        _unique(columns, source.column_names, "the Table")
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
        _unique(columns, names, "the DataFrame")
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


def _csv_header(path: Path, opener: Callable[[], Any], tab: bool) -> list[str] | None:
    """The column names of a CSV file (None when the file is empty)."""
    try:
        probe = pcsv.open_csv(
            opener(),
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
    except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
        raise SourceError(f"{path}: cannot read the file: {exc}") from None
    names = list(probe.schema.names)
    probe.close()
    return names


def _csv_parse(tab: bool) -> dict[str, Any]:
    return {"delimiter": "\t" if tab else ",", "newlines_in_values": True}


def _malformed(row: int, text: str, width: int) -> RowError:
    bad = re.search(_ESCAPED, text) is not None
    return RowError(
        row,
        "",
        "",
        Reason.MALFORMED_ROW.value,
        f"CSV record has the wrong number of fields ({width} expected)"
        + (" and bytes that are not UTF-8" if bad else ""),
        _unescaped(text),
    )


class _Straddle(Exception):
    """A record larger than the parser's block."""


def _csv(
    path: Path,
    opener: Callable[[], Any],
    names: list[str] | None,
    columns: Sequence[str],
    batch_rows: int,
    tab: bool,
) -> Iterator[SourceBatch]:
    """Stream a CSV file (see :func:`_csv_pass`); a record larger than the block is read
    again with blocks eight times larger, the records already given skipped."""
    if names is None:
        return
    block, done = CSV_BLOCK, 0
    while True:
        try:
            for sb, complete in _csv_pass(opener, names, columns, batch_rows, tab, block):
                keep = sb.rows >= done
                errors = [e for e in sb.errors if e.row >= done]
                if not keep.all():
                    sb = SourceBatch(sb.batch.filter(pa.array(keep)), sb.rows[keep], errors)
                else:
                    sb.errors = errors
                if sb.batch.num_rows or sb.errors:
                    yield sb
                done = max(done, complete)
            return
        except _Straddle:
            if block >= CSV_MAX_BLOCK:
                raise SourceError(
                    f"{path}: record {done} (0-based, after the header) is larger than "
                    f"{CSV_MAX_BLOCK:,} bytes; split it or drop it"
                ) from None
            block *= 8


def _csv_pass(
    opener: Callable[[], Any],
    names: list[str],
    columns: Sequence[str],
    batch_rows: int,
    tab: bool,
    block: int,
) -> Iterator[tuple[SourceBatch, int]]:
    """One read of a CSV file: every column as text, ragged lines and bad bytes as row errors;
    with each batch, the records before which all have been given (0 until a block's last).

    Only an empty cell is missing: "NA" or "null" are text. The reader reports ragged
    records by number, possibly while it reads ahead, so each batch claims the ragged
    records that fall inside its own span of record numbers.
    """
    ragged: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        number = row.number if row.number is not None and row.number > 1 else None
        ragged.append((number - 2 if number is not None else -1, row.text))
        return "skip"

    try:
        reader = pcsv.open_csv(
            opener(),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=block),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid, **_csv_parse(tab)),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                include_columns=list(columns),
                strings_can_be_null=True,
                null_values=[""],
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):
            raise _Straddle from None
        raise SourceError(f"unreadable CSV: {exc}") from None
    next_row = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc):
                raise _Straddle from None
            raise SourceError(f"unreadable CSV after record {next_row}: {exc}") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
            raise SourceError(f"unreadable after record {next_row}: {exc}") from None
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
        starts = range(0, max(text_batch.num_rows, 1), batch_rows)
        for start in starts:
            part = text_batch.slice(start, batch_rows)
            part_rows = rows[start : start + batch_rows]
            lo, hi = (int(part_rows[0]), int(part_rows[-1])) if len(part_rows) else (0, -1)
            found = [e for e in encoding_errors if lo <= e.row <= hi]
            found += errors if start == 0 else []
            yield SourceBatch(part, part_rows, found), end if start == starts[-1] else 0
    if ragged:
        empty = pa.RecordBatch.from_arrays(
            [pa.array([], pa.string())] * len(columns), names=list(columns)
        )
        rows_left = [max(r, next_row + i) for i, (r, _) in enumerate(sorted(ragged))]
        yield (
            SourceBatch(
                empty,
                np.array([], dtype=np.int64),
                [
                    _malformed(r, t, len(names))
                    for r, (_, t) in zip(rows_left, sorted(ragged), strict=True)
                ],
            ),
            max(rows_left) + 1,
        )


def _unescaped(text: str) -> str:
    """A text read through :class:`_Escaped`, its bad bytes shown as U+FFFD."""
    return re.sub(_ESCAPED, "\ufffd", text)


def _decode(batch: pa.RecordBatch, rows: np.ndarray) -> tuple[pa.RecordBatch, list[RowError]]:
    """CSV columns whose cells held bytes that are not UTF-8 (escaped by :class:`_Escaped`):
    each such cell is a row error naming the byte offset, and null."""
    arrays = []
    errors: list[RowError] = []
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        hits = pc.fill_null(pc.match_substring_regex(col, _ESCAPED), False)
        if not pc.any(hits).as_py():
            arrays.append(col)
            continue
        for i in np.flatnonzero(hits.to_numpy(zero_copy_only=False)).tolist():
            text = col[i].as_py()
            offset = len(text[: re.search(_ESCAPED, text).start()].encode())  # type: ignore[union-attr]
            errors.append(
                RowError(
                    int(rows[i]),
                    name,
                    "",
                    Reason.ENCODING.value,
                    f"bytes that are not UTF-8 at offset {offset}",
                    _unescaped(text),
                )
            )
        arrays.append(pc.if_else(hits, pa.scalar(None, pa.string()), col))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), errors
