"""CSV and TSV files as bounded batches of text columns, every record numbered.

The bytes pass through :class:`_Escaped`, which turns bytes that are not UTF-8 into private-use
characters so that the CSV parser never meets them; a cell holding them is an ``encoding`` row
error naming the bytes. A ragged record is a ``malformed_row`` error. A record larger than the
parser's block is read again with larger blocks (cells of up to ``CSV_MAX_BLOCK``). Only an
empty cell is missing: "NA" or "null" are text.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from feedkit.schema import Reason
from feedkit.sources import RowError, SourceBatch, SourceError

__all__ = ["CSV_BLOCK", "CSV_MAX_BLOCK", "csv_batches", "csv_header"]

CSV_BLOCK = 1 << 20
CSV_MAX_BLOCK = 1 << 30  # a record larger than this stops the read, named by its number
# A byte that is not UTF-8 travels as the private-use character U+F700 + byte (U+F780-U+F7FF).
_ESCAPE = 0xF700
_ESCAPED = "[\uf780-\uf7ff]"


def _escape_bytes(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(_ESCAPE + b) for b in bad), exc.end


codecs.register_error("feedkit-escape", _escape_bytes)


class _Escaped(io.RawIOBase):
    """A byte stream re-encoded as valid UTF-8: a byte that is not UTF-8 becomes the
    private-use character U+F700 + byte, which :func:`_decode` reports and names."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
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
        super().close()


def csv_header(name: str, opener: Callable[[], Any], tab: bool) -> list[str] | None:
    """The column names of a CSV file (None when the file is empty); ``opener`` gives fresh
    streams of its (decompressed) bytes."""
    try:
        probe = pcsv.open_csv(
            _Escaped(opener()),
            read_options=pcsv.ReadOptions(use_threads=False),
            parse_options=pcsv.ParseOptions(
                invalid_row_handler=lambda row: "skip", **_csv_parse(tab)
            ),
            convert_options=pcsv.ConvertOptions(check_utf8=False),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return None
        raise SourceError(f"{name}: cannot read the CSV header: {exc}") from None
    except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
        raise SourceError(f"{name}: cannot read the file: {exc}") from None
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


def csv_batches(
    name: str,
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
            for sb, complete in _csv_pass(name, opener, names, columns, batch_rows, tab, block):
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
                    f"{name}: record {done} (0-based, after the header) is larger than "
                    f"{CSV_MAX_BLOCK:,} bytes; split it or drop it"
                ) from None
            block *= 8


def _csv_pass(
    name: str,
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
            _Escaped(opener()),
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
        raise SourceError(f"{name}: unreadable CSV: {exc}") from None
    next_row = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc):
                raise _Straddle from None
            raise SourceError(f"{name}: unreadable CSV after record {next_row}: {exc}") from None
        except (OSError, EOFError) as exc:  # a truncated or corrupt compressed file
            raise SourceError(f"{name}: unreadable after record {next_row}: {exc}") from None
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
