"""Reactions on comments: AddCommentReaction, DeleteCommentReaction, QueryCommentReactions and
BatchQueryCommentReactions, and the scores a comment's up- and downvotes give it.

They live in the reactions table with ``object_type`` "comment" and go through the functions
of :mod:`feedkit.server.reactions` (what a comment answers of them is that module's comment
loader). A reaction is on a comment that exists and is not deleted, whose activity the acting
user may see; its ``activity_id`` is that activity's.

The spec says only that ``score`` is "based on reactions" and ``upvote_count`` /
``downvote_count`` count up- and downvotes; the vendor documents no formulas. feedkit counts
reactions of type ``UPVOTE`` and ``DOWNVOTE`` (``feedkit.schema.reaction``) and keeps, in the
transaction of every change, the scores the comments' top, best and controversial sorts read
(:func:`comment_scores`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from feedkit.schema.reaction import COMMENT_REACTION_FILTER_FIELDS, DOWNVOTE, UPVOTE
from feedkit.server import comment_store as cs
from feedkit.server.auth import APP, Principal
from feedkit.server.comment_render import render_comments
from feedkit.server.problems import Problem
from feedkit.server.reactions import (
    COMMENT,
    ReactionsService,
    checked_reaction,
    checked_type,
    delete_reaction,
    reaction_filter,
    reaction_page,
    render_reactions,
)
from feedkit.server.requests import body_object, checked_id

__all__ = ["CommentReactionsService", "comment_scores", "rescore"]

_Z = 1.96  # the normal quantile of a 95% interval: the confidence of confidence_score


def comment_scores(upvotes: int, downvotes: int) -> dict[str, Any]:
    """The score columns of a comment with these votes: ``score`` up minus down,
    ``confidence_score`` the lower bound of the Wilson score interval (95%) of the upvoted
    share, ``controversy_score`` the votes raised to the balance of the two (0 unless both).

    >>> comment_scores(3, 1)["score"], round(comment_scores(1, 0)["confidence_score"], 4)
    (2, 0.2065)
    >>> comment_scores(2, 2)["controversy_score"], comment_scores(5, 0)["controversy_score"]
    (4.0, 0.0)
    """
    votes = upvotes + downvotes
    confidence = 0.0
    if votes:
        share, z2 = upvotes / votes, _Z * _Z
        spread = _Z * math.sqrt((share * (1 - share) + z2 / (4 * votes)) / votes)
        # never below 0 (it is 0 for no upvotes), whatever the rounding
        confidence = max(0.0, (share + z2 / (2 * votes) - spread) / (1 + z2 / votes))
    controversy = 0.0
    if upvotes and downvotes:
        controversy = float(votes) ** (min(upvotes, downvotes) / max(upvotes, downvotes))
    return {"score": upvotes - downvotes, "upvote_count": upvotes, "downvote_count": downvotes,
            "confidence_score": confidence, "controversy_score": controversy}  # fmt: skip


def rescore(db: sqlite3.Connection, comment_id: str) -> None:
    """Write a comment's score columns from its up- and downvotes as they are now."""
    upvotes, downvotes = db.execute(
        "SELECT coalesce(sum(type = ?), 0), coalesce(sum(type = ?), 0) FROM reactions "
        "WHERE object_type = ? AND object_id = ? AND type IN (?, ?)",
        (UPVOTE, DOWNVOTE, COMMENT, comment_id, UPVOTE, DOWNVOTE),
    ).fetchone()
    scores = comment_scores(upvotes, downvotes)
    db.execute(
        f"UPDATE comments SET {', '.join(f'{k} = ?' for k in scores)} WHERE id = ?",
        [*scores.values(), comment_id],
    )


class CommentReactionsService:
    """Reactions on comments, over the activity reactions' service (its acting user, the
    visibility of activities and the shares ``target_feeds`` make)."""

    def __init__(self, reactions: ReactionsService) -> None:
        self.reactions = reactions
        self.store = reactions.store

    def _comment(self, db: sqlite3.Connection, principal: Principal, comment_id: str) -> Any:
        """The stored comment, or a 404: deleted, or on an activity the user may not see."""
        checked_id(comment_id, "id")
        comment = cs.get_comments(db, [comment_id]).get(comment_id)
        if comment is None or comment.get("deleted_at") is not None:
            raise Problem.not_found(f"comment {comment_id!r}")
        try:
            self.reactions._activity(db, principal, comment["object_id"])
        except Problem as exc:
            if exc.status != 404:
                raise
            raise Problem.not_found(f"comment {comment_id!r}") from None
        return comment

    def _answer(self, db: sqlite3.Connection, comment_id: str, viewer: str) -> Any:
        """The comment as it is now, its reactions and scores included."""
        comment = cs.get_comments(db, [comment_id])[comment_id]
        return render_comments(db, [comment], viewer)[comment_id]

    def add_comment_reaction(
        self, principal: Principal, comment_id: str, body: Any
    ) -> dict[str, Any]:
        """AddCommentReaction: the reaction, and the comment with its reactions and scores
        after the change; ``target_feeds`` also get an activity sharing the comment's."""
        body = checked_reaction(body)
        actor = self.reactions._actor(principal, body)
        with self.store.transaction() as db:
            comment = self._comment(db, principal, comment_id)
            row = self.reactions.react(db, COMMENT, comment["id"], comment["object_id"], body,
                                       actor)  # fmt: skip
            rescore(db, comment["id"])
            answer: dict[str, Any] = {"reaction": render_reactions(db, [row])[0]}
            if body.get("target_feeds"):
                answer["reference_activity"] = self.reactions.share(
                    db, principal, comment["object_id"], body, actor
                )
            answer["comment"] = self._answer(db, comment["id"], actor)
            return answer

    def write_comment_reactions(
        self, db: sqlite3.Connection, items: Sequence[tuple[str, Any]]
    ) -> None:
        """AddCommentReaction without its answer (nor ``target_feeds``' shares), in the
        caller's transaction, for the app itself (an import batch): ``items`` are (comment
        id, request body). Each comment is rescored once, after all its reactions."""
        reacted: dict[str, None] = {}  # (in order, once each)
        for comment_id, body in items:
            body = checked_reaction(body)
            actor = self.reactions._actor(APP, body)
            comment = self._comment(db, APP, comment_id)
            self.reactions.react(db, COMMENT, comment["id"], comment["object_id"], body, actor)
            reacted[comment["id"]] = None
        for comment_id in reacted:
            rescore(db, comment_id)

    def delete_comment_reaction(
        self, principal: Principal, comment_id: str, kind: str, user_id: str | None
    ) -> dict[str, Any]:
        """DeleteCommentReaction: the acting user's reaction of this type; the reaction that
        was, and the comment as it is after."""
        actor = self.reactions._actor(principal, {"user_id": user_id})
        checked_type(kind)
        with self.store.transaction() as db:
            comment = self._comment(db, principal, comment_id)
            row = delete_reaction(db, COMMENT, comment["id"], actor, kind)
            if row is None:
                raise Problem.not_found(
                    f"reaction {kind!r} of user {actor!r} on comment {comment_id!r}"
                )
            rescore(db, comment["id"])
            return {
                "comment": self._answer(db, comment["id"], actor),
                "reaction": render_reactions(db, [row])[0],
            }

    def query_comment_reactions(
        self, principal: Principal, comment_id: str, body: Any
    ) -> dict[str, Any]:
        """QueryCommentReactions: one comment's reactions, filtered on reaction_type,
        user_id, created_at, activity_id and comment_id, newest first unless sorted; paged by
        next/prev cursors."""
        body = body_object(body)
        where, params = reaction_filter(body.get("filter"), COMMENT_REACTION_FILTER_FIELDS)
        with self.store.reading() as db:
            comment = self._comment(db, principal, comment_id)
            return reaction_page(db, f"object_type = ? AND object_id = ? AND {where}",
                                 [COMMENT, comment["id"], *params], body)  # fmt: skip

    def batch_query_comment_reactions(self, principal: Principal, body: Any) -> dict[str, Any]:
        """BatchQueryCommentReactions: one user's reactions on up to 100 comments."""
        return self.reactions.batch_query(principal, body, COMMENT, "comment_ids")
