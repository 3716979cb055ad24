"""How a stored activity reads in a form: its fields in schema order as a table (JSON values as
JSON, times in UTC to the second), and a change as a table of the paths it touched."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from feedkit.display import CHANGE_MARK, PANEL_COLOR, RULE_COLOR, TEXT_COLOR
from feedkit.results import request_fields
from feedkit.schema import ACTIVITY_FIELDS, Kind, format_time, parse_time

Changes = dict[str, tuple[Any, Any]]
STAMPS = ("created_at", "updated_at")  # what the server adds to every stored activity
_CELL = (
    f"text-align:left;vertical-align:top;padding:2px 8px;color:{TEXT_COLOR};"
    f"border-bottom:1px solid {RULE_COLOR};overflow-wrap:anywhere"
)
_CHANGED = f"background:{PANEL_COLOR};box-shadow:inset 3px 0 0 {CHANGE_MARK}"


def flatten(obj: Mapping[str, Any], prefix: str = "", *, leaves_only: bool = True) -> list[str]:
    """Dotted paths of a nested object: ``{"a": {"b": 1}}`` -> ``["a.b"]`` (and ``"a"``)."""
    paths: list[str] = []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            if not leaves_only:
                paths.append(path)
            paths += flatten(value, f"{path}.", leaves_only=leaves_only)
        else:
            paths.append(path)
    return paths


def flat_view(view: Mapping[str, Any]) -> dict[str, Any]:
    """Request fields with ``custom`` spread into ``custom.<dotted path>`` entries."""
    out = {key: value for key, value in view.items() if key != "custom"}
    custom = view.get("custom") or {}
    for path in flatten(custom):
        value: Any = custom
        for part in path.split("."):
            value = value[part]
        out[f"custom.{path}"] = value
    return out


def to_second(time: Any) -> str:
    """A time (nanoseconds or ISO text) as ISO 8601 in UTC, to the second."""
    try:
        ns = parse_time(time)
    except ValueError:
        return str(time)
    return format_time(ns - ns % 1_000_000_000)


def show_value(value: Any, *, time: bool = False) -> str:
    """A value as it reads in a table: text as itself, times to the second, the rest as JSON."""
    if time:
        return to_second(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


_TIMES = frozenset({f.name for f in ACTIVITY_FIELDS if f.kind is Kind.TIME} | set(STAMPS))


def stored_fields(activity: Mapping[str, Any]) -> dict[str, str]:
    """Every schema field of a stored activity that has a value, in schema order, then its
    timestamps: name -> the text a table shows."""
    fields = request_fields(activity)
    shown = {name: show_value(value, time=name in _TIMES) for name, value in fields.items()}
    for stamp in STAMPS:
        if isinstance(activity.get(stamp), int):
            shown[stamp] = to_second(activity[stamp])
    return shown


def _row(name: str, cell: str, attrs: str = "") -> str:
    head = f"<th style='{_CELL}'>{html.escape(name)}</th>"
    return f"<tr{attrs}>{head}<td style='{_CELL}'>{cell}</td></tr>"


def _table(rows: list[str]) -> str:
    return f"<table class='feedkit-table' style='border-collapse:collapse'>{''.join(rows)}</table>"


def fields_table(fields: Mapping[str, str]) -> str:
    """Name -> text as a two-column table."""
    return _table([_row(k, html.escape(v)) for k, v in fields.items()])


def activity_table(activity: Mapping[str, Any]) -> str:
    """The stored activity, every field with a value (see :func:`stored_fields`)."""
    return fields_table(stored_fields(activity))


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> Changes:
    """Path -> (before, after) for every flat path whose value differs (``None``: absent)."""
    paths = [*after, *(p for p in before if p not in after)]
    return {p: (before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p)}


def changes_table(changes: Changes) -> str:
    """One highlighted row per changed path: the value now, and what it was."""
    rows = []
    for path, (before, after) in changes.items():
        time = path in _TIMES
        if after is None:
            cell = f"<s>{html.escape(show_value(before, time=time))}</s> <i>(removed)</i>"
        else:
            cell = html.escape(show_value(after, time=time))
            was = "new" if before is None else f"was {show_value(before, time=time)}"
            cell += f" <i>({html.escape(was)})</i>"
        rows.append(_row(path, cell, f" class='feedkit-changed' style='{_CHANGED}'"))
    return _table(rows)
