"""One import line applied to the embedded store: the REST write of its kind, then its history.

A line goes through the resource's own service (so it is checked and stored exactly as the API
would store it: :mod:`feedkit.server.activities`, :mod:`feedkit.server.users`, ...) as an
upsert, inside the caller's transaction (each line a savepoint of it: a refused line writes
nothing). Then the times the file gives (``created_at``, ``updated_at``; the API sets both
itself) replace the ones the write set: the history of the old app is kept. In ``insert``
mode a line whose item exists already is skipped, as the vendor's importer does ("--mode insert
to only insert new items and skip existing ones", getstream.io/chat/docs/*/import).

The file's names are the import format's (``tests/reference/import-schemas``); the request's
are :data:`feedkit.resources.RESOURCES`' ``import_names`` read backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from feedkit.resources import HISTORY_FIELDS, RESOURCES
from feedkit.schema import parse_time
from feedkit.server.auth import Principal
from feedkit.server.problems import INPUT_ERROR, Problem
from feedkit.server.service import AppService

__all__ = ["APPLY", "Importer", "item_key"]

APP = Principal(None)  # an import acts for the app itself, as a server-side token does
# Members of a line the REST write does not take: the times go in afterwards (history).
_NOT_SENT = (*HISTORY_FIELDS, "deleted_at", "deactivated_at", "last_feed_get_at", "app_pk")


def _request(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A line's data under the REST request's names, without what the request cannot carry."""
    resource = RESOURCES.get(kind)
    names = {v: k for k, v in resource.import_names.items()} if resource else {}
    return {names.get(k, k): v for k, v in data.items() if k not in _NOT_SENT}


def _user(s: AppService, d: Mapping[str, Any]) -> None:
    s.users.update(APP, {"users": {d["id"]: _request("user", d)}})


def _activity(s: AppService, d: Mapping[str, Any]) -> None:
    s.activities.upsert_activities(APP, {"activities": [_request("activity", d)]})


def _follow(s: AppService, d: Mapping[str, Any]) -> None:
    body = _request("follow", d)
    follow = {k: body[k] for k in ("source", "target", "push_preference", "custom") if k in body}
    s.follows.follow_batch(APP, {"follows": [follow]})


def _comment(s: AppService, d: Mapping[str, Any]) -> None:
    body = _request("comment", d)
    body.pop("status", None)
    with s.store.reading() as db:
        exists = db.execute("SELECT 1 FROM comments WHERE id = ?", (d["id"],)).fetchone()
    if exists:  # an upsert: the text and the rest of an existing comment are replaced
        keep = ("comment", "attachments", "custom", "mentioned_user_ids", "user_id")
        s.comments.update_comment(APP, d["id"], {k: body.get(k) for k in keep})
    else:
        s.comments.add_comments_batch(APP, {"comments": [body]})


def _reaction(s: AppService, d: Mapping[str, Any]) -> None:
    body = {k: d[k] for k in ("type", "user_id", "custom") if k in d}
    if d.get("comment_id"):
        s.comment_reactions.add_comment_reaction(APP, d["comment_id"], body)
    else:
        s.reactions.add_activity_reaction(APP, d["activity_id"], body)


def _bookmark(s: AppService, d: Mapping[str, Any]) -> None:
    if d.get("object_type", "activity") != "activity":
        raise Problem.invalid({"object_type": "only activity bookmarks can be imported here"})
    activity_id = d.get("object_id") or d["activity_id"]
    body = {k: d[k] for k in ("user_id", "folder_id", "custom") if k in d}
    key = item_key("bookmark", d)
    with s.store.reading() as db:
        exists = db.execute(
            "SELECT 1 FROM bookmarks WHERE activity_id = ? AND user_id = ? AND folder_id = ?",
            list(key.values()),
        ).fetchone()
    if exists:
        s.bookmarks.update_bookmark(APP, activity_id, body)
    else:
        s.bookmarks.add_bookmark(APP, activity_id, body)


def _feed_group(s: AppService, d: Mapping[str, Any]) -> None:
    body = {k: v for k, v in _request("feed_group", d).items() if k not in ("id", "group_id")}
    s.feed_groups.get_or_create_feed_group(APP, d["group_id"], {})
    if body:
        s.feed_groups.update_feed_group(APP, d["group_id"], body)


def _feed(s: AppService, d: Mapping[str, Any]) -> None:
    keys = ("name", "description", "custom", "visibility", "filter_tags")
    s.feeds._write_feed(d["fid"], d["created_by_id"], {k: d[k] for k in keys if k in d})


def _feed_view(s: AppService, d: Mapping[str, Any]) -> None:
    body = {k: v for k, v in _request("feed_view", d).items() if k != "view_id"}
    s.feed_views.get_or_create_feed_view(APP, d["view_id"], {})
    if body:
        s.feed_views.update_feed_view(APP, d["view_id"], body)


def _unsupported(s: AppService, d: Mapping[str, Any]) -> None:
    raise Problem(400, INPUT_ERROR, "collection lines are not supported by the embedded server")


# How each line type is written (the REST write of its kind, as an upsert).
APPLY: dict[str, Callable[[AppService, Mapping[str, Any]], None]] = {
    "user": _user,
    "feed_group": _feed_group,
    "feed_view": _feed_view,
    "feed": _feed,
    "activity": _activity,
    "follow": _follow,
    "comment": _comment,
    "reaction": _reaction,
    "bookmark": _bookmark,
    "collection": _unsupported,
}

# The table each line type is stored in, and the columns naming one item from its data.
_KEYS: dict[str, tuple[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "user": ("users", lambda d: {"id": d["id"]}),
    "feed_group": ("feed_groups", lambda d: {"id": d["group_id"]}),
    "feed_view": ("feed_views", lambda d: {"id": d["view_id"]}),
    "feed": ("feeds", lambda d: {"fid": d["fid"]}),
    "activity": ("activities", lambda d: {"id": d["id"]}),
    "follow": ("follows", lambda d: {"source": d["source_fid"], "target": d["target_fid"]}),
    "comment": ("comments", lambda d: {"id": d["id"]}),
    "reaction": ("reactions", lambda d: {
        "object_type": "comment" if d.get("comment_id") else "activity",
        "object_id": d.get("comment_id") or d["activity_id"],
        "user_id": d["user_id"], "type": d["type"]}),
    "bookmark": ("bookmarks", lambda d: {
        "activity_id": d.get("object_id") or d["activity_id"], "user_id": d["user_id"],
        "folder_id": d.get("folder_id") or ""}),
}  # fmt: skip


def item_key(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The columns naming a line's item in its table."""
    return _KEYS[kind][1](data)


def _where(kind: str, data: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    table, _ = _KEYS[kind]
    key = item_key(kind, data)
    return table, " AND ".join(f"{c} = ?" for c in key), list(key.values())


class Importer:
    """Applies lines to one app's store: ``mode`` "upsert" or "insert"."""

    def __init__(self, service: AppService, mode: str = "upsert") -> None:
        self.service = service
        self.store = service.store
        self.mode = mode

    def apply(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Write one line in a savepoint of the caller's transaction: False when ``insert``
        mode skips it (its item exists). Raises :class:`Problem` for a line refused."""
        with self.store.transaction() as db:
            if kind in _KEYS and self.mode == "insert":
                table, where, params = _where(kind, data)
                if db.execute(f"SELECT 1 FROM {table} WHERE {where}", params).fetchone():
                    return False
            try:
                APPLY[kind](self.service, data)
            except (KeyError, TypeError, ValueError) as exc:  # a member the schema allows odd
                raise Problem.invalid({"data": f"cannot be applied: {exc!r}"}) from None
            self._history(db, kind, data)
        return True

    def _history(self, db: Any, kind: str, data: Mapping[str, Any]) -> None:
        """The file's created_at and updated_at (updated_at: created_at when only it is
        given) in place of the write's own."""
        if kind not in _KEYS or not any(data.get(t) for t in HISTORY_FIELDS):
            return
        try:
            times = {t: parse_time(data[t]) for t in HISTORY_FIELDS if data.get(t)}
        except (TypeError, ValueError) as exc:
            raise Problem.invalid({"data.created_at": f"is not a date-time: {exc}"}) from None
        times.setdefault("updated_at", times.get("created_at", 0))
        table, where, params = _where(kind, data)
        sets = ", ".join(f"{t} = ?" for t in times)
        db.execute(f"UPDATE {table} SET {sets} WHERE {where}", [*times.values(), *params])
        if kind == "activity" and "created_at" in times:  # feed pages are ordered by it
            db.execute(
                "UPDATE activity_keys SET created_at = ? WHERE rid = "
                "(SELECT rid FROM activities WHERE id = ?)",
                (times["created_at"], data["id"]),
            )
