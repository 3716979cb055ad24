"""The comments resource of the embedded server: AddComment, AddCommentsBatch, GetComment,
GetComments, GetCommentReplies, QueryComments, UpdateComment, UpdateCommentPartial,
DeleteComment and RestoreComment, and what an activity answers about its comments.

A comment is on an activity that exists, or replies to a comment on the same activity; its
author is the acting user (a user token comments as itself). Every comment is answered by
:func:`feedkit.server.comment_render.comment_response`; threaded reads (GetComments,
GetCommentReplies) nest ``replies`` and their ``meta`` down to the depth asked.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from feedkit.schema import DEFAULT_PAGE, MAX_PAGE, FieldError, Reason, apply_partial
from feedkit.schema.comment import (
    COMMENT_SORTS,
    DEFAULT_DEPTH,
    DEFAULT_OBJECT_TYPE,
    DEFAULT_REPLIES_LIMIT,
    DEFAULT_SORT,
    MAX_DEPTH,
    MAX_REPLIES_LIMIT,
    MAX_REPLY_PAGE,
    validate_comment,
    validate_comment_partial,
)
from feedkit.server import comment_store as cs
from feedkit.server import listing
from feedkit.server.activities import ActivitiesService
from feedkit.server.auth import APP, Principal
from feedkit.server.comment_filter import compile_comment_filter
from feedkit.server.comment_render import render_comments
from feedkit.server.dependents import forget_comments
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.requests import body_list, body_object, checked_id, page_limit
from feedkit.server.store import Store

__all__ = ["CommentsService"]

_CURSOR = "comments"
# The members of an UpdateComment body: what an upsert of a stored comment replaces.
_UPDATED = ("comment", "attachments", "custom", "mentioned_user_ids", "user_id")


def _number(query: Mapping[str, Any], name: str, low: int, high: int, default: int) -> int:
    """An integer query parameter from ``low`` to ``high``, or ``default`` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise Problem.invalid({name: f"must be an integer from {low} to {high}"}) from None
    if not low <= value <= high:
        raise Problem.invalid({name: f"is {value}; must be from {low} to {high}"})
    return value


def _sort(value: Any, name: str = "sort") -> str:
    if value is None or value == "":
        return DEFAULT_SORT
    if value not in COMMENT_SORTS:
        raise Problem.invalid({name: f"must be one of {', '.join(COMMENT_SORTS)}"})
    return str(value)


def _replaced(body: dict[str, Any]) -> dict[str, Any]:
    """The changes of an UpdateComment body (each field given replaces the stored one), or one
    400 naming every bad field."""
    errors = validate_comment(body, new=False)
    if errors:
        raise Problem.from_field_errors(errors)
    given = {"text": body.get("comment"), "attachments": body.get("attachments"),
             "custom": body.get("custom"),
             "mentioned_user_ids": body.get("mentioned_user_ids")}  # fmt: skip
    return {"set": {k: v for k, v in given.items() if v is not None}}


class CommentsService:
    def __init__(self, store: Store, activities: ActivitiesService) -> None:
        self.store = store
        self.activities = activities

    # -- helpers ----------------------------------------------------------------------------

    def _actor(self, principal: Principal, body: Mapping[str, Any]) -> str | None:
        requested = body.get("user_id")
        user = body.get("user")
        if requested is None and isinstance(user, dict):
            requested = user.get("id")
        if requested is not None and (not isinstance(requested, str) or not requested):
            raise Problem.invalid({"user_id": "must be a non-empty string"})
        return principal.acting_as(requested)

    def _load(self, db: sqlite3.Connection, comment_id: str) -> dict[str, Any]:
        found = cs.get_comments(db, [comment_id]).get(comment_id)
        if found is None:
            raise Problem.not_found(f"comment {comment_id!r}")
        return found

    def _author_check(self, principal: Principal, comment: dict[str, Any]) -> None:
        if principal.user_id is not None and principal.user_id != comment["user_id"]:
            raise Problem(
                403,
                NOT_ALLOWED,
                f"user {principal.user_id!r} cannot change comment {comment['id']!r} of user "
                f"{comment['user_id']!r}",
            )

    def _object(self, db: sqlite3.Connection, object_id: str, viewer: str | None) -> None:
        """Refuse (404) an activity that does not exist, is deleted, or that ``viewer`` may
        not see (the visibility rules of activity reads)."""
        record = self.activities._load(db, object_id)
        if viewer is not None and not self.activities._visible(db, record, viewer):
            raise Problem.not_found(f"activity {object_id!r}")

    def _activity(self, db: sqlite3.Connection, comment: dict[str, Any]) -> Any:
        """The activity a comment is on, answered as it is now (soft-deleted ones too)."""
        record = self.activities._load(db, comment["object_id"], deleted=True)
        return self.activities._render(db, [record])[0]

    def _one(self, db: sqlite3.Connection, comment: dict[str, Any], viewer: str | None) -> Any:
        return render_comments(db, [comment], viewer)[comment["id"]]

    # -- writes -----------------------------------------------------------------------------

    def _add(
        self,
        db: sqlite3.Connection,
        requests: Sequence[tuple[dict[str, Any], str]],
        prefix: str,
        user: str | None,
    ) -> list[dict[str, Any]]:
        """Store checked comment requests (body, author) in order, each at its own tick, as
        one at a time would (a reply may answer a comment made before it; the first refused
        is answered, ``prefix`` formatted with its index naming it); the stored comments. A
        user token (``user``) comments only on activities it may see. What they refer to is
        read once, and they are written in a few statements."""
        given = [b.get(k) for b, _ in requests for k in ("parent_id", "id")]
        stored = cs.get_comments(db, [i for i in given if isinstance(i, str)])
        objects = {str(b.get("object_id")) for b, _ in requests}
        objects.update(c["object_id"] for c in stored.values())
        activities = cs.activities_of(db, objects)
        made: dict[str, dict[str, Any]] = {}
        for i, (body, actor) in enumerate(requests):
            where = prefix.format(i=i)
            parent_id = body.get("parent_id")
            object_type = body.get("object_type") or DEFAULT_OBJECT_TYPE
            object_id = body.get("object_id")
            if parent_id is not None:
                parent = made.get(parent_id) or stored.get(parent_id)
                if parent is None or parent.get("deleted_at") is not None:
                    raise Problem.not_found(f"comment {parent_id!r} ({where}parent_id)")
                same = object_id in (None, parent["object_id"]) and (
                    body.get("object_type") in (None, parent["object_type"]))  # fmt: skip
                if not same:
                    raise Problem.invalid({f"{where}parent_id": f"comment {parent_id!r} is on "
                                           f"{parent['object_type']} {parent['object_id']!r}, "
                                           f"not on {object_type} {object_id!r}"})  # fmt: skip
                object_type, object_id = parent["object_type"], parent["object_id"]
            record = activities.get(str(object_id))
            if record is None or record.get("deleted_at") is not None:
                raise Problem.not_found(f"activity {str(object_id)!r}")
            if user is not None and not self.activities._visible(db, record, user):
                raise Problem.not_found(f"activity {str(object_id)!r}")
            comment_id = body.get("id") or str(uuid.uuid4())
            if comment_id in made or comment_id in stored:
                raise Problem.invalid({f"{where}id": f"comment {comment_id!r} already exists"})
            now = self.store.tick()
            mentioned = body.get("mentioned_user_ids") or []
            made[comment_id] = {
                "id": comment_id, "object_type": object_type, "object_id": object_id,
                "parent_id": parent_id, "user_id": actor, "created_at": now, "updated_at": now,
                "text": body.get("comment"), "attachments": body.get("attachments") or [],
                "custom": body.get("custom") or {},
                "mentioned_user_ids": list(dict.fromkeys(mentioned)),
            }  # fmt: skip
        comments = list(made.values())
        users = [(u, c["created_at"]) for c in comments
                 for u in (c["user_id"], *c["mentioned_user_ids"])]  # fmt: skip
        self.store.ensure_users_at(db, users)
        cs.insert_comments(db, comments)
        return comments

    def _checked_new(
        self, principal: Principal, items: Sequence[Any], prefix: str
    ) -> list[tuple[dict[str, Any], str]]:
        """(body, author) of each new comment, or one 400 naming every bad field."""
        errors: list[FieldError] = []
        out = []
        for i, body in enumerate(items):
            where = prefix.format(i=i)
            if not isinstance(body, dict):
                errors.append(FieldError(where.rstrip(".") or "body", Reason.TYPE,
                                         "must be an object"))  # fmt: skip
                continue
            errs = validate_comment(body)
            actor = self._actor(principal, body)
            if actor is None and not any(e.field == "user_id" for e in errs):
                errs.append(
                    FieldError("user_id", Reason.REQUIRED, "is required for server-side requests")
                )
            errors += [FieldError(where + e.field, e.code, e.message) for e in errs]
            out.append((body, actor or ""))
        if errors:
            raise Problem.from_field_errors(errors)
        return out

    def add_comment(self, principal: Principal, body: Any) -> dict[str, Any]:
        ((request, actor),) = self._checked_new(principal, [body_object(body)], "")
        with self.store.transaction() as db:
            (comment,) = self._add(db, [(request, actor)], "", principal.user_id)
            return {"comment": self._one(db, comment, actor)}

    def add_comments_batch(self, principal: Principal, body: Any) -> dict[str, Any]:
        """Many comments, all or none; a reply may answer a comment made earlier in the batch."""
        items = body_list(body_object(body), "comments")
        pairs = self._checked_new(principal, items, "comments[{i}].")
        with self.store.transaction() as db:
            made = self._add(db, pairs, "comments[{i}].", principal.user_id)
            answers = render_comments(db, made, principal.user_id)
            return {"comments": [answers[c["id"]] for c in made]}

    def _change(
        self, principal: Principal, comment_id: str, body: dict[str, Any], changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``changes`` (stored names) over a comment of the acting user's."""
        self._actor(principal, body)
        with self.store.transaction() as db:
            updated = self._edit(db, principal, comment_id, changes)
            return {"comment": self._one(db, updated, principal.user_id)}

    def _edit(
        self, db: sqlite3.Connection, principal: Principal, comment_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``changes`` over a comment that is not deleted; the comment as stored."""
        comment = self._load(db, comment_id)
        self._author_check(principal, comment)
        if comment.get("deleted_at") is not None:
            raise Problem.not_found(f"comment {comment_id!r}")
        updated = apply_partial(comment, changes.get("set"), changes.get("unset"))
        now = self.store.tick()
        updated["updated_at"] = now
        if any(updated.get(k) != comment.get(k) for k in ("text", "attachments")):
            updated["edited_at"] = now
        self.store.ensure_users(db, updated.get("mentioned_user_ids") or [], now)
        cs.update_comment(db, updated)
        return updated

    def update_comment(self, principal: Principal, comment_id: str, body: Any) -> dict[str, Any]:
        """UpdateComment: each field given (``comment``, ``attachments``, ``custom``,
        ``mentioned_user_ids``) replaces the stored one; the others are kept."""
        body = body_object(body)
        return self._change(principal, comment_id, body, _replaced(body))

    def write_comments(self, db: sqlite3.Connection, items: Sequence[Any]) -> None:
        """AddCommentsBatch as an upsert, without its answer, in the caller's transaction, for
        the app itself (an import batch), in order (a reply may answer a comment made earlier
        in the batch): a comment whose id is stored takes what UpdateComment would change
        (``_UPDATED``; its author and place stay), any other is added as AddComment adds it."""
        for body in items:
            body = body_object(body)
            if db.execute("SELECT 1 FROM comments WHERE id = ?", (body.get("id"),)).fetchone():
                update = {k: body.get(k) for k in _UPDATED}
                changes = _replaced(update)
                self._actor(APP, update)
                self._edit(db, APP, body["id"], changes)
            else:
                self._add(db, self._checked_new(APP, [body], ""), "", None)

    def update_comment_partial(
        self, principal: Principal, comment_id: str, body: Any
    ) -> dict[str, Any]:
        """UpdateCommentPartial: ``set`` and ``unset`` (``custom.x`` paths reach in)."""
        body = body_object(body)
        set_, unset = body.get("set"), body.get("unset")
        errors = validate_comment_partial(set_, unset)
        if errors:
            raise Problem.from_field_errors(errors)
        return self._change(principal, comment_id, body, {"set": set_, "unset": unset})

    def delete_comment(self, principal: Principal, comment_id: str, hard: bool) -> dict[str, Any]:
        """Soft by default (its replies stay, and so does the thread); ``hard`` removes the
        comment and every reply beneath it. Answers the comment and its activity after."""
        with self.store.transaction() as db:
            comment = self._load(db, comment_id)
            self._author_check(principal, comment)
            now = self.store.tick()
            if hard:
                answer = self._one(db, comment, principal.user_id)
                forget_comments(db, cs.delete_tree(db, comment_id))
                answer.update(status="deleted", deleted_at=now)
            else:
                if comment.get("deleted_at") is None:
                    comment.update(deleted_at=now, updated_at=now)
                    cs.update_comment(db, comment)
                answer = self._one(db, comment, principal.user_id)
            return {"comment": answer, "activity": self._activity(db, comment)}

    def restore_comment(self, principal: Principal, comment_id: str, body: Any) -> dict[str, Any]:
        self._actor(principal, body_object(body))
        with self.store.transaction() as db:
            comment = self._load(db, comment_id)
            self._author_check(principal, comment)
            if comment.get("deleted_at") is None:
                raise Problem.invalid({"id": f"comment {comment_id!r} is not deleted"})
            comment.update(deleted_at=None, updated_at=self.store.tick())
            cs.update_comment(db, comment)
            answer = self._one(db, comment, principal.user_id)
            return {"comment": answer, "activity": self._activity(db, comment)}

    # -- reads ------------------------------------------------------------------------------

    def get_comment(
        self, principal: Principal, comment_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        viewer = principal.acting_as(query.get("user_id") or None)
        with self.store.reading() as db:
            return {"comment": self._one(db, self._load(db, comment_id), viewer)}

    def _thread(
        self,
        db: sqlite3.Connection,
        listed: list[dict[str, Any]],
        sort: str,
        depth: int,
        replies_limit: int,
        viewer: str | None,
    ) -> list[dict[str, Any]]:
        """Threaded answers of ``listed``: ``replies`` nested ``depth`` levels down, at most
        ``replies_limit`` under each, and each comment's ``meta`` of the replies it has."""
        children: dict[str, list[dict[str, Any]]] = {}
        more: dict[str, bool] = {}
        frontier, everything = listed, list(listed)
        for _ in range(depth):
            if not frontier:
                break
            found = cs.replies_of(db, [c["id"] for c in frontier], sort, replies_limit + 1)
            frontier = []
            for parent_id, replies in found.items():
                more[parent_id] = len(replies) > replies_limit
                children[parent_id] = replies[:replies_limit]
                frontier += children[parent_id]
            everything += frontier
        answers = render_comments(db, everything, viewer)

        def build(comment: dict[str, Any], level: int) -> dict[str, Any]:
            out = dict(answers[comment["id"]])
            replies = children.get(comment["id"], [])
            out["replies"] = [build(r, level + 1) for r in replies]
            truncated = level >= depth and out["reply_count"] > 0
            live = sum(1 for r in replies if r.get("deleted_at") is None)
            meta: dict[str, Any] = {
                "has_more": more.get(comment["id"], truncated),
                "remaining": max(0, out["reply_count"] - live),
                "depth_truncated": truncated,
            }
            if meta["has_more"]:
                meta["next_cursor"] = listing.page_token(_CURSOR, len(replies))
            out["meta"] = meta
            return out

        return [build(c, 0) for c in listed]

    def _threaded_page(
        self,
        db: sqlite3.Connection,
        where: str,
        params: list[Any],
        query: Mapping[str, str],
        replies_max: int,
        viewer: str | None,
    ) -> dict[str, Any]:
        sort = _sort(query.get("sort"))
        limit = _number(query, "limit", 0, MAX_PAGE, DEFAULT_PAGE) or DEFAULT_PAGE
        depth = _number(query, "depth", 0, MAX_DEPTH, DEFAULT_DEPTH)
        replies_limit = _number(query, "replies_limit", 0, replies_max, DEFAULT_REPLIES_LIMIT)
        offset = listing.page_offset(query, _CURSOR)
        rows = cs.select_comments(
            db, f"{where} AND {cs.SHOWN}", params, cs.ORDERS[sort], limit + 1, offset
        )
        out: dict[str, Any] = {
            "comments": self._thread(db, rows[:limit], sort, depth, replies_limit or
                                     DEFAULT_REPLIES_LIMIT, viewer),
            "sort": sort,
        }  # fmt: skip
        return listing.paged(out, _CURSOR, offset, limit, len(rows) > limit)

    def get_comments(self, principal: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """GetComments: the top-level comments of an object, threaded."""
        viewer = principal.acting_as(query.get("user_id") or None)
        object_id = checked_id(query.get("object_id"), "object_id")
        object_type = query.get("object_type") or DEFAULT_OBJECT_TYPE
        if object_type != DEFAULT_OBJECT_TYPE:
            raise Problem.invalid({"object_type": f"must be {DEFAULT_OBJECT_TYPE}"})
        with self.store.reading() as db:
            self._object(db, object_id, viewer)
            where = "c.object_type = ? AND c.object_id = ? AND c.parent_id IS NULL"
            return self._threaded_page(
                db, where, [object_type, object_id], query, MAX_REPLIES_LIMIT, viewer
            )

    def get_comment_replies(
        self, principal: Principal, comment_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        """GetCommentReplies: the direct replies of a comment, threaded beneath."""
        viewer = principal.acting_as(query.get("user_id") or None)
        with self.store.reading() as db:
            self._load(db, comment_id)
            return self._threaded_page(
                db, "c.parent_id = ?", [comment_id], query, MAX_REPLY_PAGE, viewer
            )

    def query_comments(self, principal: Principal, body: Any) -> dict[str, Any]:
        """QueryComments: a filter over the comments' fields (deleted ones only when the
        filter names a status), sorted, in pages."""
        body = body_object(body)
        viewer = self._actor(principal, body)
        if not isinstance(body.get("filter"), dict):
            raise Problem.invalid({"filter": "is required: an object"})
        where, params, names_status = compile_comment_filter(body["filter"])
        if not names_status:
            where = f"({where}) AND c.deleted_at IS NULL"
        sort = _sort(body.get("sort"))
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, _CURSOR)
        with self.store.reading() as db:
            rows = cs.select_comments(db, where, params, cs.ORDERS[sort], limit + 1, offset)
            answers = render_comments(db, rows[:limit], viewer)
        out: dict[str, Any] = {"comments": [answers[c["id"]] for c in rows[:limit]]}
        return listing.paged(out, _CURSOR, offset, limit, len(rows) > limit)
