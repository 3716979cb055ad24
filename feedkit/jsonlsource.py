"""JSON lines files (``.jsonl``, ``.ndjson``, compressed too) as bounded batches.

Each non-blank line is one record: a JSON object whose top-level keys are the columns. A line
that is not a JSON object (bad syntax, bytes that are not UTF-8, a bare number) is a
``malformed_row`` error naming its line, and the read goes on. A missing key is null. A column
holding objects or lists anywhere in a batch is JSON text, marked as such (the way feedkit's
export marks its JSON columns), so it reaches ``custom``, ``search_data`` or a list field whole;
other columns keep their JSON types (text, integers, floats, booleans), and a column mixing
them in one batch is text.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from feedkit.arrowjson import JSON_METADATA
from feedkit.schema import Reason
from feedkit.sources import RowError, SourceBatch

__all__ = ["jsonl_batches"]

JSONL_BUFFER = 1 << 20
SHOWN_LINE = 200  # characters of a malformed line kept in its error


def jsonl_batches(
    opener: Callable[[], Any], columns: Sequence[str], batch_rows: int
) -> Iterator[SourceBatch]:
    """The records of a JSON lines file, ``batch_rows`` lines at a time; ``opener`` gives a
    stream of its (decompressed) bytes."""
    types: dict[str, pa.DataType] = {}
    with io.BufferedReader(opener(), buffer_size=JSONL_BUFFER) as f:
        row = number = 0
        while True:
            lines: list[tuple[int, int, bytes]] = []
            for line in f:
                number += 1
                if line.strip():
                    lines.append((row, number, line))
                    row += 1
                    if len(lines) >= batch_rows:
                        break
            if not lines:
                return
            yield _batch(lines, columns, types)


def _batch(
    lines: list[tuple[int, int, bytes]], columns: Sequence[str], types: dict[str, pa.DataType]
) -> SourceBatch:
    objects: list[dict[str, Any]] = []
    rows: list[int] = []
    errors: list[RowError] = []
    for row, number, line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            errors.append(_malformed(row, number, f"is not valid JSON ({exc})", line))
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__ if value is not None else "null"
            errors.append(_malformed(row, number, f"holds a JSON {kind}, not an object", line))
            continue
        objects.append(value)
        rows.append(row)
    fields, arrays = [], []
    for name in columns:
        arr, is_json = _column([o.get(name) for o in objects], types.get(name))
        if not is_json and not pa.types.is_null(arr.type):
            types[name] = arr.type
        arrays.append(arr)
        fields.append(pa.field(name, arr.type, metadata=JSON_METADATA if is_json else None))
    batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    return SourceBatch(batch, np.array(rows, dtype=np.int64), errors)


def _malformed(row: int, number: int, why: str, line: bytes) -> RowError:
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    shown = text if len(text) <= SHOWN_LINE else text[: SHOWN_LINE - 3] + "..."
    return RowError(row, "", "", Reason.MALFORMED_ROW.value, f"line {number} {why}", shown)


def _column(values: list[Any], known: pa.DataType | None) -> tuple[pa.Array, bool]:
    """One column of a batch, and whether it is JSON text (it holds objects or lists)."""
    if any(isinstance(v, (dict, list)) for v in values):
        texts = [None if v is None else orjson.dumps(v).decode() for v in values]
        return pa.array(texts, pa.string()), True
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([_text(v) for v in values], pa.string()), False
    if pa.types.is_null(arr.type) and known is not None:
        return pa.nulls(len(values), known), False
    return arr, False


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()
