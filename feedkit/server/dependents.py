"""What goes with a hard-deleted activity or comment: one list of dependents for each.

A resource that keeps rows about activities or comments declares here the function that
removes them, ``forget(db, ids)``. :meth:`feedkit.server.store.Store.hard_delete` calls
:data:`ACTIVITY_DEPENDENTS` for the activities it removes; a hard DeleteComment calls
:data:`COMMENT_DEPENDENTS` for the comment and every reply beneath it; an activity's comments
take their own dependents with them. Each runs in the caller's transaction, so a rejected
delete leaves everything in place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from feedkit.server import comment_store as cs
from feedkit.server.reactions import ACTIVITY, COMMENT, forget_reactions
from feedkit.server.saved import forget_activities as forget_saved

__all__ = ["ACTIVITY_DEPENDENTS", "COMMENT_DEPENDENTS", "forget_activities", "forget_comments"]

Forget = Callable[[sqlite3.Connection, Sequence[str]], None]


def _activity_reactions(db: sqlite3.Connection, activity_ids: Sequence[str]) -> None:
    forget_reactions(db, ACTIVITY, activity_ids)


def _comment_reactions(db: sqlite3.Connection, comment_ids: Sequence[str]) -> None:
    forget_reactions(db, COMMENT, comment_ids)


def _activity_comments(db: sqlite3.Connection, activity_ids: Sequence[str]) -> None:
    forget_comments(db, cs.delete_on(db, ACTIVITY, activity_ids))


# What a hard-deleted comment leaves behind: its reactions.
COMMENT_DEPENDENTS: tuple[Forget, ...] = (_comment_reactions,)
# What a hard-deleted activity leaves behind: its reactions, its comments (with theirs), and
# the bookmarks and pins of it.
ACTIVITY_DEPENDENTS: tuple[Forget, ...] = (_activity_reactions, _activity_comments, forget_saved)


def forget_comments(db: sqlite3.Connection, comment_ids: Sequence[str]) -> None:
    """Remove what goes with these hard-deleted comments."""
    if comment_ids:
        for forget in COMMENT_DEPENDENTS:
            forget(db, comment_ids)


def forget_activities(db: sqlite3.Connection, activity_ids: Sequence[str]) -> None:
    """Remove what goes with these hard-deleted activities."""
    if activity_ids:
        for forget in ACTIVITY_DEPENDENTS:
            forget(db, activity_ids)
