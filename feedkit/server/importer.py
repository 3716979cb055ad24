"""Import lines applied to the embedded store: the REST write of their kind, then their history.

A line goes through the resource's own service (so it is checked and stored exactly as the API
would store it: :mod:`feedkit.server.activities`, :mod:`feedkit.server.users`, ...) as an
upsert, inside the caller's transaction. Then the times the file gives (``created_at``,
``updated_at``; the API sets both itself) replace the ones the write set: the history of the
old app is kept. In ``insert`` mode a line whose item exists already is skipped, as the
vendor's importer does ("--mode insert to only insert new items and skip existing ones",
getstream.io/chat/docs/*/import).

A run of lines of one kind that has a batch write (users, activities, follows, comments,
reactions, bookmarks: :data:`APPLY_MANY`, each its service's write without the answer the API
would render) is written by one call of it in one savepoint, then the run's history by one
statement a stretch; when that refuses (one bad line refuses the batch), the run is applied
again line by line, each in its own savepoint, so only the bad lines are refused and the rest
are stored. A run is cut before a line naming an item named earlier in it, so each item's
write and history come in the order writing line by line gives them.

The file's names are the import format's (``tests/reference/import-schemas``); the request's
are :data:`feedkit.resources.RESOURCES`' ``import_names`` read backwards.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from feedkit.resources import HISTORY_FIELDS, RESOURCES
from feedkit.schema import parse_time
from feedkit.server.activities import Prepared
from feedkit.server.auth import APP
from feedkit.server.problems import INPUT_ERROR, Problem
from feedkit.server.service import AppService
from feedkit.server.store import History

__all__ = [
    "APPLY",
    "APPLY_MANY",
    "Importer",
    "Line",
    "Outcome",
    "history",
    "item_key",
    "reason",
    "request",
]

# A line's number in the file and its data, or (a run of activities read ahead by a worker)
# the activity made ready to write: :class:`feedkit.server.activities.Prepared`.
Line = tuple[int, Any]
# Members of a line the REST write does not take: the times go in afterwards (history).
_NOT_SENT = (*HISTORY_FIELDS, "deleted_at", "deactivated_at", "last_feed_get_at", "app_pk")


@functools.cache
def _request_names(kind: str) -> dict[str, str]:
    """The REST request's name of each of a line type's names that differs."""
    resource = RESOURCES.get(kind)
    return {v: k for k, v in resource.import_names.items()} if resource else {}


def request(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A line's data under the REST request's names, without what the request cannot carry."""
    names = _request_names(kind)
    return {names.get(k, k): v for k, v in data.items() if k not in _NOT_SENT}


def history(data: Mapping[str, Any]) -> History:
    """A line's (created_at, updated_at), None where the file gives none."""
    try:
        created, updated = (parse_time(data[t]) if data.get(t) else None for t in HISTORY_FIELDS)
    except (TypeError, ValueError) as exc:
        raise Problem.invalid({"data.created_at": f"is not a date-time: {exc}"}) from None
    return created, updated


def _users(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    """Users replaced whole by their lines; a line naming a user and nothing more (what a
    file of reactions, say, writes for each user it names) creates the user if missing and
    leaves one that exists as it is: it never wipes a user's name or custom data."""
    named = {d["id"] for d in lines if set(d) != {"id"}}
    bare = [d["id"] for d in lines if set(d) == {"id"} and d["id"] not in named]
    missing = set(bare) - set(s.store.get_users(db, bare)) if bare else set()
    kept = {d["id"]: request("user", d) for d in lines if set(d) != {"id"} or d["id"] in missing}
    if kept:
        s.users.write_users(db, {"users": kept})


def _activities(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    items = [request("activity", d) for d in lines]
    s.activities.write_activities(db, items, [history(d) for d in lines])


def _follows(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    keys = ("source", "target", "push_preference", "custom")
    bodies = [request("follow", d) for d in lines]
    s.follows.write_follows(db, [{k: b[k] for k in keys if k in b} for b in bodies])


def _comments(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    bodies = [request("comment", d) for d in lines]
    for body in bodies:
        body.pop("status", None)
    s.comments.write_comments(db, bodies)


def _reactions(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    """Those on activities, then those on comments (reactions on two objects never meet)."""
    on: dict[bool, list[tuple[str, dict[str, Any]]]] = {False: [], True: []}
    for d in lines:
        body = {k: d[k] for k in ("type", "user_id", "custom") if k in d}
        on[bool(d.get("comment_id"))].append((d.get("comment_id") or d["activity_id"], body))
    s.reactions.write_activity_reactions(db, on[False])
    s.comment_reactions.write_comment_reactions(db, on[True])


def _bookmarks(s: AppService, db: Any, lines: Sequence[Mapping[str, Any]]) -> None:
    items = []
    for d in lines:
        if d.get("object_type", "activity") != "activity":
            raise Problem.invalid({"object_type": "only activity bookmarks can be imported here"})
        body = {k: d[k] for k in ("user_id", "folder_id", "custom") if k in d}
        items.append((d.get("object_id") or d["activity_id"], body))
    s.bookmarks.write_bookmarks(db, items)


def _feed_group(s: AppService, d: Mapping[str, Any]) -> None:
    body = {k: v for k, v in request("feed_group", d).items() if k not in ("id", "group_id")}
    s.feed_groups.get_or_create_feed_group(APP, d["group_id"], {})
    if body:
        s.feed_groups.update_feed_group(APP, d["group_id"], body)


def _feed(s: AppService, d: Mapping[str, Any]) -> None:
    keys = ("name", "description", "custom", "visibility", "filter_tags")
    s.feeds._write_feed(d["fid"], d["created_by_id"], {k: d[k] for k in keys if k in d})


def _feed_view(s: AppService, d: Mapping[str, Any]) -> None:
    body = {k: v for k, v in request("feed_view", d).items() if k != "view_id"}
    s.feed_views.get_or_create_feed_view(APP, d["view_id"], {})
    if body:
        s.feed_views.update_feed_view(APP, d["view_id"], body)


def _unsupported(s: AppService, d: Mapping[str, Any]) -> None:
    raise Problem(400, INPUT_ERROR, "collection lines are not supported by the embedded server")


# Line types written a run at a time (the REST batch write of the kind, without its answer),
# in the caller's transaction.
APPLY_MANY: dict[str, Callable[[AppService, Any, Sequence[Mapping[str, Any]]], None]] = {
    "user": _users,
    "activity": _activities,
    "follow": _follows,
    "comment": _comments,
    "reaction": _reactions,
    "bookmark": _bookmarks,
}
# Those that keep their history themselves (the times go into the write).
_OWN_HISTORY = frozenset({"activity"})

# How each other line type is written (the REST write of its kind, as an upsert).
APPLY: dict[str, Callable[[AppService, Mapping[str, Any]], None]] = {
    "feed_group": _feed_group,
    "feed_view": _feed_view,
    "feed": _feed,
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


_NAME = re.compile(r"^[^.\[]+")


def reason(problem: Problem, kind: str) -> str:
    """What a refused line is reported with: each field, in the file's terms (``data.fids``
    for an activity's ``feeds``), and why; or the message."""
    resource = RESOURCES.get(kind)
    names = resource.import_names if resource else {}
    fields = [
        "data." + _NAME.sub(lambda m: names.get(m[0], m[0]), k) if k else "data"
        for k in problem.fields
    ]
    return (
        "; ".join(f"{k}: {v}" for k, v in zip(fields, problem.fields.values(), strict=True))
        or problem.message
    )


@dataclass
class Outcome:
    """What became of a run of lines: how many were stored, skipped (``insert`` mode, the
    item exists), and the refused ones as (line number, reason)."""

    applied: int = 0
    skipped: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _exists(db: Any, kind: str, data: Mapping[str, Any]) -> bool:
    """Whether a line's item is stored already (``insert`` mode skips it)."""
    table, where, params = _where(kind, data)
    return db.execute(f"SELECT 1 FROM {table} WHERE {where}", params).fetchone() is not None


class Importer:
    """Applies lines to one app's store: ``mode`` "upsert" or "insert"."""

    def __init__(self, service: AppService, mode: str = "upsert") -> None:
        self.service = service
        self.store = service.store
        self.mode = mode

    def apply_run(self, kind: str, lines: Sequence[Line]) -> Outcome:
        """Apply lines of one kind, in order, in the caller's transaction: one batch write
        when the kind has one and every line is accepted, else line by line."""
        outcome = Outcome()
        if self.mode == "insert":
            lines = self._new(kind, lines, outcome)
        for part in _parts(kind, lines):
            self._apply_part(kind, part, outcome)
        return outcome

    def _apply_part(self, kind: str, lines: Sequence[Line], outcome: Outcome) -> None:
        if lines and isinstance(lines[0][1], Prepared):
            try:
                with self.store.transaction() as db:
                    written = self.service.activities.write_prepared(db, [d for _, d in lines])
            except (Problem, KeyError, TypeError, ValueError):
                written = False
            if written:
                outcome.applied += len(lines)
                return
            # (an activity exists already, or one id is twice in the run: the usual way)
            lines = [(number, orjson.loads(d.raw)["data"]) for number, d in lines]
        many = APPLY_MANY.get(kind)
        if many is not None and len(lines) > 1:
            try:
                with self.store.transaction() as db:
                    many(self.service, db, [d for _, d in lines])
                    self._history(db, kind, [d for _, d in lines])
            except (Problem, KeyError, TypeError, ValueError):
                pass  # a line of the run is refused: line by line finds which
            else:
                outcome.applied += len(lines)
                return
        for number, data in lines:
            try:
                stored = self.apply(kind, data)
            except Problem as problem:
                outcome.refused.append((number, reason(problem, kind)))
            else:
                outcome.applied += stored
                outcome.skipped += not stored

    def _new(self, kind: str, lines: Sequence[Line], outcome: Outcome) -> list[Line]:
        """The lines whose item is neither stored nor named by an earlier line of the run
        (``insert`` mode keeps the first); the others are counted as skipped."""
        if kind not in _KEYS:
            return list(lines)
        seen: set[tuple[Any, ...]] = set()
        kept = []
        with self.store.reading() as db:
            for line in lines:
                key = tuple(item_key(kind, line[1]).values())
                if key in seen or _exists(db, kind, line[1]):
                    outcome.skipped += 1
                    continue
                seen.add(key)
                kept.append(line)
        return kept

    def apply(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Write one line in a savepoint of the caller's transaction: False when ``insert``
        mode skips it (its item exists). Raises :class:`Problem` for a line refused."""
        with self.store.transaction() as db:
            if kind in _KEYS and self.mode == "insert" and _exists(db, kind, data):
                return False
            try:
                many = APPLY_MANY.get(kind)
                if many is not None:
                    many(self.service, db, [data])
                else:
                    APPLY[kind](self.service, data)
            except (KeyError, TypeError, ValueError) as exc:  # a member the schema allows odd
                raise Problem.invalid({"data": f"cannot be applied: {exc!r}"}) from None
            self._history(db, kind, [data])
        return True

    def _history(self, db: Any, kind: str, lines: Sequence[Mapping[str, Any]]) -> None:
        """The file's created_at and updated_at (updated_at: created_at when only it is
        given) in place of the write's own, for lines written: one statement a stretch of
        lines giving the same times."""
        if kind not in _KEYS or kind in _OWN_HISTORY:
            return
        table, key = _KEYS[kind]
        updates = []
        for data in lines:
            created, updated = history(data)
            times = {"created_at": created,
                     "updated_at": updated if updated is not None else created}  # fmt: skip
            times = {t: v for t, v in times.items() if v is not None}
            if times:
                item = key(data)
                updates.append(((tuple(times), tuple(item)), [*times.values(), *item.values()]))
        for (names, columns), stretch in itertools.groupby(updates, lambda u: u[0]):
            sets = ", ".join(f"{t} = ?" for t in names)
            where = " AND ".join(f"{c} = ?" for c in columns)
            db.executemany(f"UPDATE {table} SET {sets} WHERE {where}", [u[1] for u in stretch])


def _parts(kind: str, lines: Sequence[Line]) -> list[list[Line]]:
    """A run cut before each line naming an item a line before it in its part names: in a
    part, the batch write then the history give what writing line by line gives (the file's
    times of a line, then the next write of its item); a kind that keeps its history in its
    write is one part."""
    if kind not in _KEYS or kind in _OWN_HISTORY:
        return [list(lines)]
    parts: list[list[Line]] = [[]]
    seen: set[Any] = set()
    for line in lines:
        try:
            key: Any = tuple(item_key(kind, line[1]).values())
            hash(key)
        except (KeyError, TypeError):
            key = object()  # no key: the write refuses the line
        if key in seen:
            parts.append([])
            seen.clear()
        seen.add(key)
        parts[-1].append(line)
    return parts
