"""The feed groups resource of the embedded server: ListFeedGroups, CreateFeedGroup,
GetFeedGroup, GetOrCreateFeedGroup, UpdateFeedGroup, DeleteFeedGroup and RestoreFeedGroup;
and the groups of the feeds every other resource writes (:func:`ensure_groups`).

A group's settings (:mod:`feedkit.schema.feed_group`) are stored as one JSON doc and answered
field for field. A new store holds the hosted service's built-in groups; a store of an earlier
layout gains a group for each group its feeds name. A feed of a group that does not exist
creates the group with default settings, unless the server is strict (``feedkit serve
--strict-groups``): then, as on the hosted service, the write is refused with a 400 naming the
group. A soft-deleted group refuses new writes to its feeds until it is restored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from feedkit.schema import MAX_ID
from feedkit.schema.feed_group import (
    DEFAULT_FEED_GROUPS,
    DEFAULT_VISIBILITY,
    FEED_GROUP_FIELDS,
    GROUP_ID,
    stored_settings,
    validate_feed_group,
)
from feedkit.server.auth import Principal
from feedkit.server.problems import INPUT_ERROR, NOT_ALLOWED, Problem

if TYPE_CHECKING:
    from feedkit.server.store import Store

__all__ = [
    "FeedGroupsService",
    "GroupState",
    "default_visibility",
    "ensure_groups",
    "group_setting",
    "group_states",
    "refuse_groups",
    "seed_groups",
]

# A stored group: when it was soft-deleted (or None) and its settings.
GroupState = tuple[int | None, dict[str, Any]]


def _row_response(row: tuple[Any, ...]) -> dict[str, Any]:
    """A FeedGroupResponse from a ``(id, created_at, updated_at, deleted_at, doc)`` row."""
    gid, created, updated, deleted, doc = row
    out: dict[str, Any] = {"id": gid, **orjson.loads(doc), "created_at": created,
                           "updated_at": updated}  # fmt: skip
    if deleted is not None:
        out["deleted_at"] = deleted
    return out


def _select(db: sqlite3.Connection, where: str, params: Iterable[Any]) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT id, created_at, updated_at, deleted_at, doc FROM feed_groups WHERE {where} "
        "ORDER BY id",
        list(params),
    )
    return [_row_response(r) for r in rows]


def _insert(db: sqlite3.Connection, gid: str, settings: Mapping[str, Any], at: int) -> None:
    db.execute(
        "INSERT OR IGNORE INTO feed_groups (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?)",
        (gid, at, at, orjson.dumps(dict(settings))),
    )


def seed_groups(db: sqlite3.Connection, at: int) -> None:
    """Fill a store's new groups table: the built-in groups, and a group with default
    settings for each other group its feeds name (a file of an earlier layout)."""
    for gid, settings in DEFAULT_FEED_GROUPS.items():
        _insert(db, gid, settings, at)
    for (gid,) in db.execute("SELECT DISTINCT group_id FROM feeds").fetchall():
        _insert(db, gid, {"default_visibility": DEFAULT_VISIBILITY}, at)


def group_states(db: sqlite3.Connection, groups: Iterable[str]) -> dict[str, GroupState]:
    """The stored groups among these: when each was deleted (or None) and its settings."""
    wanted = sorted(set(groups))
    found: dict[str, GroupState] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for gid, deleted, doc in db.execute(
            "SELECT id, deleted_at, doc FROM feed_groups WHERE id IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[gid] = (deleted, orjson.loads(doc))
    return found


def refuse_groups(found: Mapping[str, GroupState], groups: Iterable[str], *, strict: bool) -> None:
    """Refuse (400) writing feeds of these groups: one deleted, or missing from ``found``
    when ``strict``."""
    wanted = sorted(set(groups))
    missing = [g for g in wanted if g not in found]
    if missing and strict:
        names = ", ".join(repr(g) for g in missing)
        raise Problem(
            400, INPUT_ERROR,
            f"feed group {names} does not exist: create it first (CreateFeedGroup); this "
            "server refuses feeds of unknown groups (--strict-groups), as the hosted service does",
            {"feed_group": f"{names} does not exist"},
        )  # fmt: skip
    deleted = [g for g in wanted if g in found and found[g][0] is not None]
    if deleted:
        names = ", ".join(repr(g) for g in deleted)
        raise Problem(
            400, INPUT_ERROR,
            f"feed group {names} is deleted: restore it (RestoreFeedGroup) to write its feeds",
            {"feed_group": f"{names} is deleted"},
        )  # fmt: skip


def default_visibility(found: Mapping[str, GroupState], gid: str) -> str:
    """The visibility a new feed of the group takes (a group made for it: the default)."""
    return (found[gid][1].get("default_visibility") if gid in found else None) or DEFAULT_VISIBILITY


def ensure_groups(
    db: sqlite3.Connection, groups: Iterable[str], at: int, *, strict: bool
) -> dict[str, str]:
    """The default visibility of each of these groups, creating a missing one (unless
    ``strict``: then a missing one is refused, as the hosted service refuses it). A
    soft-deleted group is refused either way."""
    wanted = sorted(set(groups))
    found = group_states(db, wanted)
    refuse_groups(found, wanted, strict=strict)
    for gid in wanted:
        if gid not in found:
            _insert(db, gid, {"default_visibility": DEFAULT_VISIBILITY}, at)
    return {g: default_visibility(found, g) for g in wanted}


def group_setting(db: sqlite3.Connection, gid: str, name: str) -> Any:
    """One setting of a group (None when the group or the setting is missing)."""
    row = db.execute("SELECT doc FROM feed_groups WHERE id = ?", (gid,)).fetchone()
    return orjson.loads(row[0]).get(name) if row else None


def server_only(principal: Principal, what: str) -> None:
    """Feed groups and views are app configuration: only a server token changes them."""
    if principal.user_id is not None:
        raise Problem(403, NOT_ALLOWED, f"{what} is only possible server-side (a server token)")


def group_id(value: Any, name: str = "id") -> str:
    if not isinstance(value, str) or not GROUP_ID.match(value) or len(value) > MAX_ID:
        raise Problem.invalid(
            {name: f"must be a feed group id: letters, digits, _ and -, at most {MAX_ID}"}
        )
    return value


def checked_settings(body: Any, *, require_id: bool) -> dict[str, Any]:
    """The settings of a request body, checked; a 400 names every wrong member."""
    if body is None:
        body = {}
    errors = validate_feed_group(body, require_id=require_id)
    if errors:
        raise Problem.from_field_errors(errors)
    settings = stored_settings(body, FEED_GROUP_FIELDS)
    settings.setdefault("default_visibility", DEFAULT_VISIBILITY)  # the spec's default
    return settings


class FeedGroupsService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _get(self, db: sqlite3.Connection, gid: str, deleted: bool = False) -> dict[str, Any]:
        found = _select(db, "id = ?" + ("" if deleted else " AND deleted_at IS NULL"), [gid])
        if not found:
            raise Problem.not_found(f"feed group {gid!r}")
        return found[0]

    def list_feed_groups(self, principal: Principal, include_deleted: bool) -> dict[str, Any]:
        with self.store.reading() as db:
            groups = _select(db, "1" if include_deleted else "deleted_at IS NULL", [])
        return {"groups": {g["id"]: g for g in groups}}

    def get_feed_group(self, principal: Principal, gid: str, deleted: bool) -> dict[str, Any]:
        with self.store.reading() as db:
            return {"feed_group": self._get(db, gid, deleted)}

    def create_feed_group(self, principal: Principal, body: Any) -> dict[str, Any]:
        server_only(principal, "creating a feed group")
        settings = checked_settings(body, require_id=True)
        gid = group_id(body["id"])
        with self.store.transaction() as db:
            existing = _select(db, "id = ?", [gid])
            if existing:
                state = "is deleted (RestoreFeedGroup)" if "deleted_at" in existing[0] else ""
                raise Problem.invalid({"id": f"feed group {gid!r} already exists {state}".strip()})
            _insert(db, gid, settings, self.store.tick())
            return {"feed_group": self._get(db, gid)}

    def get_or_create_feed_group(self, principal: Principal, gid: str, body: Any) -> dict[str, Any]:
        """The group as it is when it exists (a soft-deleted one too: its ``deleted_at``
        says so), else created with the body's settings."""
        group_id(gid)
        settings = checked_settings(body, require_id=False)
        with self.store.reading() as db:
            existing = _select(db, "id = ?", [gid])
        if existing:
            return {"feed_group": existing[0], "was_created": False}
        server_only(principal, "creating a feed group")
        with self.store.transaction() as db:
            created = not _select(db, "id = ?", [gid])
            _insert(db, gid, settings, self.store.tick())
            return {"feed_group": self._get(db, gid, deleted=True), "was_created": created}

    def update_feed_group(self, principal: Principal, gid: str, body: Any) -> dict[str, Any]:
        """Every setting replaced (one left out is cleared: the docs' full replacement)."""
        server_only(principal, "updating a feed group")
        settings = checked_settings(body, require_id=False)
        with self.store.transaction() as db:
            self._get(db, gid)
            db.execute(
                "UPDATE feed_groups SET doc = ?, updated_at = ? WHERE id = ?",
                (orjson.dumps(settings), self.store.tick(), gid),
            )
            return {"feed_group": self._get(db, gid)}

    def delete_feed_group(self, principal: Principal, gid: str, hard: bool) -> dict[str, Any]:
        """Soft (``deleted_at`` set; RestoreFeedGroup undoes it) or hard (the row removed).
        The group's feeds stay; writes to them are refused while the group is soft-deleted."""
        server_only(principal, "deleting a feed group")
        with self.store.transaction() as db:
            self._get(db, gid, deleted=hard)
            if hard:
                db.execute("DELETE FROM feed_groups WHERE id = ?", (gid,))
            else:
                now = self.store.tick()
                db.execute(
                    "UPDATE feed_groups SET deleted_at = ?, updated_at = ? WHERE id = ?",
                    (now, now, gid),
                )
        return {}

    def restore_feed_group(self, principal: Principal, gid: str) -> dict[str, Any]:
        """Clears ``deleted_at`` and nothing else (the spec's words)."""
        server_only(principal, "restoring a feed group")
        with self.store.transaction() as db:
            group = self._get(db, gid, deleted=True)
            if "deleted_at" not in group:
                raise Problem.invalid({"feed_group_id": f"feed group {gid!r} is not deleted"})
            db.execute("UPDATE feed_groups SET deleted_at = NULL WHERE id = ?", (gid,))
            return {"feed_group": self._get(db, gid)}
