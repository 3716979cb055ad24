"""The feeds resource of the embedded server: GetOrCreateFeed (a page of the feed and of the
feeds it follows, its followers and followings, created on first read), DeleteFeed and
QueryFeeds (which reads without creating: how a client asks whether a feed exists).
"""

from __future__ import annotations

import uuid
from typing import Any

from feedkit.schema import DEFAULT_PAGE, FEED_ID, MAX_ID
from feedkit.server import listing
from feedkit.server.activities import ActivitiesService
from feedkit.server.auth import Principal
from feedkit.server.follows import FollowsService
from feedkit.server.pins import feed_pins
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.query import Compiled, compile_filter
from feedkit.server.render import feed_response
from feedkit.server.requests import body_object, page_limit
from feedkit.server.store import FEED_KEY, Store, now_ns

__all__ = ["FeedsService"]

# The fields of a feed's ``data`` (the spec's FeedInput), and the JSON type each must have.
_FEED_DATA_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "description": (str, "a string"),
    "visibility": (str, "a string"),
    "filter_tags": (list, "a list of strings"),
    "custom": (dict, "a JSON object"),
}
FEED_VISIBILITIES = ("public", "visible", "followers", "members", "private")
# QueryFeeds' string filters and sort fields, as SQL over the feeds table.
_VISIBILITY_SQL = "coalesce(json_extract(doc, '$.visibility'), 'visible')"
_FEED_FILTERS = {name: ("$eq", "$in") for name in
                 ("feed", "id", "group_id", "created_by_id", "visibility")}  # fmt: skip
_FEED_COLUMNS = {"feed": "fid", "created_by_id": "created_by", "visibility": _VISIBILITY_SQL}
_FEED_SORTS = ("created_at", "updated_at")


def _type_errors(obj: dict[str, Any], types: dict[str, tuple[type, str]]) -> dict[str, str]:
    """Field -> message for the fields of feed data that are stored and answered but of the
    wrong JSON type (a number as ``name``). Such data is refused: stored, it would break every
    answer that names it."""
    errors: dict[str, str] = {}
    for key, (kind, what) in types.items():
        value = obj.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else ()  # a list's items are strings
        if not isinstance(value, kind) or not all(isinstance(t, str) for t in items):
            errors[key] = f"must be {what}"
    return errors


class FeedsService:
    def __init__(
        self, store: Store, activities: ActivitiesService, follows: FollowsService
    ) -> None:
        self.store = store
        self.activities = activities
        self.follows = follows

    def get_or_create_feed(
        self, principal: Principal, group: str, feed_id: str, body: Any
    ) -> dict[str, Any]:
        body = body_object(body)
        fid = f"{group}:{feed_id}"
        if not FEED_ID.match(fid) or len(fid) > MAX_ID:
            raise Problem.invalid({"feed": f"{fid!r} is not a valid feed id 'group:id'"})
        creator = self.activities._actor(principal, body)
        data = body_object(body.get("data"), "data")
        errors = _type_errors(data, _FEED_DATA_TYPES)
        if data.get("visibility") is not None and data["visibility"] not in FEED_VISIBILITIES:
            errors["visibility"] = f"must be one of {', '.join(FEED_VISIBILITIES)}"
        if errors:
            raise Problem.invalid({f"data.{k}": m for k, m in errors.items()})
        with self.store.reading() as db:
            created = self.store.get_feed(db, fid) is None
        if created or data:  # a plain read of an existing feed writes nothing
            self._write_feed(fid, creator, data)
        with self.store.reading() as db:
            feeds = [fid, *self.store.following(db, fid)]
            compiled = Compiled(drive_keys=[FEED_KEY + f for f in feeds])
            if body.get("filter") is not None:
                compile_filter(body["filter"], compiled, top=False)
            acts, nxt, prv = self.activities._page(
                db, principal, body, compiled, DEFAULT_PAGE, "feed:" + fid
            )
            stored = self.store.get_feed(db, fid)
            assert stored is not None
            feed = stored
            counts = self.store.feed_counts(db, fid)
            users = self.store.get_users(db, [feed.get("created_by") or feed_id])
            out: dict[str, Any] = {
                "activities": acts,
                "aggregated_activities": [],
                "followers": [
                    self.follows._follow_response(db, f) for f in self.store.follows(db, target=fid)
                ],
                "following": [
                    self.follows._follow_response(db, f) for f in self.store.follows(db, source=fid)
                ],
                "members": [],
                "pinned_activities": feed_pins(db, self.activities, fid, creator),
                "created": created,
                "feed": feed_response(feed, counts, users, now_ns()),
            }
        if nxt:
            out["next"] = nxt
        if prv:
            out["prev"] = prv
        return out

    def _write_feed(self, fid: str, creator: str | None, data: dict[str, Any]) -> None:
        """Create the feed if it is missing, and apply ``data`` (name, description, ...)."""
        keys = ("name", "description", "custom", "visibility", "filter_tags")
        with self.store.transaction() as db:
            now = self.store.tick()
            if creator:
                self.store.ensure_users(db, [creator], now)
            self.store.ensure_feeds(db, [fid], creator, now)
            if data:
                feed = self.store.get_feed(db, fid) or {}
                doc = {k: feed[k] for k in keys if feed.get(k) is not None}
                doc.update({k: v for k, v in data.items() if k in keys})
                self.store.update_feed_doc(db, fid, doc, now)

    def delete_feed(self, principal: Principal, group: str, feed_id: str) -> dict[str, Any]:
        fid = f"{group}:{feed_id}"
        with self.store.transaction() as db:
            feed = self.store.get_feed(db, fid)
            if feed is None:
                raise Problem.not_found(f"feed {fid!r}")
            if principal.user_id is not None and feed.get("created_by") != principal.user_id:
                raise Problem(
                    403, NOT_ALLOWED, f"user {principal.user_id!r} cannot delete feed {fid!r}"
                )
            self.store.delete_feed(db, fid)
        # The hosted service deletes in a background task; here it is done on return, and the
        # task id only keeps the response's shape.
        return {"task_id": str(uuid.uuid4())}

    def query_feeds(self, principal: Principal, body: Any) -> dict[str, Any]:
        """QueryFeeds: filter on feed, id, group_id, created_by_id and visibility (a string
        or ``{"$eq"|"$in": ...}``), sort on created_at or updated_at, pages by cursors."""
        body = body_object(body)
        where, params = listing.conditions_sql(body.get("filter"), _FEED_FILTERS, _FEED_COLUMNS)
        if principal.user_id is not None:  # a private feed is its owner's alone
            where += f" AND ({_VISIBILITY_SQL} != 'private' OR created_by = ?)"
            params.append(principal.user_id)
        order = listing.order_by(body.get("sort"), _FEED_SORTS, "fid")
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, "feeds")
        with self.store.reading() as db:
            found = self.store.query_feeds(db, where, params, order, limit + 1, offset)
            creators = [f.get("created_by") or f["id"] for f in found]
            users = self.store.get_users(db, creators)
            now = now_ns()
            feeds = [
                feed_response(f, self.store.feed_counts(db, f["feed"]), users, now)
                for f in found[:limit]
            ]
        return listing.paged({"feeds": feeds}, "feeds", offset, limit, len(found) > limit)
