"""The bookmarks resource of the embedded server: AddBookmark, UpdateBookmark, DeleteBookmark,
QueryBookmarks, and the folders they sit in: QueryBookmarkFolders, UpdateBookmarkFolder and
DeleteBookmarkFolder.

A bookmark is the acting user's (a user token's own; a server-side request names it with
``user_id``) and answers with its activity, user and folder. A folder is its creator's: only
that user (or the app) may change or delete it, and deleting it leaves its bookmarks in no
folder. The rows and queries are :mod:`feedkit.server.saved`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from feedkit.schema import DEFAULT_PAGE
from feedkit.schema.bookmark import (
    BOOKMARK_FILTERS,
    FOLDER_FILTERS,
    SORT_FIELDS,
    validate_bookmark,
    validate_folder,
)
from feedkit.server import listing, saved
from feedkit.server.activities import ActivitiesService
from feedkit.server.auth import APP, Principal
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.render import Answer
from feedkit.server.requests import body_object, checked_id, page_limit
from feedkit.server.store import Store, now_ns

__all__ = ["BookmarksService"]

_FOLDER_COLUMNS = {"folder_id": "id", "folder_name": "name"}


class BookmarksService:
    def __init__(self, store: Store, activities: ActivitiesService) -> None:
        self.store = store
        self.activities = activities

    # -- helpers ----------------------------------------------------------------------------

    def _acting(self, principal: Principal, body: dict[str, Any]) -> str:
        """The user a bookmark is of: a server-side request must name one."""
        actor = self.activities._actor(principal, body)
        if actor is None:
            raise Problem.invalid({"user_id": "is required for server-side requests"})
        return checked_id(actor, "user_id")

    def _owned_folder(
        self, db: Any, principal: Principal, folder_id: str, actor: str | None, name: str
    ) -> dict[str, Any]:
        folder = saved.get_folders(db, [folder_id]).get(folder_id)
        if folder is None:
            raise Problem.not_found(f"bookmark folder {folder_id!r}")
        acting = actor or principal.user_id
        if acting is not None and folder["user_id"] != acting:
            raise Problem(
                403,
                NOT_ALLOWED,
                f"user {acting!r} cannot use bookmark folder "
                f"{folder_id!r} of user {folder['user_id']!r}",
                {name: "is not yours"},
            )
        return folder

    def _new_folder(self, db: Any, actor: str, data: dict[str, Any], now: int) -> str:
        """The id of the actor's folder of that name, made (with its custom) if it is new."""
        name = data["name"].strip()
        found = saved.folder_named(db, actor, name)
        if found is not None:
            return str(found["id"])
        folder = {
            "id": str(uuid.uuid4()),
            "user_id": actor,
            "name": name,
            "custom": data.get("custom") or {},
            "created_at": now,
            "updated_at": now,
        }
        saved.put_folder(db, folder)
        return str(folder["id"])

    def _visible_activity(self, db: Any, activity_id: str, viewer: str) -> None:
        rec = self.activities._load(db, activity_id)
        if not self.activities._visible(db, rec, viewer):
            raise Problem.not_found(f"activity {activity_id!r}")

    def _answers(
        self, db: Any, bookmarks: list[dict[str, Any]], viewer: str | None
    ) -> list[dict[str, Any]]:
        """BookmarkResponses of stored bookmarks, each activity rendered for the viewer."""
        rows = self.store.get_rows(db, [b["activity_id"] for b in bookmarks])
        shown = list(rows.values())
        activities = dict(zip(rows, self.activities._render_rows(db, shown, viewer), strict=True))
        folders = saved.get_folders(db, [b["folder_id"] for b in bookmarks])
        users = self.store.get_users(db, {b["user_id"] for b in bookmarks})
        answer = Answer(users, {}, now_ns())
        return [
            saved.bookmark_json(b, activities[b["activity_id"]], folders, answer)
            for b in bookmarks
            if b["activity_id"] in activities
        ]

    def _folder_answer(self, db: Any, folder: dict[str, Any]) -> dict[str, Any]:
        users = self.store.get_users(db, [folder["user_id"]])
        return saved.folder_json(folder, Answer(users, {}, now_ns()))

    # -- bookmarks --------------------------------------------------------------------------

    def _checked(
        self, principal: Principal, body: Any, *, update: bool = False
    ) -> tuple[dict[str, Any], str]:
        """An AddBookmark (``update``: UpdateBookmark) body and its user, or a 400."""
        body = body_object(body)
        errors = validate_bookmark(body, update=update)
        if errors:
            raise Problem.from_field_errors(errors)
        return body, self._acting(principal, body)

    def add_bookmark(self, principal: Principal, activity_id: str, body: Any) -> dict[str, Any]:
        body, actor = self._checked(principal, body)
        with self.store.transaction() as db:
            bookmark = self._add(db, principal, activity_id, body, actor)
            return {"bookmark": self._answers(db, [bookmark], actor)[0]}

    def _add(
        self, db: Any, principal: Principal, activity_id: str, body: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Store a new bookmark of a checked AddBookmark body; the bookmark stored."""
        now = self.store.tick()
        self._visible_activity(db, activity_id, actor)
        folder_id = saved.NO_FOLDER
        if body.get("new_folder") is not None:
            folder_id = self._new_folder(db, actor, body["new_folder"], now)
        elif body.get("folder_id"):
            folder = self._owned_folder(db, principal, body["folder_id"], actor, "folder_id")
            folder_id = folder["id"]
        if saved.get_bookmark(db, actor, activity_id, folder_id) is not None:
            raise Problem.invalid(
                {
                    "activity_id": f"user {actor!r} has bookmarked activity "
                    f"{activity_id!r} in that folder already"
                }
            )
        self.store.ensure_users(db, [actor], now)
        bookmark = {
            "user_id": actor,
            "activity_id": activity_id,
            "folder_id": folder_id,
            "custom": body.get("custom") or {},
            "created_at": now,
            "updated_at": now,
        }
        saved.put_bookmark(db, bookmark)
        return bookmark

    def write_bookmarks(self, db: Any, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """AddBookmark as an upsert, without its answer, in the caller's transaction, for the
        app itself (an import batch): ``items`` are (activity id, body); a bookmark the user
        has of the activity in that folder already is changed as UpdateBookmark changes it."""
        for activity_id, request in items:
            folder_id = request.get("folder_id") or saved.NO_FOLDER
            named = request.get("user_id")
            update = isinstance(named, str) and (
                saved.get_bookmark(db, named, activity_id, folder_id) is not None
            )
            body, actor = self._checked(APP, request, update=update)
            if update:
                self._update(db, APP, activity_id, body, actor)
            else:
                self._add(db, APP, activity_id, body, actor)

    def _find(self, db: Any, actor: str, activity_id: str, folder_id: Any) -> dict[str, Any]:
        found = saved.get_bookmark(db, actor, activity_id, folder_id or saved.NO_FOLDER)
        if found is None:
            where = f" in folder {folder_id!r}" if folder_id else " outside any folder"
            raise Problem.not_found(f"a bookmark of activity {activity_id!r} by {actor!r}{where}")
        return found

    def update_bookmark(self, principal: Principal, activity_id: str, body: Any) -> dict[str, Any]:
        """Change a bookmark's custom, or move it: ``new_folder_id`` ("" for no folder) or
        ``new_folder``; ``folder_id`` says which of the user's bookmarks of it."""
        body, actor = self._checked(principal, body, update=True)
        with self.store.transaction() as db:
            bookmark = self._update(db, principal, activity_id, body, actor)
            return {"bookmark": self._answers(db, [bookmark], actor)[0]}

    def _update(
        self, db: Any, principal: Principal, activity_id: str, body: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Store a checked UpdateBookmark body over the bookmark it names; the bookmark."""
        now = self.store.tick()
        old = self._find(db, actor, activity_id, body.get("folder_id"))
        target = old["folder_id"]
        if body.get("new_folder") is not None:
            target = self._new_folder(db, actor, body["new_folder"], now)
        elif body.get("new_folder_id"):
            target = self._owned_folder(
                db, principal, body["new_folder_id"], actor, "new_folder_id"
            )["id"]
        elif body.get("new_folder_id") == "":
            target = saved.NO_FOLDER
        if target != old["folder_id"]:
            if saved.get_bookmark(db, actor, activity_id, target) is not None:
                raise Problem.invalid(
                    {"new_folder_id": "the activity is bookmarked in that folder already"}
                )
            saved.delete_bookmark(db, actor, activity_id, old["folder_id"])
        custom = body["custom"] if body.get("custom") is not None else old["custom"]
        bookmark = {**old, "folder_id": target, "custom": custom, "updated_at": now}
        saved.put_bookmark(db, bookmark)
        return bookmark

    def delete_bookmark(
        self, principal: Principal, activity_id: str, folder_id: str | None, user_id: str | None
    ) -> dict[str, Any]:
        """Delete the user's bookmark of the activity in ``folder_id`` (none: the one in no
        folder); the answer is the bookmark that was, its activity as it is now."""
        actor = self._acting(principal, {"user_id": user_id})
        with self.store.transaction() as db:
            found = self._find(db, actor, activity_id, folder_id)
            saved.delete_bookmark(db, actor, activity_id, found["folder_id"])
            return {"bookmark": self._answers(db, [found], actor)[0]}

    def query_bookmarks(self, principal: Principal, body: Any) -> dict[str, Any]:
        """QueryBookmarks: filter on user_id, activity_id, folder_id ($exists too) and times,
        sort on created_at / updated_at; a user token (or a named ``user_id``) reads only that
        user's bookmarks."""
        body = body_object(body)
        actor = self.activities._actor(principal, body)
        where, params = listing.conditions_sql(body.get("filter"), BOOKMARK_FILTERS, {})
        if actor is not None:
            where, params = f"({where}) AND user_id = ?", [*params, actor]
        order = listing.order_by(body.get("sort"), SORT_FIELDS, "activity_id, user_id, folder_id")
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, "bookmarks")
        with self.store.reading() as db:
            rows = saved.select(db, "bookmarks", where, params, order, limit + 1, offset)
            out = {"bookmarks": self._answers(db, rows[:limit], actor)}
        return listing.paged(out, "bookmarks", offset, limit, len(rows) > limit)

    # -- folders ----------------------------------------------------------------------------

    def query_bookmark_folders(self, principal: Principal, body: Any) -> dict[str, Any]:
        """QueryBookmarkFolders: filter on folder_id, user_id, folder_name ($contains too) and
        times; a user token reads only its own folders."""
        body = body_object(body)
        where, params = listing.conditions_sql(body.get("filter"), FOLDER_FILTERS, _FOLDER_COLUMNS)
        if principal.user_id is not None:
            where, params = f"({where}) AND user_id = ?", [*params, principal.user_id]
        order = listing.order_by(body.get("sort"), SORT_FIELDS, "id")
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, "bookmark_folders")
        with self.store.reading() as db:
            rows = saved.select(db, "bookmark_folders", where, params, order, limit + 1, offset)
            users = self.store.get_users(db, {f["user_id"] for f in rows})
            answer = Answer(users, {}, now_ns())
            out = {"bookmark_folders": [saved.folder_json(f, answer) for f in rows[:limit]]}
        return listing.paged(out, "bookmark_folders", offset, limit, len(rows) > limit)

    def update_bookmark_folder(
        self, principal: Principal, folder_id: str, body: Any
    ) -> dict[str, Any]:
        body = body_object(body)
        errors = validate_folder(body, "", new=False)
        if errors:
            raise Problem.from_field_errors(errors)
        actor = self.activities._actor(principal, body)
        with self.store.transaction() as db:
            folder = self._owned_folder(db, principal, folder_id, actor, "folder_id")
            if body.get("name") is not None:
                folder["name"] = body["name"].strip()
            if body.get("custom") is not None:
                folder["custom"] = body["custom"]
            folder["updated_at"] = self.store.tick()
            saved.put_folder(db, folder)
            return {"bookmark_folder": self._folder_answer(db, folder)}

    def delete_bookmark_folder(self, principal: Principal, folder_id: str) -> dict[str, Any]:
        """Delete a folder; its bookmarks stay, in no folder (see ``saved.delete_folder``)."""
        with self.store.transaction() as db:
            self._owned_folder(db, principal, folder_id, None, "folder_id")
            saved.delete_folder(db, folder_id)
        return {}
