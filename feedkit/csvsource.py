"""CSV and TSV files as bounded batches of text columns, every record numbered.

The bytes pass through :class:`_Escaped`, which turns bytes that are not UTF-8 into private-use
characters so that the CSV parser never meets them; a cell holding them is an ``encoding`` row
error naming the bytes. A ragged record is a ``malformed_row`` error. The parser is given
blocks that end where a record ends (:class:`_Records`): a record larger than ``CSV_BLOCK`` comes
in a larger block of its own (up to ``CSV_MAX_BLOCK``), the rest in blocks of ``CSV_BLOCK``.
Only an empty cell is missing: "NA" or "null" are text.
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


class _Escaped:
    """A byte stream re-encoded as valid UTF-8: a byte that is not UTF-8 becomes the
    private-use character U+F700 + byte, which :func:`_decode` reports and names."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._decoder = codecs.getincrementaldecoder("utf-8")("feedkit-escape")
        self._pending = b""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer only at the end, or while a character is incomplete)."""
        while not self._pending:
            chunk = self._inner.read(max(size, 1 << 16))
            final = not chunk
            self._pending = self._decoder.decode(chunk, final).encode("utf-8")
            if final:
                break
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def close(self) -> None:
        self._inner.close()


def _record_ends(tab: bool) -> re.Pattern[bytes]:
    """Whole records from the start of a text that starts at one (as the CSV parser splits
    them: a quote opens a quoted cell only at a cell's start; two quotes in one are a quote)."""
    starts = rb"\t\r\n" if tab else rb",\r\n"
    quoted = rb"(?<=[" + starts + rb'])"[^"]*+(?:""[^"]*+)*+"'
    literal = rb"(?<![" + starts + rb'])"'
    return re.compile(rb'(?:(?:[^"\r\n]++|' + quoted + rb"|" + literal + rb")*+(?:\r\n?|\n))*+")


_RECORD_ENDS = {tab: _record_ends(tab) for tab in (False, True)}


class _Records(io.RawIOBase):
    """The escaped bytes of a CSV file (:class:`_Escaped`) in blocks of ``CSV_BLOCK`` that
    end where a record ends: the parser never meets a record cut by a block's end, and a block
    grows past ``CSV_BLOCK`` only to hold a record longer than that (up to ``CSV_MAX_BLOCK``),
    then the next one is ``CSV_BLOCK`` again, so memory stays flat whatever the records."""

    def __init__(self, inner: Any, tab: bool, block: int = CSV_BLOCK) -> None:
        self._escaped = _Escaped(inner)
        self._ends = _RECORD_ENDS[tab]
        self._block = block
        self._buffer = b""
        self._before = b"\n"  # the byte before the buffer: a record's start is a cell's
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        limit = CSV_MAX_BLOCK if size is None or size < 0 else size
        want = min(self._block, limit)
        while True:
            while not self._eof and len(self._buffer) < want:
                chunk = self._escaped.read(want - len(self._buffer))
                self._eof = not chunk
                self._buffer += chunk
            end = len(self._buffer) if self._eof else self._last_record_end()
            if end or self._eof or len(self._buffer) >= limit:
                break
            want = min(2 * want, limit)  # a record longer than the block: a larger one
        out, self._buffer = self._buffer[: end or limit], self._buffer[end or limit :]
        self._before = out[-1:] or self._before
        return out

    def readinto(self, buffer: Any) -> int:
        out = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(out)] = out
        return len(out)

    def _last_record_end(self) -> int:
        """Where the buffer's last whole record ends (0: it holds none)."""
        buffer = self._buffer
        stop = len(buffer) - buffer.endswith(b"\r")  # a last \r may be half of \r\n
        if buffer.find(b'"', 0, stop) < 0:  # no quote: every line end is a record's
            return max(buffer.rfind(b"\n", 0, stop), buffer.rfind(b"\r", 0, stop)) + 1
        match = self._ends.match(self._before + buffer, 1, stop + 1)
        return match.end() - 1 if match else 0

    def close(self) -> None:
        self._escaped.close()
        super().close()


def csv_header(name: str, opener: Callable[[], Any], tab: bool) -> list[str] | None:
    """The column names of a CSV file (None when the file is empty); ``opener`` gives fresh
    streams of its (decompressed) bytes."""
    try:
        probe = pcsv.open_csv(
            _Records(opener(), tab),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=CSV_MAX_BLOCK),
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


def csv_batches(
    name: str,
    opener: Callable[[], Any],
    names: list[str] | None,
    columns: Sequence[str],
    batch_rows: int,
    tab: bool,
) -> Iterator[SourceBatch]:
    """Stream a CSV file: every column as text, ragged lines and bad bytes as row errors.

    Only an empty cell is missing: "NA" or "null" are text. The parser is given blocks that
    end where a record ends (:class:`_Records`); it reports ragged records by number,
    possibly while it reads ahead, so each batch claims the ragged records that fall inside
    its own span of record numbers.
    """
    if names is None:
        return
    ragged: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        number = row.number if row.number is not None and row.number > 1 else None
        ragged.append((number - 2 if number is not None else -1, row.text))
        return "skip"

    try:
        reader = pcsv.open_csv(
            _Records(opener(), tab),
            read_options=pcsv.ReadOptions(use_threads=False, block_size=CSV_MAX_BLOCK),
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
        raise _unreadable(name, 0, exc) from None
    next_row = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _unreadable(name, next_row, exc) from None
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


def _unreadable(name: str, row: int, exc: pa.ArrowInvalid) -> SourceError:
    """The error of a CSV file the parser gave up on after ``row`` records."""
    if "straddl" in str(exc):  # a block ends at a record's end unless the record is too long
        return SourceError(
            f"{name}: record {row} (0-based, after the header) is larger than "
            f"{CSV_MAX_BLOCK:,} bytes; split it or drop it"
        )
    after = f" after record {row}" if row else ""
    return SourceError(f"{name}: unreadable CSV{after}: {exc}")


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
