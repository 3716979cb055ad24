"""Stored records -> response objects, with the read-side names the SDK parses.

Activities answer with ``user`` (a full user object), ``mentioned_users`` and ``parent``
instead of the ids they were written with; every timestamp is an integer of nanoseconds.
:class:`Answer` splices an activity's JSON from its stored row without decoding its doc.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from feedkit.schema.user import USER_FIELDS
from feedkit.server.engagement import ENGAGEMENT_DEFAULTS
from feedkit.server.store import ROW

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
# Every stored user field is answered (the schema's, and when a user was deactivated or
# deleted); fields the user does not have are left out, or answered with USER_DEFAULTS.
_USER_KEYS = (*(k for k in USER_FIELDS if k != "id"), "deactivated_at", "deleted_at")


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


# An activity nothing engaged with answers these (the defaults, spliced as bytes).
_NO_ENGAGEMENT = orjson.dumps(ENGAGEMENT_DEFAULTS)[1:-1]
_OPTIONAL_COLUMNS = ("visibility_tag", "parent_id", "expires_at", "deleted_at")
# Answer._activity unpacks rows by position: the stored row must still be laid out so.
_LAYOUT = ("rid", "id", "type", "user_id", "visibility", *_OPTIONAL_COLUMNS, "created_at",
           "updated_at", "share_count", "popularity", "mentions", "doc")  # fmt: skip
if ROW != _LAYOUT:  # pragma: no cover
    raise ImportError(f"feedkit.server.render expects rows {_LAYOUT}, the store has {ROW}")


class Answer:
    """Renders the activities of one answer from stored rows (``SELECT_ACTIVITY``).

    An activity's JSON is spliced together from bytes: its columns encoded by orjson, the
    stored doc as it is (it already holds those members as an answer shows them), and the
    JSON of its author and mentioned users, each rendered once per answer. The result is an
    ``orjson.Fragment``, which ``orjson.dumps`` writes out verbatim inside the answer.
    """

    def __init__(
        self,
        users: dict[str, dict[str, Any]],
        parents: dict[str, tuple[Any, ...]],
        now: int,
        engagement: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.users = users
        self.parents = parents
        self.now = now
        self.engagement = engagement or {}
        self._seen: dict[str, bytes] = {}

    def user(self, user_id: str) -> bytes:
        cached = self._seen.get(user_id)
        if cached is None:
            cached = self._seen[user_id] = orjson.dumps(
                user_response(user_id, self.users, self.now)
            )
        return cached

    def _engagement(self, activity_id: str) -> bytes:
        found = self.engagement.get(activity_id)
        if not found:
            return _NO_ENGAGEMENT
        return orjson.dumps({**ENGAGEMENT_DEFAULTS, **found})[1:-1]

    def activity(self, row: Sequence[Any]) -> orjson.Fragment:
        return orjson.Fragment(self._activity(row, nested=False))

    def _activity(self, row: Sequence[Any], nested: bool) -> bytes:
        _, aid, kind, user_id, visibility, *optional, created, updated, shares, popularity, \
            mentions, doc = row  # fmt: skip
        head: dict[str, Any] = {
            "id": aid,
            "type": kind,
            "visibility": visibility or "public",
            "share_count": shares or 0,
            "popularity": popularity or 0,
            "created_at": created,
            "updated_at": updated,
        }
        for key, value in zip(_OPTIONAL_COLUMNS, optional, strict=True):
            if value is not None:
                head[key] = value
        mentioned = b",".join(self.user(u) for u in orjson.loads(mentions)) if mentions else b""
        parts = [orjson.dumps(head)[:-1], b',"user":', self.user(user_id),
                 b',"mentioned_users":[', mentioned, b"],", self._engagement(aid)]  # fmt: skip
        parent = None if nested else self.parents.get(optional[1] or "")
        if parent is not None:
            parts += [b',"parent":', self._activity(parent, True)]
        parts += [b",", doc[1:]]  # a doc is never {}: it holds every DOC_DEFAULTS member
        return b"".join(parts)


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
        "pin_count": counts["pin_count"],
        "activity_count": counts["activity_count"],
        "created_at": feed["created_at"],
        "updated_at": feed["updated_at"],
        "custom": feed.get("custom") or {},
        "filter_tags": feed.get("filter_tags") or [],
        "own_capabilities": [],
        "own_followings": [],
        "own_follows": [],
    }
