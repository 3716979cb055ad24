"""The feed views resource of the embedded server: ListFeedViews, CreateFeedView, GetFeedView,
GetOrCreateFeedView, UpdateFeedView and DeleteFeedView.

A view is a named read recipe (activity selectors, ranking, aggregation;
:data:`feedkit.schema.feed_group.FEED_VIEW_FIELDS`), stored as one JSON doc and answered
field for field. The spec has no restore for views: a delete removes the row.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import orjson

from feedkit.schema.feed_group import FEED_VIEW_FIELDS, stored_settings, validate_feed_view
from feedkit.server.auth import Principal
from feedkit.server.feed_groups import group_id, server_only
from feedkit.server.problems import Problem

if TYPE_CHECKING:
    from feedkit.server.store import Store

__all__ = ["FeedViewsService"]


def _select(db: sqlite3.Connection, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT id, last_used_at, doc FROM feed_views WHERE {where} ORDER BY id", params
    )
    out = []
    for vid, last_used, doc in rows:
        view: dict[str, Any] = {"id": vid, **orjson.loads(doc)}
        if last_used is not None:
            view["last_used_at"] = last_used
        out.append(view)
    return out


def _settings(body: Any, *, require_id: bool) -> dict[str, Any]:
    if body is None:
        body = {}
    errors = validate_feed_view(body, require_id=require_id)
    if errors:
        raise Problem.from_field_errors(errors)
    return stored_settings(body, FEED_VIEW_FIELDS)


class FeedViewsService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get(self, db: sqlite3.Connection, vid: str) -> dict[str, Any]:
        found = _select(db, "id = ?", [vid])
        if not found:
            raise Problem.not_found(f"feed view {vid!r}")
        return found[0]

    def _write(self, db: sqlite3.Connection, vid: str, settings: dict[str, Any]) -> None:
        now = self.store.tick()
        db.execute(
            "INSERT INTO feed_views (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc",
            (vid, now, now, orjson.dumps(settings)),
        )

    def list_feed_views(self, principal: Principal) -> dict[str, Any]:
        with self.store.reading() as db:
            return {"views": {v["id"]: v for v in _select(db, "1", [])}}

    def get_feed_view(self, principal: Principal, vid: str) -> dict[str, Any]:
        with self.store.reading() as db:
            return {"feed_view": self._get(db, vid)}

    def create_feed_view(self, principal: Principal, body: Any) -> dict[str, Any]:
        server_only(principal, "creating a feed view")
        settings = _settings(body, require_id=True)
        vid = group_id(body["id"])
        with self.store.transaction() as db:
            if _select(db, "id = ?", [vid]):
                raise Problem.invalid({"id": f"feed view {vid!r} already exists"})
            self._write(db, vid, settings)
            return {"feed_view": self._get(db, vid)}

    def get_or_create_feed_view(self, principal: Principal, vid: str, body: Any) -> dict[str, Any]:
        group_id(vid)
        settings = _settings(body, require_id=False)
        with self.store.reading() as db:
            existing = _select(db, "id = ?", [vid])
        if existing:
            return {"feed_view": existing[0], "was_created": False}
        server_only(principal, "creating a feed view")
        with self.store.transaction() as db:
            created = not _select(db, "id = ?", [vid])
            if created:
                self._write(db, vid, settings)
            return {"feed_view": self._get(db, vid), "was_created": created}

    def update_feed_view(self, principal: Principal, vid: str, body: Any) -> dict[str, Any]:
        """Every setting replaced, as for feed groups."""
        server_only(principal, "updating a feed view")
        settings = _settings(body, require_id=False)
        with self.store.transaction() as db:
            self._get(db, vid)
            self._write(db, vid, settings)
            return {"feed_view": self._get(db, vid)}

    def delete_feed_view(self, principal: Principal, vid: str) -> dict[str, Any]:
        server_only(principal, "deleting a feed view")
        with self.store.transaction() as db:
            self._get(db, vid)
            db.execute("DELETE FROM feed_views WHERE id = ?", (vid,))
        return {}
