"""The reactions resource of the embedded server: AddActivityReaction, DeleteActivityReaction,
QueryActivityReactions and BatchQueryActivityReactions, and what an activity answers of its
reactions (``reaction_count``, ``reaction_groups``, ``latest_reactions``, ``own_reactions``).

Reactions on activities and on comments share one table, keyed by (object_type, object_id,
user_id, type): a user holds one reaction of each type on an object. The functions over a
connection take the ``object_type``, so comment reactions use them as they are:
:func:`put_reaction`, :func:`delete_reaction`, :func:`select_reactions`,
:func:`reaction_response` (how a reaction is answered), :func:`reaction_summary` (what an
object answers of its reactions, for a whole page of objects in four indexed queries),
:func:`reaction_page` (a query's page) and :func:`forget_reactions` (those of hard-deleted
objects). :mod:`feedkit.server.comment_reactions` serves the reactions on comments with them.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from feedkit.schema import (
    DEFAULT_PAGE,
    MAX_BATCH,
    MAX_ID,
    FieldError,
    Reason,
)
from feedkit.schema.reaction import (
    LATEST_REACTIONS,
    REACTION_FILTER_FIELDS,
    REACTION_SORT_FIELDS,
    validate_reaction,
)
from feedkit.schema.user import validate_user
from feedkit.server import listing
from feedkit.server.auth import APP, Principal
from feedkit.server.problems import Problem
from feedkit.server.requests import body_object, checked_id, page_limit
from feedkit.server.store import Store, now_ns

if TYPE_CHECKING:
    from feedkit.server.activities import ActivitiesService

__all__ = [
    "ACTIVITY",
    "COLUMNS",
    "COMMENT",
    "REACTION_DEFAULTS",
    "ReactionsService",
    "activity_reactions",
    "checked_reaction",
    "checked_type",
    "comment_reactions",
    "delete_reaction",
    "forget_reactions",
    "put_reaction",
    "reaction_filter",
    "reaction_page",
    "reaction_response",
    "reaction_summary",
    "render_reactions",
    "select_reactions",
]

ACTIVITY = "activity"  # the object_type of a reaction on an activity
COMMENT = "comment"  # and on a comment
# What an object no one reacted to answers.
REACTION_DEFAULTS: dict[str, Any] = {
    "reaction_count": 0, "reaction_groups": {}, "latest_reactions": [], "own_reactions": [],
}  # fmt: skip
# The columns of the reactions table, in the order every read and write names them.
COLUMNS = ("object_type", "object_id", "user_id", "type", "activity_id", "custom",
            "created_at", "updated_at")  # fmt: skip
_SELECT = ", ".join(COLUMNS)
_CHUNK = 100  # objects one statement reads (a compound SELECT holds at most 500 parts)
_FILTER_COLUMNS = {"reaction_type": "type", "comment_id": "object_id"}
_STRING_OPERATORS = ("$eq", "$in")
_FILTER_OPERATORS = {"reaction_type": _STRING_OPERATORS, "user_id": _STRING_OPERATORS,
                     "activity_id": _STRING_OPERATORS, "comment_id": _STRING_OPERATORS,
                     "created_at": ("$eq", "$gt", "$gte", "$lt", "$lte")}  # fmt: skip


# -- the table ---------------------------------------------------------------------------------


def _row(values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values, strict=True))
    row["custom"] = orjson.loads(row["custom"])
    return row


def get_reaction(
    db: sqlite3.Connection, object_type: str, object_id: str, user_id: str, kind: str
) -> dict[str, Any] | None:
    found = db.execute(
        f"SELECT {_SELECT} FROM reactions WHERE object_type = ? AND object_id = ? "
        "AND user_id = ? AND type = ?",
        (object_type, object_id, user_id, kind),
    ).fetchone()
    return _row(found) if found else None


def put_reaction(
    db: sqlite3.Connection,
    object_type: str,
    object_id: str,
    activity_id: str,
    user_id: str,
    kind: str,
    custom: Mapping[str, Any] | None,
    at: int,
    *,
    enforce_unique: bool = False,
) -> dict[str, Any]:
    """Add the user's reaction of this type (one that exists keeps its created_at and takes
    the new custom); ``enforce_unique`` first removes the user's reactions of other types."""
    if enforce_unique:
        db.execute(
            "DELETE FROM reactions WHERE object_type = ? AND object_id = ? AND user_id = ? "
            "AND type != ?",
            (object_type, object_id, user_id, kind),
        )
    db.execute(
        f"INSERT INTO reactions ({_SELECT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (object_type, object_id, user_id, type) DO UPDATE SET "
        "custom = excluded.custom, updated_at = excluded.updated_at",
        (object_type, object_id, user_id, kind, activity_id, orjson.dumps(custom or {}), at, at),
    )
    found = get_reaction(db, object_type, object_id, user_id, kind)
    assert found is not None
    return found


def delete_reaction(
    db: sqlite3.Connection, object_type: str, object_id: str, user_id: str, kind: str
) -> dict[str, Any] | None:
    """Remove the user's reaction of this type; the reaction that was, or None."""
    found = get_reaction(db, object_type, object_id, user_id, kind)
    if found is not None:
        db.execute(
            "DELETE FROM reactions WHERE object_type = ? AND object_id = ? AND user_id = ? "
            "AND type = ?",
            (object_type, object_id, user_id, kind),
        )
    return found


def forget_reactions(db: sqlite3.Connection, object_type: str, object_ids: Sequence[str]) -> None:
    """Remove every reaction on these objects (they were hard-deleted)."""
    db.execute(
        "DELETE FROM reactions WHERE object_type = ? AND object_id IN "
        "(SELECT value FROM json_each(?))",
        (object_type, orjson.dumps(list(object_ids)).decode()),
    )


def select_reactions(
    db: sqlite3.Connection,
    where: str,
    params: Sequence[Any],
    order: str,
    limit: int,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Reactions matching ``where`` (over the table's columns), in ``order``."""
    rows = db.execute(
        f"SELECT {_SELECT} FROM reactions WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_row(r) for r in rows]


# -- answers -----------------------------------------------------------------------------------


def _users(db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored users of these ids, as ``render.user_response`` reads them."""
    ids = list(set(ids))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for uid, created, updated, doc in db.execute(
            "SELECT id, created_at, updated_at, doc FROM users WHERE id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        ):
            out[uid] = {**orjson.loads(doc), "id": uid, "created_at": created,
                        "updated_at": updated}  # fmt: skip
    return out


@functools.cache
def _user_response() -> Callable[..., dict[str, Any]]:
    """``render.user_response``: render imports engagement, whose loaders include this
    module's, so it is imported on first use."""
    from feedkit.server.render import user_response

    return user_response


def reaction_response(
    row: Mapping[str, Any],
    users: dict[str, dict[str, Any]],
    now: int,
    seen: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A reaction as answered (the spec's FeedsReactionResponse); ``users`` holds its user,
    ``seen`` caches rendered users for one answer (a user of many reactions is made once)."""
    out = {
        "activity_id": row["activity_id"],
        "type": row["type"],
        "user": _user_response()(row["user_id"], users, now, seen),
        "custom": row["custom"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if row["object_type"] != ACTIVITY:
        out["comment_id"] = row["object_id"]
    return out


def render_reactions(db: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    users = _users(db, (r["user_id"] for r in rows))
    now = now_ns()
    seen: dict[str, dict[str, Any]] = {}
    return [reaction_response(r, users, now, seen) for r in rows]


def reaction_summary(
    db: sqlite3.Connection, object_type: str, object_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """What each object that has reactions answers of them: ``reaction_count``,
    ``reaction_groups`` (per type: count, first and last reaction time),
    ``latest_reactions`` (the newest ``LATEST_REACTIONS``) and ``own_reactions`` (the
    viewer's, newest first). Counts are grouped in SQL and the latest read by one bounded
    index range per object, so a page costs a few queries whatever the reactions number."""
    ids = list(dict.fromkeys(object_ids))
    out: dict[str, dict[str, Any]] = {}
    latest: list[dict[str, Any]] = []
    own: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        groups = db.execute(
            "SELECT object_id, type, count(*), min(created_at), max(created_at) FROM reactions "
            f"WHERE object_type = ? AND object_id IN ({marks}) GROUP BY object_id, type "
            "ORDER BY object_id, min(created_at)",
            [object_type, *chunk],
        ).fetchall()
        for oid, kind, count, first, last in groups:
            summary = out.setdefault(
                oid,
                {
                    "reaction_count": 0,
                    "reaction_groups": {},
                    "latest_reactions": [],
                    "own_reactions": [],
                },
            )
            summary["reaction_count"] += count
            summary["reaction_groups"][kind] = {
                "count": count, "first_reaction_at": first, "last_reaction_at": last,
            }  # fmt: skip
        reacted = [oid for oid in chunk if oid in out]
        if not reacted:
            continue
        newest = " UNION ALL ".join(
            f"SELECT * FROM (SELECT {_SELECT} FROM reactions WHERE object_type = ? AND "
            "object_id = ? ORDER BY created_at DESC, user_id DESC, type DESC LIMIT ?)"
            for _ in reacted
        )
        params = [p for oid in reacted for p in (object_type, oid, LATEST_REACTIONS)]
        latest += [_row(r) for r in db.execute(newest, params)]
        if viewer is not None:
            own += select_reactions(
                db,
                f"object_type = ? AND object_id IN ({','.join('?' * len(reacted))}) "
                "AND user_id = ?",
                [object_type, *reacted, viewer],
                "created_at DESC, type",
                -1,
            )
    if not out:
        return out
    users = _users(db, (r["user_id"] for r in (*latest, *own)))
    now = now_ns()
    seen: dict[str, dict[str, Any]] = {}
    latest.sort(key=lambda r: -r["created_at"])  # a compound SELECT keeps no order
    for member, rows in (("latest_reactions", latest), ("own_reactions", own)):
        for row in rows:
            out[row["object_id"]][member].append(reaction_response(row, users, now, seen))
    return out


def activity_reactions(
    db: sqlite3.Connection, activity_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """The engagement loader of reactions: :func:`reaction_summary` of activities."""
    return reaction_summary(db, ACTIVITY, activity_ids, viewer)


def comment_reactions(
    db: sqlite3.Connection, comment_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """The comment loader of reactions: :func:`reaction_summary` of comments."""
    return reaction_summary(db, COMMENT, comment_ids, viewer)


# -- requests ----------------------------------------------------------------------------------


def checked_reaction(body: Any) -> dict[str, Any]:
    """An AddActivityReaction or AddCommentReaction body, or one 400 naming every bad field
    (an embedded ``user`` checked as a user)."""
    body = body_object(body)
    errors = validate_reaction(body)
    user = body.get("user")
    if isinstance(user, dict):
        errors += [FieldError(f"user.{e.field}", e.code, e.message, e.value)
                   for e in validate_user({"id": "-", **user})]  # fmt: skip
    elif user is not None:
        errors.append(FieldError("user", Reason.TYPE, "must be an object", user))
    if errors:
        raise Problem.from_field_errors(errors)
    return dict(body)


def checked_type(kind: str) -> str:
    """A reaction type named in a path."""
    if not kind or len(kind) > MAX_ID:
        raise Problem.invalid({"type": f"must be 1 to {MAX_ID} characters"})
    return kind


def reaction_filter(
    conditions: Any, fields: Sequence[str] = REACTION_FILTER_FIELDS
) -> tuple[str, list[Any]]:
    """A reactions filter (``reaction_type``, ``user_id``, ``activity_id``, ``comment_id``: a
    string or ``{"$in": [...]}``; ``created_at``: ``$eq $gt $gte $lt $lte``) of the ``fields``
    an operation allows, as SQL over the reactions table."""
    allowed = {name: _FILTER_OPERATORS[name] for name in fields}
    return listing.conditions_sql(conditions, allowed, _FILTER_COLUMNS)


def _order(sort: Any) -> str:
    """A sort on created_at (direction 1 oldest first, -1 newest first); newest first when
    none is given."""
    if sort is not None and not isinstance(sort, list):
        raise Problem.invalid({"sort": "must be a list of {field, direction}"})
    direction = "DESC"
    for i, item in enumerate(sort or []):
        if not isinstance(item, dict) or item.get("field") not in REACTION_SORT_FIELDS:
            raise Problem.invalid({f"sort[{i}].field": "sort on created_at"})
        if item.get("direction", 1) not in (1, -1):
            raise Problem.invalid({f"sort[{i}].direction": "must be 1 or -1"})
        direction = "DESC" if item.get("direction", 1) == -1 else "ASC"
    # every term one way, so an object's reactions are read in index order (reactions_newest)
    return ", ".join(f"{c} {direction}" for c in ("created_at", "object_id", "user_id", "type"))


def reaction_page(
    db: sqlite3.Connection, where: str, params: list[Any], body: dict[str, Any]
) -> dict[str, Any]:
    """One page of reactions as answered, with its next and prev cursors."""
    order = _order(body.get("sort"))
    limit = page_limit(body, DEFAULT_PAGE)
    offset = listing.page_offset(body, "reactions")
    rows = select_reactions(db, where, params, order, limit + 1, offset)
    out: dict[str, Any] = {"reactions": render_reactions(db, rows[:limit])}
    return listing.paged(out, "reactions", offset, limit, len(rows) > limit)


class ReactionsService:
    """Reactions on activities, checked and written over the activities service's store."""

    def __init__(self, store: Store, activities: ActivitiesService) -> None:
        self.store = store
        self.activities = activities

    def _activity(self, db: Any, principal: Principal, activity_id: str) -> dict[str, Any]:
        """The stored activity, or a 404; a user token must also be able to see it."""
        checked_id(activity_id, "activity_id")
        rec = self.activities._load(db, activity_id)
        if principal.user_id is not None and not self.activities._visible(
            db, rec, principal.user_id
        ):
            raise Problem.not_found(f"activity {activity_id!r}")
        return rec

    def _actor(self, principal: Principal, body: dict[str, Any]) -> str:
        actor = self.activities._actor(principal, body)
        if actor is None:
            raise Problem.invalid({"user_id": "is required for server-side requests"})
        return actor

    def react(
        self, db: Any, object_type: str, object_id: str, activity_id: str, body: Any, actor: str
    ) -> dict[str, Any]:
        """Store a checked reaction request of ``actor`` on a found object (its embedded user
        and its user made or updated first); the stored reaction."""
        now = self.store.tick()
        self.activities._upsert_embedded_users(db, [body], now)
        self.store.ensure_users(db, [actor], now)
        return put_reaction(db, object_type, object_id, activity_id, actor, body["type"],
                            body.get("custom"), now,
                            enforce_unique=bool(body.get("enforce_unique")))  # fmt: skip

    def write_activity_reactions(self, db: Any, items: Sequence[tuple[str, Any]]) -> None:
        """AddActivityReaction without its answer (nor ``target_feeds``' shares), in the
        caller's transaction, for the app itself (an import batch): ``items`` are
        (activity id, request body)."""
        for activity_id, body in items:
            body = checked_reaction(body)
            actor = self._actor(APP, body)
            rec = self._activity(db, APP, activity_id)
            self.react(db, ACTIVITY, rec["id"], rec["id"], body, actor)

    def share(
        self, db: Any, principal: Principal, activity_id: str, body: dict[str, Any], actor: str
    ) -> Any:
        """The answered activity a reaction request's ``target_feeds`` get: of the reaction's
        type, by the reacting user, sharing the activity."""
        share = {"type": body["type"], "feeds": body["target_feeds"],
                 "parent_id": activity_id, "user_id": actor}  # fmt: skip
        pairs = self.activities._validate_new([share], principal, "target_feeds.")
        written = self.activities._write(db, pairs, principal)
        return self.activities._render(db, written, actor)[0]

    def add_activity_reaction(
        self, principal: Principal, activity_id: str, body: Any
    ) -> dict[str, Any]:
        """AddActivityReaction: the activity with its reactions after the change, and the
        reaction; ``target_feeds`` also get an activity of the reaction's type sharing it."""
        body = checked_reaction(body)
        actor = self._actor(principal, body)
        with self.store.transaction() as db:
            rec = self._activity(db, principal, activity_id)
            row = self.react(db, ACTIVITY, rec["id"], rec["id"], body, actor)
            answer: dict[str, Any] = {"reaction": render_reactions(db, [row])[0]}
            if body.get("target_feeds"):
                answer["reference_activity"] = self.share(db, principal, rec["id"], body, actor)
                rec = self.activities._load(db, rec["id"])  # its share_count changed
            answer["activity"] = self.activities._render(db, [rec], actor)[0]
            return answer

    def delete_activity_reaction(
        self, principal: Principal, activity_id: str, kind: str, user_id: str | None
    ) -> dict[str, Any]:
        """DeleteActivityReaction: the acting user's reaction of this type; the activity as
        it is after, and the reaction that was."""
        actor = self._actor(principal, {"user_id": user_id})
        checked_type(kind)
        with self.store.transaction() as db:
            rec = self._activity(db, principal, activity_id)
            row = delete_reaction(db, ACTIVITY, rec["id"], actor, kind)
            if row is None:
                raise Problem.not_found(
                    f"reaction {kind!r} of user {actor!r} on activity {activity_id!r}"
                )
            return {
                "activity": self.activities._render(db, [rec], actor)[0],
                "reaction": render_reactions(db, [row])[0],
            }

    def query_activity_reactions(
        self, principal: Principal, activity_id: str, body: Any
    ) -> dict[str, Any]:
        """QueryActivityReactions: one activity's reactions, filtered on reaction_type,
        user_id and created_at, newest first unless sorted; paged by next/prev cursors."""
        body = body_object(body)
        where, params = reaction_filter(body.get("filter"))
        with self.store.reading() as db:
            rec = self._activity(db, principal, activity_id)
            return reaction_page(db, f"object_type = ? AND object_id = ? AND {where}",
                                 [ACTIVITY, rec["id"], *params], body)  # fmt: skip

    def batch_query(
        self, principal: Principal, body: Any, object_type: str, key: str
    ) -> dict[str, Any]:
        """One user's reactions on up to 100 objects of ``object_type`` (their ids under
        ``key``), filtered on reaction_type and created_at; ids that name none find none."""
        body = body_object(body)
        ids = body.get(key)
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_BATCH:
            raise Problem.invalid({key: f"is required: a list of 1 to {MAX_BATCH} "
                                   f"{object_type} ids"})  # fmt: skip
        clean = [checked_id(x, f"{key}[{i}]") for i, x in enumerate(ids)]
        actor = self._actor(principal, body)
        where, params = reaction_filter(body.get("filter"), ("reaction_type", "created_at"))
        marks = ",".join("?" * len(clean))
        with self.store.reading() as db:
            return reaction_page(db, f"object_type = ? AND object_id IN ({marks}) AND "
                                 f"user_id = ? AND {where}",
                                 [object_type, *clean, actor, *params], body)  # fmt: skip

    def batch_query_activity_reactions(self, principal: Principal, body: Any) -> dict[str, Any]:
        """BatchQueryActivityReactions: one user's reactions on up to 100 activities."""
        return self.batch_query(principal, body, ACTIVITY, "activity_ids")
