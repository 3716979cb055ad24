"""The embedded server's resources, one module each, composed for the app's handlers.

``service.activities`` (:mod:`feedkit.server.activities`), ``service.feeds``
(:mod:`feedkit.server.feeds`), ``service.follows`` (:mod:`feedkit.server.follows`) and
``service.users`` (:mod:`feedkit.server.users`), ``service.feed_groups`` and
``service.feed_views`` (:mod:`feedkit.server.feed_groups`, :mod:`feedkit.server.feed_views`)
share one store; each method takes the
verified principal and the decoded request and returns the answer (the app adds ``duration``).
"""

from __future__ import annotations

from feedkit.server.activities import ActivitiesService
from feedkit.server.feed_groups import FeedGroupsService
from feedkit.server.feed_views import FeedViewsService
from feedkit.server.feeds import FeedsService
from feedkit.server.follows import FollowsService
from feedkit.server.store import Store
from feedkit.server.users import UsersService

__all__ = ["AppService"]


class AppService:
    """Every resource of one app, over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.activities = ActivitiesService(store)
        self.follows = FollowsService(store)
        self.feeds = FeedsService(store, self.activities, self.follows)
        self.users = UsersService(store)
        self.feed_groups = FeedGroupsService(store)
        self.feed_views = FeedViewsService(store)
