"""The embedded server's resources, one module each, composed for the app's handlers.

Each attribute of :class:`AppService` is the service of one resource, named for it and living
in the module of that name (``service.comments`` is :mod:`feedkit.server.comments`); they share
one store. Each method takes the verified principal and the decoded request and returns the
answer (the app adds ``duration``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedkit.server.activities import ActivitiesService
from feedkit.server.bookmarks import BookmarksService
from feedkit.server.comment_reactions import CommentReactionsService
from feedkit.server.comments import CommentsService
from feedkit.server.feed_groups import FeedGroupsService
from feedkit.server.feed_views import FeedViewsService
from feedkit.server.feeds import FeedsService
from feedkit.server.follows import FollowsService
from feedkit.server.pins import PinsService
from feedkit.server.reactions import ReactionsService
from feedkit.server.store import Store
from feedkit.server.users import UsersService

if TYPE_CHECKING:
    from feedkit.server.imports import ImportsService

__all__ = ["AppService"]


class AppService:
    """Every resource of one app, over one store."""

    imports: ImportsService  # the import pipeline: it signs with the app's secret, so the
    # app (``create_app``) makes it

    def __init__(self, store: Store) -> None:
        self.store = store
        self.activities = ActivitiesService(store)
        self.follows = FollowsService(store)
        self.feeds = FeedsService(store, self.activities, self.follows)
        self.users = UsersService(store)
        self.reactions = ReactionsService(store, self.activities)
        self.comments = CommentsService(store, self.activities)
        self.bookmarks = BookmarksService(store, self.activities)
        self.pins = PinsService(store, self.activities)
        self.feed_groups = FeedGroupsService(store)
        self.feed_views = FeedViewsService(store)
        self.comment_reactions = CommentReactionsService(self.reactions)
