"""The pin of an activity to a feed: what QueryPinnedActivities filters and sorts on, and how
many pins a feed read shows.

A pin has no fields of its own: the feed, the activity (which must be in that feed), the user
who pinned it and when.
"""

from __future__ import annotations

from feedkit.schema import DEFAULT_PAGE
from feedkit.schema.bookmark import ID_OPERATORS, SORT_FIELDS, TIME_OPERATORS

__all__ = ["FEED_READ_PINS", "PIN_FILTERS", "PIN_SORT_FIELDS"]

# The newest pins a feed read (GetOrCreateFeed) answers in ``pinned_activities``.
FEED_READ_PINS = DEFAULT_PAGE

PIN_FILTERS: dict[str, tuple[str, ...]] = {
    "activity_id": ID_OPERATORS,
    "user_id": ID_OPERATORS,
    "created_at": TIME_OPERATORS,
    "updated_at": TIME_OPERATORS,
}
PIN_SORT_FIELDS = SORT_FIELDS
