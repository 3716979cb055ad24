"""What an activity answers with beyond its stored fields: its reactions, comments and
bookmarks, as counts, groups, the latest few and the viewer's own.

Each resource module that engages with activities contributes one loader: given a read
connection, the ids of the activities an answer shows and the viewer (None for a server-side
read), it returns the members it knows for each activity, read with a few indexed queries for
the whole page. :func:`load` merges them; :mod:`feedkit.server.render` splices them over
``ENGAGEMENT_DEFAULTS``, which is what an activity nothing engaged with answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from feedkit.server.comment_render import activity_comments
from feedkit.server.reactions import activity_reactions
from feedkit.server.saved import bookmark_engagement

__all__ = ["ENGAGEMENT_DEFAULTS", "LOADERS", "Loader", "load"]

# The members every activity answers with that no stored activity field sets.
ENGAGEMENT_DEFAULTS: dict[str, Any] = {
    "comments": [], "latest_reactions": [], "own_bookmarks": [], "own_reactions": [],
    "reaction_groups": {}, "collections": {}, "bookmark_count": 0, "comment_count": 0,
    "reaction_count": 0, "score": 0.0, "hidden": False, "preview": False,
}  # fmt: skip

Loader = Callable[[sqlite3.Connection, Sequence[str], str | None], dict[str, dict[str, Any]]]

# One loader per resource that engages with activities (reactions, comments, bookmarks).
LOADERS: list[Loader] = [
    activity_reactions,
    activity_comments,
    bookmark_engagement,
]


def load(
    db: sqlite3.Connection, activity_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """The engagement members of each activity that has any, by activity id."""
    out: dict[str, dict[str, Any]] = {}
    if not activity_ids:
        return out
    for loader in LOADERS:
        for aid, members in loader(db, activity_ids, viewer).items():
            out.setdefault(aid, {}).update(members)
    return out
