"""What the client returns: activities and pages that read well in a notebook.

An :class:`Activity` is the response's JSON object as a ``dict`` (timestamps stay integers of
nanoseconds, exactly as sent), with attribute access, datetimes on demand and an HTML view.
A :class:`Page` is one page of activities with its ``next``/``prev`` cursors.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

TIME_FIELDS = frozenset({"created_at", "updated_at", "expires_at", "deleted_at", "edited_at"})


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
            return user.get("id")
        if name == "mentioned_user_ids":
            return [u.get("id") for u in self.get("mentioned_users") or []]
        if name.startswith("_") or name not in self:
            raise AttributeError(name)
        value = self[name]
        if name in TIME_FIELDS and isinstance(value, int):
            return ns_to_datetime(value)
        return value

    def to_request(self) -> dict[str, Any]:
        """The request fields this activity was made of (see :func:`request_fields`)."""
        return request_fields(self)

    def _repr_html_(self) -> str:
        rows = []
        for key in (
            "id",
            "type",
            "feeds",
            "user_id",
            "text",
            "visibility",
            "custom",
            "filter_tags",
            "created_at",
            "updated_at",
            "expires_at",
            "deleted_at",
        ):
            try:
                value = getattr(self, key)
            except AttributeError:
                continue
            if value in (None, [], {}):
                continue
            rows.append(
                f"<tr><th style='text-align:left'>{key}</th>"
                f"<td style='text-align:left'>{html.escape(str(value))}</td></tr>"
            )
        return f"<table><caption>Activity</caption>{''.join(rows)}</table>"


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

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th>{h}</th>" for h in ("id", "type", "user", "feeds", "text", "created_at")
        )
        body = []
        for a in self.activities[:50]:
            cells = (
                a.get("id"),
                a.get("type"),
                a.user_id,
                ", ".join(a.get("feeds") or []),
                a.get("text") or "",
                a.created_at if "created_at" in a else "",
            )
            body.append(
                "<tr>"
                + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in cells)
                + "</tr>"
            )
        more = "more pages follow" if self.next else "last page"
        title = f"feed {self.feed['feed']}: " if self.feed else ""
        return (
            f"<table><caption>{title}{len(self)} activities ({more})</caption>"
            f"<tr>{head}</tr>{''.join(body)}</table>"
        )


def answer_activities(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """A query or feed answer's bytes -> its activities as plain dicts, and its ``next``
    cursor; ``ValueError`` when the bytes are not a JSON object."""
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return list(data.get("activities") or []), data.get("next") or None


def activities(items: Sequence[dict[str, Any]]) -> list[Activity]:
    return [Activity(a) for a in items]
