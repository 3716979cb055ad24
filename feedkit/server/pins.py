"""The pins resource of the embedded server: PinActivity, UnpinActivity and
QueryPinnedActivities, and the ``pinned_activities`` a feed read answers.

A pin puts one of a feed's own activities first in that feed. Only the feed's owner (or the
app) may pin and unpin; an activity that is not in the feed cannot be pinned to it (400 naming
``activity_id``: the feed and the activity both exist, the request pairs them wrongly, and 400
is the error the spec gives this operation). A pin shows while its activity is stored, not
deleted and still in the feed; the rows are :mod:`feedkit.server.saved`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from feedkit.schema import DEFAULT_PAGE
from feedkit.schema.pin import FEED_READ_PINS, PIN_FILTERS, PIN_SORT_FIELDS
from feedkit.server import listing, saved
from feedkit.server.activities import ActivitiesService
from feedkit.server.auth import Principal
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.render import Answer
from feedkit.server.requests import body_object, page_limit
from feedkit.server.store import FEED_KEY, ROW, SELECT_ACTIVITY, Store, now_ns

__all__ = ["PinsService", "feed_pins"]

if saved.FEED_KEY_PREFIX != FEED_KEY:  # pragma: no cover
    raise ImportError(f"feedkit.server.saved reads feed keys {saved.FEED_KEY_PREFIX!r}, the store "
                      f"writes {FEED_KEY!r}")  # fmt: skip
_ROW_WIDTH = len(ROW)  # a pin row: the activity's SELECT_ACTIVITY columns, then the pin's


def _shown_pins(
    db: Any,
    activities: ActivitiesService,
    fid: str,
    viewer: str | None,
    where: str,
    params: Sequence[Any],
    order: str,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """The pins of a feed that show to the viewer, matching ``where`` (over the pins table
    ``p``), each with its activity rendered for the viewer (ActivityPinResponses)."""
    visible, visible_params = activities._visibility(
        viewer, activities._teams(db, viewer), expired=False, deleted=False
    )
    sql = (
        f"SELECT {SELECT_ACTIVITY}, p.user_id, p.created_at, p.updated_at FROM pins p "
        f"JOIN activities a ON {saved.PIN_SHOWN} WHERE p.fid = ? AND ({where}) "
        f"{''.join(f' AND {v}' for v in visible)} ORDER BY {order} LIMIT ? OFFSET ?"
    )
    found = db.execute(sql, [fid, *params, *visible_params, limit, offset]).fetchall()
    rows = [r[:_ROW_WIDTH] for r in found]
    rendered = activities._render_rows(db, rows, viewer)
    users = activities.store.get_users(db, {r[_ROW_WIDTH] for r in found})
    answer = Answer(users, {}, now_ns())
    return [
        {
            "activity": activity,
            "feed": fid,
            "user": orjson.Fragment(answer.user(pinner)),
            "created_at": created,
            "updated_at": updated,
        }
        for activity, (*_, pinner, created, updated) in zip(rendered, found, strict=True)
    ]


def feed_pins(
    db: Any, activities: ActivitiesService, fid: str, viewer: str | None
) -> list[dict[str, Any]]:
    """A feed read's ``pinned_activities``: its newest ``FEED_READ_PINS`` pins that show."""
    return _shown_pins(
        db, activities, fid, viewer, "1", [], "p.created_at DESC, p.activity_id", FEED_READ_PINS, 0
    )


class PinsService:
    def __init__(self, store: Store, activities: ActivitiesService) -> None:
        self.store = store
        self.activities = activities

    def _feed(self, db: Any, principal: Principal, fid: str, change: bool) -> dict[str, Any]:
        """The stored feed (404 if none); changing its pins is its owner's (or the app's)."""
        feed = self.store.get_feed(db, fid)
        if feed is None:
            raise Problem.not_found(f"feed {fid!r}")
        owner = feed.get("created_by") or feed["id"]
        if change and principal.user_id is not None and principal.user_id != owner:
            raise Problem(
                403,
                NOT_ALLOWED,
                f"user {principal.user_id!r} cannot change the pins of feed {fid!r}",
            )
        return feed

    def pin_activity(
        self, principal: Principal, group: str, feed_id: str, activity_id: str, body: Any
    ) -> dict[str, Any]:
        """Pin an activity of the feed (pinning it again keeps the first pin); the pinner is
        the acting user, or the feed's owner for a server-side request naming none."""
        body = body_object(body)
        fid = f"{group}:{feed_id}"
        requested = self.activities._actor(principal, body)
        with self.store.transaction() as db:
            feed = self._feed(db, principal, fid, change=True)
            rec = self.activities._load(db, activity_id)
            if fid not in rec["feeds"]:
                raise Problem.invalid(
                    {
                        "activity_id": f"activity {activity_id!r} is not in feed "
                        f"{fid!r}; only a feed's own activities can be pinned"
                    }
                )
            pin = saved.get_pin(db, fid, activity_id)
            if pin is None:
                now = self.store.tick()
                pinner = requested or feed.get("created_by") or feed["id"]
                self.store.ensure_users(db, [pinner], now)
                pin = {
                    "fid": fid,
                    "activity_id": activity_id,
                    "user_id": pinner,
                    "created_at": now,
                    "updated_at": now,
                }
                saved.put_pin(db, pin)
            activity = self.activities._render(db, [rec], requested)[0]
            return {
                "activity": activity,
                "feed": fid,
                "user_id": pin["user_id"],
                "created_at": pin["created_at"],
            }

    def unpin_activity(
        self, principal: Principal, group: str, feed_id: str, activity_id: str, user_id: Any
    ) -> dict[str, Any]:
        fid = f"{group}:{feed_id}"
        requested = self.activities._actor(principal, {"user_id": user_id})
        with self.store.transaction() as db:
            self._feed(db, principal, fid, change=True)
            pin = saved.get_pin(db, fid, activity_id)
            rec = self.store.get_records(db, [activity_id]).get(activity_id)
            if pin is None or rec is None:
                raise Problem.not_found(f"a pin of activity {activity_id!r} to feed {fid!r}")
            saved.delete_pin(db, fid, activity_id)
            activity = self.activities._render(db, [rec], requested)[0]
            return {"activity": activity, "feed": fid, "user_id": requested or pin["user_id"]}

    def query_pinned_activities(
        self, principal: Principal, group: str, feed_id: str, body: Any
    ) -> dict[str, Any]:
        """QueryPinnedActivities: the feed's pins that show to the caller, filtered on
        activity_id, user_id (who pinned) and times, sorted on created_at / updated_at."""
        body = body_object(body)
        fid = f"{group}:{feed_id}"
        columns = {k: f"p.{k}" for k in PIN_FILTERS}
        where, params = listing.conditions_sql(body.get("filter"), PIN_FILTERS, columns)
        order = listing.order_by(body.get("sort"), PIN_SORT_FIELDS, "p.activity_id")
        order = order.replace("created_at", "p.created_at").replace("updated_at", "p.updated_at")
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, "pins")
        with self.store.reading() as db:
            self._feed(db, principal, fid, change=False)
            pins = _shown_pins(
                db, self.activities, fid, principal.user_id, where, params, order, limit + 1, offset
            )
        out = {"pinned_activities": pins[:limit]}
        return listing.paged(out, "pins", offset, limit, len(pins) > limit)
