"""HTML for notebooks: reports, error tables, activities and DataFrames that read well in
JupyterLab's light, dark and high-contrast themes.

Colours and rules come from JupyterLab's CSS variables (``--jp-ui-font-color1``,
``--jp-success-color1``, ``--jp-error-color1``, ``--jp-border-color2``), each with a fallback
for other front ends, so nothing is hard-coded against one background. Every table is built by
:func:`table_html`, which escapes every cell; messages are never truncated.

Values are written one way everywhere (:func:`value_text`): lists and objects as JSON
(``["a", "b"]``, ``[]`` for an empty or missing list), times in UTC to the second
(``2025-12-21 10:03:07Z``, or ``2025-12-21`` for a DataFrame column whose times are all
midnight), missing values as an empty cell. :func:`show` applies this to a DataFrame without
touching its dtypes:

    >>> "var(--jp-error-color1" in verdict_html(False, "incomplete: 2 invalid")
    True
    >>> value_text(["a", "b"]), value_text(1_766_311_387_000_000_000, time=True)
    ('["a", "b"]', '2025-12-21 10:03:07Z')
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from feedkit.arrowjson import JSON_METADATA

__all__ = [
    "ERROR_ROWS_SHOWN",
    "FRAME_ROWS_SHOWN",
    "FrameView",
    "errors_html",
    "frame_text",
    "report_html",
    "show",
    "table_html",
    "text_table",
    "time_text",
    "value_text",
    "verdict_html",
]

ERROR_ROWS_SHOWN = 20  # error rows a report shows; the frame (or --errors FILE) has them all
FRAME_ROWS_SHOWN = 20  # rows show() renders unless told otherwise; the frame has them all

_GOOD = "var(--jp-success-color1, #1a7f37)"
_BAD = "var(--jp-error-color1, #c62828)"
_TEXT = "var(--jp-ui-font-color1, inherit)"
_DIM = "var(--jp-ui-font-color2, inherit)"
_RULE = "var(--jp-border-color2, #ccc)"
_CELL = f"text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid {_RULE}"
_NUMBER = f"{_CELL};text-align:right"
_TABLE = f"color:{_TEXT};border-collapse:collapse"
_CAPTION = f"text-align:left;color:{_DIM}"
_NOTE = f"color:{_DIM}"
_NOWRAP = ";white-space:nowrap"
SHORT_CELL = 40  # characters of a cell kept on one line (ids, times, tags); longer text wraps


# -- values ---------------------------------------------------------------------------------


def time_text(value: datetime | int, *, date_only: bool = False) -> str:
    """A time in UTC to the second (``2025-12-21 10:03:07Z``); an int is nanoseconds since
    the epoch, a naive datetime is shown as it is, without the ``Z``."""
    if isinstance(value, int):
        value = datetime.fromtimestamp(value // 1_000_000_000, tz=UTC)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    if date_only:
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.tzinfo is not None else "")


def value_text(value: Any, *, time: bool = False, is_list: bool = False) -> str:
    """One value as a table shows it: lists and objects as JSON, times (datetimes, or ints
    of nanoseconds when ``time``) in UTC to the second, missing values as ``""`` (``"[]"``
    when ``is_list``), anything else as ``str``."""
    if _missing(value):
        return "[]" if is_list else ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, datetime) or (time and isinstance(value, int)):
        return time_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)


# -- tables ---------------------------------------------------------------------------------


def table_html(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    caption: str = "",
    numeric: Sequence[bool] = (),
    index: Sequence[str] | None = None,
    index_name: str = "",
) -> str:
    """A table of texts, every cell escaped; ``numeric`` columns are right-aligned, ``index``
    labels (with ``index_name`` above them) head each row."""
    right = list(numeric) + [False] * (len(columns) - len(numeric))
    head = "".join(f"<th style='{_CELL}'>{html.escape(str(c))}</th>" for c in columns)
    if index is not None:
        head = f"<th style='{_CELL}'>{html.escape(index_name)}</th>" + head
    body = []
    for i, row in enumerate(rows):
        cells = "".join(
            f"<td style='{_NUMBER if r else _CELL}{_NOWRAP if len(c) <= SHORT_CELL else ''}'>"
            f"{html.escape(c)}</td>"
            for c, r in zip(row, right, strict=False)
        )
        label = "" if index is None else f"<th style='{_CELL}'>{html.escape(index[i])}</th>"
        body.append(f"<tr>{label}{cells}</tr>")
    cap = f"<caption style='{_CAPTION}'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table style='{_TABLE}'>{cap}<tr>{head}</tr>{''.join(body)}</table>"


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as plain text, in left-aligned columns (for consoles and logs)."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    lines = [list(columns), *(list(r) for r in rows)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


# The same palette, for the notebook forms (feedkit.widgets). Text is TEXT_COLOR on any surface
# here, or MUTED_COLOR on the page itself; the *_MARK colours draw borders, never text (a red
# or green that reads on white is too dark on JupyterLab Dark). tests/test_widgets_browser.py
# measures the contrast in the light and the dark theme.
TEXT_COLOR = _TEXT
MUTED_COLOR = _DIM
RULE_COLOR = _RULE
PANEL_COLOR = "var(--jp-layout-color2, #eee)"  # a raised panel: a preview, a changed row
ERROR_PANEL_COLOR = "var(--jp-rendermime-error-background, #fdd)"  # behind an error message
ERROR_MARK = _BAD
OK_MARK = _GOOD
CHANGE_MARK = "var(--jp-warn-color1, #f57c00)"


def verdict_html(ok: bool, verdict: str) -> str:
    """The verdict in the theme's text colour, marked by a coloured bar beside it: a red or
    green that reads on white is too dark as text on JupyterLab Dark."""
    mark = OK_MARK if ok else ERROR_MARK
    return (
        f"<b style='color:{TEXT_COLOR};border-left:4px solid {mark};padding-left:6px'>"
        f"{html.escape(verdict)}</b>"
    )


def errors_html(errors: pd.DataFrame, rows: int = ERROR_ROWS_SHOWN) -> str:
    """The first ``rows`` failures as a table: every message whole, row numbers explained."""
    if not len(errors):
        return ""
    more = f", the first {rows} shown" if len(errors) > rows else ""
    shown = errors.head(rows)
    return table_html(
        [str(c) for c in errors.columns],
        [[value_text(v) for v in record] for record in shown.itertuples(index=False)],
        caption=f"{len(errors):,} errors{more}; row 0 is the first data row",
        numeric=[pd.api.types.is_numeric_dtype(t) for t in errors.dtypes],
    )


def report_html(
    title: str,
    ok: bool,
    verdict: str,
    figures: Sequence[tuple[str, int | str, str]],
    notes: Sequence[str],
    errors: pd.DataFrame,
) -> str:
    """A report: its title and verdict, each figure with its note, the notes, the errors."""
    rows = "".join(
        f"<tr><th style='{_CELL}'>{html.escape(label)}</th>"
        f"<td style='{_NUMBER}'>{_figure(value)}</td>"
        f"<td style='{_CELL};color:{_DIM}'>{html.escape(note)}</td></tr>"
        for label, value, note in figures
    )
    notes_html = "".join(f"<p style='color:{_TEXT}'>{html.escape(n)}</p>" for n in notes)
    return (
        f"<div style='color:{_TEXT}'><p>{html.escape(title)}: {verdict_html(ok, verdict)}</p>"
        f"<table style='{_TABLE}'>{rows}</table>{notes_html}"
        f"{errors_html(errors)}</div>"
    )


def note_html(text: str) -> str:
    """A line of secondary text under a table."""
    return f"<p style='{_NOTE}'>{html.escape(text)}</p>"


def _figure(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))


# -- DataFrames -----------------------------------------------------------------------------


def frame_text(frame: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Every cell of ``frame`` (and its index) as the text a table shows, by
    :func:`value_text`; a time column (or index) whose times are all midnight UTC shows dates.
    The frame itself is not changed."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    out = pd.DataFrame(
        {i: _column_text(frame.iloc[:, i]) for i in range(frame.shape[1])},
        index=pd.Index(_column_text(frame.index.to_series()), name=_index_name(frame.index)),
        dtype=object,
    )
    out.columns = _column_text(frame.columns.to_series())
    return out


def _index_name(index: pd.Index) -> str:
    names = [n for n in index.names if n is not None]
    return ", ".join(str(n) for n in names)


def _column_text(column: pd.Series) -> list[str]:
    array = column.array
    if hasattr(array, "__arrow_array__"):
        typed = pa.array(array)
        values, kind = typed.to_pylist(), typed.type
    else:
        values, kind = column.tolist(), None
    is_list = kind is not None and (pa.types.is_list(kind) or pa.types.is_large_list(kind))
    times = [_as_time(v) for v in values]
    if any(t is not None for t in times):
        date_only = all(t is None or _midnight(t) for t in times)
        return [
            value_text(v) if t is None else time_text(t, date_only=date_only)
            for v, t in zip(values, times, strict=True)
        ]
    if kind is not None and _has_json(kind):
        values = [_decoded(v, kind) for v in values]
    if any(isinstance(v, tuple) for v in values):  # the labels of a MultiIndex
        return [", ".join(map(value_text, v)) if isinstance(v, tuple) else value_text(v)
                for v in values]  # fmt: skip
    return [value_text(v, is_list=is_list) for v in values]


def _as_time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) and not _missing(value) else None


def _midnight(t: datetime) -> bool:
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0) and (
        not isinstance(t, pd.Timestamp) or t.nanosecond == 0
    )


def _has_json(kind: pa.DataType) -> bool:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _has_json(kind.value_type)
    if pa.types.is_struct(kind):
        return any(
            f.metadata == JSON_METADATA or _has_json(f.type) for f in kind
        )  # a field holding JSON text
    return False


def _decoded(value: Any, kind: pa.DataType) -> Any:
    """A nested Arrow value as plain JSON: JSON-text fields decoded, missing members left out."""
    if value is None:
        return None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [_decoded(v, kind.value_type) for v in value]
    if pa.types.is_struct(kind):
        out = {}
        for f in kind:
            member = value.get(f.name)
            if member is None:
                continue
            if f.metadata == JSON_METADATA and isinstance(member, str):
                member = orjson.loads(member)
            out[f.name] = _decoded(member, f.type)
        return out
    return value


class FrameView:
    """A DataFrame as :func:`show` renders it: every value by :func:`value_text`, nothing
    truncated, the first ``rows`` rows (the caption says how many there are)."""

    def __init__(self, frame: pd.DataFrame | pd.Series, rows: int = FRAME_ROWS_SHOWN) -> None:
        self.frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
        self.rows = rows
        self.text = frame_text(self.frame.head(rows))

    @property
    def caption(self) -> str:
        total = len(self.frame)
        return f"{total:,} rows, the first {self.rows} shown" if total > self.rows else ""

    def _repr_html_(self) -> str:
        numeric = [
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in self.frame.dtypes
        ]
        return table_html(
            list(self.text.columns),
            self.text.values.tolist(),
            caption=self.caption,
            numeric=numeric,
            index=[str(i) for i in self.text.index],
            index_name=str(self.text.index.name or ""),
        )

    def __repr__(self) -> str:
        columns = [str(self.text.index.name or ""), *self.text.columns]
        rows = [[str(i), *row] for i, row in zip(self.text.index, self.text.values, strict=True)]
        table = text_table(columns, rows)
        return f"{table}\n[{self.caption}]" if self.caption else table


def show(
    data: pd.DataFrame | pd.Series | Sequence[Mapping[str, Any]], rows: int = FRAME_ROWS_SHOWN
) -> Any:
    """A DataFrame, a Series, or a list of activities, ready to display in a notebook: lists
    as ``["a", "b"]`` (``[]`` when empty), times as ``2025-12-21 10:03:07Z`` (dates when a
    column is all midnights), no value truncated; the first ``rows`` rows. The data and its
    dtypes are left as they are.

        >>> frame = pd.DataFrame({"tags": pd.Series([["a", "b"], None],
        ...     dtype=pd.ArrowDtype(pa.list_(pa.string())))})
        >>> print(repr(show(frame)))
           tags
        0  ["a", "b"]
        1  []
    """
    if isinstance(data, pd.DataFrame | pd.Series):
        return FrameView(data, rows)
    from feedkit.results import Activities

    return Activities(data, rows)
