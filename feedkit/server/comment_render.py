"""Comments as the protocol answers them (CommentResponse), and what an activity answers
about its comments (``comment_count`` and the newest ``comments``: its engagement loader).

:func:`comment_response` renders every comment feedkit answers; what a comment's reactions and
bookmarks add to it comes from :data:`COMMENT_LOADERS`, spliced over
:data:`COMMENT_ENGAGEMENT_DEFAULTS`, as :mod:`feedkit.server.engagement` does for activities.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from feedkit.schema.comment import LATEST_COMMENTS
from feedkit.server import comment_store as cs
from feedkit.server.reactions import comment_reactions
from feedkit.server.store import now_ns

__all__ = [
    "COMMENT_ENGAGEMENT_DEFAULTS",
    "COMMENT_LOADERS",
    "activity_comments",
    "comment_response",
    "render_comments",
]

# What every comment answers with that its reactions and bookmarks set.
COMMENT_ENGAGEMENT_DEFAULTS: dict[str, Any] = {
    "reaction_count": 0, "latest_reactions": [], "own_reactions": [], "reaction_groups": {},
    "bookmark_count": 0,
}  # fmt: skip
CommentLoader = Callable[[sqlite3.Connection, Sequence[str], str | None], dict[str, dict[str, Any]]]
# One loader per resource that engages with comments (reactions, bookmarks): given the comment
# ids of an answer and the viewer, the members it knows for each, for the whole page at once.
COMMENT_LOADERS: list[CommentLoader] = [
    comment_reactions,
]
_SCORES = ("score", "upvote_count", "downvote_count", "confidence_score", "controversy_score")


def comment_response(
    comment: dict[str, Any],
    users: dict[str, dict[str, Any]],
    now: int,
    reply_count: int,
    engagement: Mapping[str, Any] | None = None,
    seen: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A stored comment as the protocol's CommentResponse."""
    # Imported here: render imports engagement, whose loaders import this module.
    from feedkit.server.render import user_response

    seen = {} if seen is None else seen
    out: dict[str, Any] = {
        "id": comment["id"],
        "object_id": comment["object_id"],
        "object_type": comment["object_type"],
        "user": user_response(comment["user_id"], users, now, seen),
        "mentioned_users": [
            user_response(u, users, now, seen) for u in comment.get("mentioned_user_ids") or []
        ],
        "status": "deleted" if comment.get("deleted_at") is not None else "active",
        "attachments": [
            dict(a, custom=a.get("custom") or {}) for a in comment.get("attachments") or []
        ],
        "custom": comment.get("custom") or {},
        "reply_count": reply_count,
        "created_at": comment["created_at"],
        "updated_at": comment["updated_at"],
        **{k: comment.get(k) or 0 for k in _SCORES},
        **COMMENT_ENGAGEMENT_DEFAULTS,
        **(engagement or {}),
    }
    out["confidence_score"] = float(out["confidence_score"])
    out["controversy_score"] = float(out["controversy_score"])
    for key in ("text", "parent_id", "edited_at", "deleted_at"):
        if comment.get(key) is not None:
            out[key] = comment[key]
    return out


def render_comments(
    db: sqlite3.Connection, comments: Sequence[dict[str, Any]], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """Comments as answers, by id: their users, reply counts and engagement read at once."""
    ids = [c["id"] for c in comments]
    if not ids:
        return {}
    user_ids = {c["user_id"] for c in comments}
    user_ids.update(u for c in comments for u in c.get("mentioned_user_ids") or ())
    users = cs.users_of(db, user_ids)
    counts = cs.reply_counts(db, ids)
    engagement: dict[str, dict[str, Any]] = {}
    for loader in COMMENT_LOADERS:
        for cid, members in loader(db, ids, viewer).items():
            engagement.setdefault(cid, {}).update(members)
    now = now_ns()
    seen: dict[str, dict[str, Any]] = {}
    return {c["id"]: comment_response(c, users, now, counts.get(c["id"], 0),
                                      engagement.get(c["id"]), seen)
            for c in comments}  # fmt: skip


def activity_comments(
    db: sqlite3.Connection, activity_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """The engagement loader of comments: each activity's ``comment_count`` (comments not
    deleted, replies included) and its ``comments`` (the newest top-level ones)."""
    counts = cs.comment_counts(db, activity_ids)
    if not counts:
        return {}
    latest = cs.latest_comments(db, list(counts), LATEST_COMMENTS)
    answers = render_comments(db, [c for found in latest.values() for c in found], viewer)
    return {
        aid: {"comment_count": n, "comments": [answers[c["id"]] for c in latest.get(aid, [])]}
        for aid, n in counts.items()
    }
