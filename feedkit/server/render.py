"""Stored records -> response objects, with the read-side names the SDK parses.

Activities answer with ``user`` (a full user object), ``mentioned_users`` and ``parent``
instead of the ids they were written with; every timestamp is an integer of nanoseconds.
"""

from __future__ import annotations

from typing import Any

USER_DEFAULTS: dict[str, Any] = {
    "role": "user",
    "language": "",
    "banned": False,
    "online": False,
    "invisible": False,
    "shadow_banned": False,
    "blocked_user_ids": [],
    "teams": [],
    "custom": {},
}
# What a FullUserResponse (the answer to upserting users) adds: chat state a feeds server
# does not keep, answered empty.
FULL_USER_DEFAULTS: dict[str, Any] = {
    "channel_mutes": [], "devices": [], "mutes": [], "total_unread_count": 0,
    "unread_channels": 0, "unread_count": 0, "unread_threads": 0,
}  # fmt: skip
_USER_KEYS = ("name", "image", "role", "language", "invisible", "teams", "custom")


def user_response(
    user_id: str,
    users: dict[str, dict[str, Any]],
    now: int,
    seen: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A user object; ``seen`` caches them for one answer (an author of many activities on a
    page is rendered once, and the answer refers to that one object each time)."""
    if seen is not None:
        cached = seen.get(user_id)
        if cached is None:
            cached = seen[user_id] = user_response(user_id, users, now)
        return cached
    stored = users.get(user_id)
    out = dict(USER_DEFAULTS)
    out["id"] = user_id
    if stored is None:
        out["created_at"] = out["updated_at"] = now
        return out
    for key in _USER_KEYS:
        if stored.get(key) is not None:
            out[key] = stored[key]
    out["created_at"] = stored["created_at"]
    out["updated_at"] = stored["updated_at"]
    return out


def activity_response(
    rec: dict[str, Any],
    users: dict[str, dict[str, Any]],
    parents: dict[str, dict[str, Any]],
    now: int,
    seen: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rec["id"],
        "type": rec["type"],
        "feeds": rec.get("feeds") or [],
        "user": user_response(rec["user_id"], users, now, seen),
        "visibility": rec.get("visibility") or "public",
        "restrict_replies": rec.get("restrict_replies") or "everyone",
        "attachments": rec.get("attachments") or [],
        "custom": rec.get("custom") or {},
        "search_data": rec.get("search_data") or {},
        "filter_tags": rec.get("filter_tags") or [],
        "interest_tags": rec.get("interest_tags") or [],
        "mentioned_users": [
            user_response(u, users, now, seen) for u in rec.get("mentioned_user_ids") or ()
        ],
        "comments": [],
        "latest_reactions": [],
        "own_bookmarks": [],
        "own_reactions": [],
        "reaction_groups": {},
        "collections": {},
        "bookmark_count": 0,
        "comment_count": 0,
        "reaction_count": 0,
        "share_count": rec.get("share_count") or 0,
        "popularity": rec.get("popularity") or 0,
        "score": 0.0,
        "hidden": False,
        "preview": False,
        "created_at": rec["created_at"],
        "updated_at": rec["updated_at"],
    }
    for key in (
        "text",
        "visibility_tag",
        "location",
        "expires_at",
        "deleted_at",
        "edited_at",
        "poll_id",
        "parent_id",
    ):
        if rec.get(key) is not None:
            out[key] = rec[key]
    parent = parents.get(rec.get("parent_id") or "")
    if parent is not None:
        out["parent"] = activity_response(parent, users, {}, now, seen)
    return out


def feed_response(
    feed: dict[str, Any], counts: dict[str, int], users: dict[str, dict[str, Any]], now: int
) -> dict[str, Any]:
    creator = feed.get("created_by") or feed["id"]
    return {
        "feed": feed["feed"],
        "group_id": feed["group_id"],
        "id": feed["id"],
        "name": feed.get("name") or "",
        "description": feed.get("description") or "",
        "visibility": feed.get("visibility") or "visible",
        "created_by": user_response(creator, users, now),
        "follower_count": counts["follower_count"],
        "following_count": counts["following_count"],
        "member_count": 0,
        "pin_count": 0,
        "activity_count": counts["activity_count"],
        "created_at": feed["created_at"],
        "updated_at": feed["updated_at"],
        "custom": feed.get("custom") or {},
        "filter_tags": feed.get("filter_tags") or [],
        "own_capabilities": [],
        "own_followings": [],
        "own_follows": [],
    }
