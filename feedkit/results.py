"""What the client returns: activities and pages that read well in a notebook.

An :class:`Activity` is the response's JSON object as a ``dict`` (timestamps stay integers of
nanoseconds, exactly as sent), with attribute access and datetimes on demand. A :class:`Page`
is one page of activities with its ``next``/``prev`` cursors. In a notebook (and in IPython's
console) an Activity shows as a table of every schema field that has a value, a Page as a table
of its activities (:class:`Activities`) with its cursors underneath; values are written as
:func:`feedkit.display.value_text` writes them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from feedkit.display import note_html, table_html, text_table, value_text

TIME_FIELDS = frozenset({"created_at", "updated_at", "expires_at", "deleted_at", "edited_at"})
SERVER_TIMES = ("created_at", "updated_at", "edited_at", "deleted_at")  # set by the server
_DERIVED = frozenset({"user_id", "mentioned_user_ids"})  # read from user / mentioned_users


def ns_to_datetime(ns: int) -> datetime:
    """A timezone-aware UTC datetime (microsecond precision) from nanoseconds."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1000)


def request_fields(activity: Mapping[str, Any]) -> dict[str, Any]:
    """An activity as the server returns it -> the request fields it was made of: ``user``
    becomes ``user_id``, ``mentioned_users`` ids, ``expires_at`` an RFC 3339 string; empty
    values are left out."""
    from feedkit.schema import FIELDS, format_time

    out: dict[str, Any] = {}
    for name in FIELDS:
        if name == "user_id":
            value = (activity.get("user") or {}).get("id") or activity.get("user_id")
        elif name == "mentioned_user_ids":
            users = activity.get("mentioned_users") or []
            value = [u.get("id") for u in users] or activity.get("mentioned_user_ids")
        else:
            value = activity.get(name)
        if name == "expires_at" and isinstance(value, int):
            value = format_time(value)
        if value is not None and value != [] and value != {} and value != "":
            out[name] = value
    return out


class Activity(dict[str, Any]):
    """An activity as the server returned it. ``a.text`` is ``a["text"]``; timestamps stay
    nanosecond integers under ``a["created_at"]`` and are datetimes as ``a.created_at``."""

    def __getattr__(self, name: str) -> Any:
        if name == "user_id":
            user = self.get("user") or {}
            return user.get("id") or self.get("user_id")
        if name == "mentioned_user_ids":
            users = self.get("mentioned_users") or []
            return [u.get("id") for u in users] or self.get("mentioned_user_ids") or []
        if name.startswith("_") or name not in self:
            raise AttributeError(name)
        value = self[name]
        if name in TIME_FIELDS and isinstance(value, int):
            return ns_to_datetime(value)
        return value

    def to_request(self) -> dict[str, Any]:
        """The request fields this activity was made of (see :func:`request_fields`)."""
        return request_fields(self)

    def shown(self) -> list[tuple[str, str]]:
        """(field, text) of every field of the activity schema that has a value, then the
        times the server set: JSON values as JSON, times in UTC to the second."""
        return [(name, value_text(value, time=name in TIME_FIELDS)) for name, value in
                self._fields(SERVER_TIMES)]  # fmt: skip

    def _fields(self, times: Sequence[str]) -> list[tuple[str, Any]]:
        from feedkit.schema import FIELDS

        out = []
        for name in (*FIELDS, *times):
            try:
                value = getattr(self, name) if name in _DERIVED else self[name]
            except KeyError:
                continue
            if value is not None and value != [] and value != {} and value != "":
                out.append((name, value))
        return out

    def _repr_html_(self) -> str:
        rows = self.shown()
        return table_html(
            ["field", "value"], [list(r) for r in rows], caption=f"Activity {self.get('id', '')}"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Activity {self.get('id', '')}\n" + text_table(["field", "value"],
                     [list(r) for r in self.shown()]))  # fmt: skip


@dataclass
class Page:
    """One page of activities; pass ``next`` back to get the following page."""

    activities: list[Activity]
    next: str | None = None
    prev: str | None = None
    feed: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_answer(cls, data: dict[str, Any]) -> Page:
        """The page of a query's or a feed's decoded answer."""
        return cls(
            activities(data.get("activities") or []),
            data.get("next"),
            data.get("prev"),
            feed=data.get("feed"),
            raw=data,
        )

    def __iter__(self) -> Iterator[Activity]:
        return iter(self.activities)

    def __len__(self) -> int:
        return len(self.activities)

    def __getitem__(self, i: int) -> Activity:
        return self.activities[i]

    def cursors(self) -> list[str]:
        """The page's cursors, as lines: what to pass to get the next or the previous page."""
        return [f"{name} cursor: {cursor}" for name, cursor in (("next", self.next),
                ("prev", self.prev)) if cursor]  # fmt: skip

    def _caption(self) -> str:
        title = f"feed {self.feed['feed']}: " if self.feed and self.feed.get("feed") else ""
        return f"{title}{_count(len(self))}" + ("" if self.next else ", the last page")

    def _repr_html_(self) -> str:
        table = Activities(self.activities, len(self.activities), self._caption())
        return table._repr_html_() + "".join(note_html(c) for c in self.cursors())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        table = Activities(self.activities, len(self.activities), self._caption())
        printer.text(repr(table) + "\n" + "\n".join(self.cursors()))


class Activities:
    """Activities as one table, a row each: the schema's fields that any of them has a
    value for, and ``created_at`` (what :func:`feedkit.show` makes of a list of activities)."""

    def __init__(
        self, items: Sequence[Mapping[str, Any]], rows: int, caption: str | None = None
    ) -> None:
        self.items = [a if isinstance(a, Activity) else Activity(a) for a in items]
        self.rows = rows
        more = f", the first {rows} shown" if len(self.items) > rows else ""
        self.caption = f"{_count(len(self.items))}{more}" if caption is None else caption

    def table(self) -> tuple[list[str], list[list[str]]]:
        shown = [dict(a._fields(("created_at",))) for a in self.items[: self.rows]]
        columns = [c for c in _columns() if any(c in row for row in shown)]
        lists = _list_fields()
        rows = [[value_text(row.get(c), time=c in TIME_FIELDS, is_list=c in lists)
                 for c in columns] for row in shown]  # fmt: skip
        return columns, rows

    def _repr_html_(self) -> str:
        columns, rows = self.table()
        return table_html(columns, rows, caption=self.caption)

    def __repr__(self) -> str:
        return f"{self.caption}\n{text_table(*self.table())}"


def _count(n: int) -> str:
    return f"{n:,} activit{'y' if n == 1 else 'ies'}"


def _list_fields() -> frozenset[str]:
    from feedkit.schema import FIELDS, Kind

    return frozenset(n for n, f in FIELDS.items() if f.kind in (Kind.STRING_LIST, Kind.ATTACHMENTS))


def _columns() -> tuple[str, ...]:
    from feedkit.schema import FIELDS

    return (*FIELDS, "created_at")


def answer_activities(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """A query or feed answer's bytes -> its activities as plain dicts, and its ``next``
    cursor; ``ValueError`` when the bytes are not a JSON object."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return list(data.get("activities") or []), data.get("next") or None


def activities(items: Sequence[dict[str, Any]]) -> list[Activity]:
    return [Activity(a) for a in items]
