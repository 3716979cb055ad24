"""Every kind's rows -> typed DataFrames: users, follows, comments (threaded), reactions and
bookmarks, every page of them.

Each frame is built as the activity export builds its own (:mod:`feedkit.activity_table`):
Arrow-backed columns named for the kind's mapping fields (:mod:`feedkit.resources`), so
``Mapping.identity(frame, kind=...)`` imports it back; read-side names turned back into the
request's (``user`` -> ``user_id``, a comment's ``text`` -> ``comment``, a follow's
``source_feed`` -> ``source``); times as timezone-aware timestamps; ``custom`` (and a user's
``teams_role`` and ``privacy_settings``) flattened into dotted columns, typed, with JSON text
where values cannot share a type, marked so (``frame.attrs``) for ``Mapping.identity``::

    >>> import feedkit
    >>> with feedkit.connect(":memory:") as client:
    ...     _ = client.upsert_users([{"id": "ann", "custom": {"city": "Oslo"}}])
    ...     list(users_to_dataframe(client).columns)[-3:]
    ['custom.city', 'created_at', 'updated_at']

What each server lets a whole kind be listed by: users (QueryUsers, by offset), follows,
comments and bookmarks (by cursor) with no filter at all; reactions only of one activity or
one comment (QueryActivityReactions / QueryCommentReactions name it in their path).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feedkit.activity_table import (
    ATTACHMENT,
    STRINGS,
    TS,
    attachment_value,
    object_columns,
    typed_array,
)
from feedkit.client import Client
from feedkit.errors import UsageError
from feedkit.export import frame_table, table_frame, write_csv
from feedkit.files import replacing
from feedkit.progress import counter
from feedkit.resources import HISTORY_FIELDS
from feedkit.schema import MAX_PAGE, parse_time

__all__ = [
    "EXPORTED_KINDS",
    "SHAPES",
    "Shape",
    "bookmarks_to_dataframe",
    "comments_to_dataframe",
    "export_kind",
    "follows_to_dataframe",
    "kind_table",
    "reactions_to_dataframe",
    "users_to_dataframe",
]

Row = Mapping[str, Any]
Columns = tuple[tuple[str, pa.DataType], ...]


@dataclass(frozen=True)
class Shape:
    """How one kind's answered rows become columns: the fixed ones (mapping field names, in
    order), where each is read from in an answer when its name differs, and the objects
    flattened into dotted columns. ``created_at`` and ``updated_at`` close every table."""

    kind: str
    columns: Columns
    read_from: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # column -> path
    roots: tuple[str, ...] = ("custom",)


_STR = pa.string()
SHAPES: dict[str, Shape] = {
    s.kind: s
    for s in (
        Shape("user", (("id", _STR), ("name", _STR), ("image", _STR), ("role", _STR),
                       ("language", _STR), ("invisible", pa.bool_()), ("teams", STRINGS)),
              roots=("teams_role", "privacy_settings", "custom")),
        Shape("follow", (("source", _STR), ("target", _STR), ("push_preference", _STR),
                         ("status", _STR)),
              read_from={"source": ("source_feed", "feed"), "target": ("target_feed", "feed")}),
        Shape("comment", (("id", _STR), ("object_id", _STR), ("object_type", _STR),
                          ("parent_id", _STR), ("user_id", _STR), ("comment", _STR),
                          ("attachments", pa.list_(ATTACHMENT)), ("mentioned_user_ids", STRINGS)),
              read_from={"comment": ("text",), "user_id": ("user", "id"),
                         "mentioned_user_ids": ("mentioned_users", "id")}),
        Shape("reaction", (("activity_id", _STR), ("comment_id", _STR), ("type", _STR),
                           ("user_id", _STR)),
              read_from={"user_id": ("user", "id")}),
        Shape("bookmark", (("activity_id", _STR), ("user_id", _STR), ("folder_id", _STR)),
              read_from={"user_id": ("user", "id"), "folder_id": ("folder", "id")}),
    )
}  # fmt: skip


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    """The member at ``path``; a list on the way is read item by item."""
    for i, key in enumerate(path):
        if isinstance(value, list):
            return [_dig(item, path[i:]) for item in value]
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _value(row: Row, name: str, typ: pa.DataType, path: tuple[str, ...] | None) -> Any:
    """One column's value of an answered row, as its array type takes it."""
    value = row.get(name) if path is None else _dig(row, path)
    if path is not None and value is None:
        value = row.get(name)  # a server answering the request's name
    if typ == TS:
        return None if value is None else parse_time(value)
    if pa.types.is_list(typ):  # of strings, or of attachments
        items = value if typ == STRINGS else [attachment_value(x) for x in value or []]
        return items or None  # an empty list is an unset field
    return value


def kind_table(kind: str, rows: list[Row], extra: Columns = (), **values: list[Any]) -> pa.Table:
    """A table of answered rows of ``kind`` (see the module); ``extra`` columns follow the
    times, their values given by name."""
    shape = SHAPES[kind]
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    for name, typ in shape.columns:
        path = shape.read_from.get(name)
        fields.append(pa.field(name, typ))
        arrays.append(typed_array([_value(r, name, typ, path) for r in rows], typ))
    for root in shape.roots:
        for f, column in object_columns([r.get(root) or {} for r in rows], root):
            fields.append(f)
            arrays.append(column)
    times = tuple((name, TS) for name in HISTORY_FIELDS)
    for name, typ in times + extra:
        given = values[name] if name in values else [_value(r, name, typ, None) for r in rows]
        fields.append(pa.field(name, typ))
        arrays.append(typed_array(given, typ))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _cursor_rows(
    page: Callable[[str | None], Mapping[str, Any]], member: str, bar: Any
) -> Iterator[Row]:
    """Every row of a list query, following ``next``."""
    cursor: str | None = None
    while True:
        answer = page(cursor)
        rows = answer.get(member) or []
        bar.update(len(rows))
        yield from rows
        cursor = answer.get("next")
        if not cursor:
            return


def _and(filter: Mapping[str, Any] | None, **conditions: Any) -> dict[str, Any]:
    """``filter`` with ``conditions`` (those not None) added to it."""
    given = {k: v for k, v in conditions.items() if v is not None}
    if not filter:
        return given
    return {"$and": [dict(filter), given]} if given else dict(filter)


def users_to_dataframe(
    client: Client,
    filter: Mapping[str, Any] | None = None,
    *,
    page_size: int = MAX_PAGE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every user ``filter`` matches (QueryUsers' filter_conditions; all when None), oldest
    first: id, name, image, role, language, invisible, teams, teams_role.*,
    privacy_settings.*, custom.*, created_at, updated_at. Deactivated users are left out, as
    QueryUsers leaves them."""
    rows: list[Row] = []
    with counter(progress, "export users") as bar:
        while True:  # QueryUsers pages by offset: a short page is the last
            page = client.query_users(filter, limit=page_size, offset=len(rows))
            rows += page
            bar.update(len(page))
            if len(page) < page_size:
                break
    return table_frame(kind_table("user", rows))


def follows_to_dataframe(
    client: Client,
    filter: Mapping[str, Any] | None = None,
    *,
    page_size: int = MAX_PAGE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every follow ``filter`` matches (on source_feed, target_feed, push_preference, status;
    all when None), oldest first: source, target, push_preference, status, custom.*,
    created_at, updated_at."""
    with counter(progress, "export follows") as bar:
        rows = list(_cursor_rows(lambda nxt: client.query_follows(
            filter, limit=page_size, next=nxt), "follows", bar))  # fmt: skip
    return table_frame(kind_table("follow", rows))


def comments_to_dataframe(
    client: Client,
    activity_id: str | None = None,
    filter: Mapping[str, Any] | None = None,
    *,
    page_size: int = MAX_PAGE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every comment of ``activity_id`` and/or matching ``filter`` (QueryComments'; every
    comment when both are None), with the replies of each at every depth: id, object_id,
    object_type, parent_id, user_id, comment, attachments, mentioned_user_ids, custom.*,
    created_at, updated_at and ``depth`` (0 for a comment on the activity itself, one more
    than its parent's for a reply). Threads are in order, each comment followed by its
    replies (oldest first), so a parent always comes before its replies. Deleted comments
    are left out, as QueryComments leaves them."""
    where = _and(filter, object_id=activity_id)
    with counter(progress, "export comments") as bar:
        found = {c["id"]: c for c in _comment_rows(client, where, page_size, bar)}
        _add_replies(client, found, page_size, bar)
    rows, depths = _threaded(client, found)
    return table_frame(kind_table("comment", rows, (("depth", pa.int64()),), depth=depths))


def _comment_rows(
    client: Client, where: Mapping[str, Any], page_size: int, bar: Any
) -> Iterator[Row]:
    return _cursor_rows(lambda nxt: client.query_comments(
        where, sort="first", limit=page_size, next=nxt), "comments", bar)  # fmt: skip


def _add_replies(client: Client, found: dict[str, Row], page_size: int, bar: Any) -> None:
    """Add to ``found`` the replies of its comments, level by level, asking only for those
    of comments whose ``reply_count`` says some are missing."""
    asked: set[str] = set()
    while True:
        present: dict[str, int] = defaultdict(int)
        for c in found.values():
            if c.get("parent_id"):
                present[c["parent_id"]] += 1
        missing = [cid for cid, c in found.items()
                   if cid not in asked and (c.get("reply_count") or 0) > present[cid]]  # fmt: skip
        if not missing:
            return
        asked.update(missing)
        for start in range(0, len(missing), page_size):
            where = {"parent_id": {"$in": missing[start : start + page_size]}}
            for c in _comment_rows(client, where, page_size, bar):
                found.setdefault(c["id"], c)


def _threaded(client: Client, found: dict[str, Row]) -> tuple[list[Row], list[int]]:
    """The comments in thread order (each followed by its replies), and each one's depth."""
    replies: dict[str, list[Row]] = defaultdict(list)
    tops: list[Row] = []
    for c in found.values():
        parent = c.get("parent_id")
        (replies[parent] if parent in found else tops).append(c)
    parents: dict[str, str | None] = {}  # the parent of each comment outside ``found``

    def depth_of(comment_id: str | None) -> int:  # of a comment outside ``found``: ask
        level = -1
        while comment_id is not None:
            if comment_id not in parents:
                parents[comment_id] = client.get_comment(comment_id).get("parent_id")
            comment_id, level = parents[comment_id], level + 1
        return level

    rows: list[Row] = []
    depths: list[int] = []
    stack = [(c, depth_of(c.get("parent_id")) + 1) for c in reversed(tops)]
    while stack:
        comment, level = stack.pop()
        rows.append(comment)
        depths.append(level)
        children = sorted(replies[comment["id"]], key=lambda r: (r["created_at"], r["id"]))
        stack += [(r, level + 1) for r in reversed(children)]
    return rows, depths


def reactions_to_dataframe(
    client: Client,
    activity_id: str | None = None,
    comment_id: str | None = None,
    filter: Mapping[str, Any] | None = None,
    *,
    page_size: int = MAX_PAGE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every reaction to one activity or one comment (name exactly one: the API lists the
    reactions of one object at a time), matching ``filter`` (on reaction_type, user_id,
    created_at), newest first: activity_id, comment_id, type, user_id, custom.*, created_at,
    updated_at. A comment's reactions have ``comment_id`` and no ``activity_id`` (a reaction
    is to one of them)."""
    if (activity_id is None) == (comment_id is None):
        raise UsageError(
            "name the activity_id or the comment_id whose reactions to export (one of them): "
            "reactions are listed one object at a time"
        )
    with counter(progress, "export reactions") as bar:
        if comment_id is not None:
            on_comment = _cursor_rows(lambda nxt: client.query_comment_reactions(
                comment_id, filter, limit=page_size, next=nxt), "reactions", bar)  # fmt: skip
            rows: list[Row] = [{**r, "activity_id": None, "comment_id": comment_id}
                               for r in on_comment]  # fmt: skip
        else:
            assert activity_id is not None
            rows = list(_cursor_rows(lambda nxt: client.query_activity_reactions(
                activity_id, filter, limit=page_size, next=nxt), "reactions", bar))  # fmt: skip
    return table_frame(kind_table("reaction", rows))


def bookmarks_to_dataframe(
    client: Client,
    filter: Mapping[str, Any] | None = None,
    *,
    user_id: str | None = None,
    page_size: int = MAX_PAGE,
    progress: bool = True,
) -> pd.DataFrame:
    """Every bookmark ``filter`` matches (on user_id, activity_id, folder_id and times; all
    when None), newest first: activity_id, user_id, folder_id, custom.*, created_at,
    updated_at. A user token (or ``user_id``) lists only that user's. A folder is not a kind
    of row: ``folder_id`` imports back only where that folder exists."""
    with counter(progress, "export bookmarks") as bar:
        rows = list(_cursor_rows(lambda nxt: client.query_bookmarks(
            filter, user_id=user_id, limit=page_size, next=nxt), "bookmarks", bar))  # fmt: skip
    return table_frame(kind_table("bookmark", rows))


# What each kind's export takes besides a filter, and the function that reads it.
_EXPORTS: dict[str, tuple[Callable[..., pd.DataFrame], tuple[str, ...]]] = {
    "user": (users_to_dataframe, ()),
    "follow": (follows_to_dataframe, ()),
    "comment": (comments_to_dataframe, ("activity_id",)),
    "reaction": (reactions_to_dataframe, ("activity_id", "comment_id")),
    "bookmark": (bookmarks_to_dataframe, ("user_id",)),
}
EXPORTED_KINDS = tuple(_EXPORTS)


def export_kind(
    client: Client,
    kind: str,
    path: str | os.PathLike[str],
    *,
    filter: Mapping[str, Any] | None = None,
    progress: bool = True,
    **named: str | None,
) -> tuple[int, str | None]:
    """Write every row of ``kind`` to ``path``: ``.parquet``, or ``.csv`` with the mapping
    that imports it back beside it (``OUT.mapping.toml``). ``named`` are the kind's own
    arguments (``activity_id`` for comments, ``user_id`` for bookmarks...). Returns the
    number of rows and the mapping's path (None for Parquet). A path that cannot be written,
    or an argument the kind does not take, fails before anything is read."""
    if kind not in _EXPORTS:
        raise UsageError(f"cannot export {kind!r}: kinds are {', '.join(EXPORTED_KINDS)}")
    read, takes = _EXPORTS[kind]
    given = {k: v for k, v in named.items() if v is not None}
    refused = sorted(set(given) - set(takes))
    if refused:
        takes_text = f"take only {', '.join(takes)}" if takes else "take none"
        raise UsageError(
            f"{kind} exports {takes_text} (besides a filter), not {', '.join(refused)}"
        )
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    if suffix not in ("parquet", "csv"):
        raise UsageError(f"write a {kind} export to .parquet or .csv, not {os.fspath(path)}")

    def table() -> pa.Table:
        return frame_table(read(client, filter=filter, progress=progress, **given))

    if suffix == "csv":
        return write_csv(table, path, kind)
    with replacing(path) as (part,):
        written = table()
        pq.write_table(written, part)
    return written.num_rows, None
