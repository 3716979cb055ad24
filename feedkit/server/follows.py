"""The follows resource of the embedded server: Follow, FollowBatch, GetOrCreateFollows,
UpdateFollow, QueryFollows and Unfollow.

A follow makes its source feed read its target feed's activities; it keeps its own fields
(push_preference, follower_role, custom), and each answer shows both feeds with their counts
as they are after the change.
"""

from __future__ import annotations

import base64
from typing import Any

from feedkit.schema import DEFAULT_PAGE, FEED_ID
from feedkit.server.auth import Principal
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.render import feed_response
from feedkit.server.requests import body_list, body_object, page_limit
from feedkit.server.store import FOLLOW_FIELDS, Store, now_ns

__all__ = ["FollowsService"]


def _follow_filter(conditions: Any) -> tuple[str, list[Any]]:
    """A QueryFollows filter as SQL over the follows table."""
    if not isinstance(conditions, dict):
        raise Problem.invalid({"filter": "must be an object"})
    columns = {"source_feed": "source", "target_feed": "target",
               "push_preference": "push_preference"}  # fmt: skip
    parts, params = [], []
    for key, value in conditions.items():
        if key == "status":  # every follow of this server is accepted
            listed = value.get("$in") if isinstance(value, dict) else None
            accepted = value == "accepted" or (isinstance(value, dict) and (
                value.get("$eq") == "accepted"
                or (isinstance(listed, list) and "accepted" in listed)))  # fmt: skip
            parts.append("1" if accepted else "0")
            continue
        if key not in columns:
            raise Problem.invalid({f"filter.{key}": "filter on source_feed, target_feed, "
                                   "push_preference or status"})  # fmt: skip
        ops = value if isinstance(value, dict) else {"$eq": value}
        for op, operand in ops.items():
            if op == "$eq" and isinstance(operand, str):
                parts.append(f"{columns[key]} = ?")
                params.append(operand)
            elif op == "$in" and isinstance(operand, list) and operand:
                parts.append(f"{columns[key]} IN ({','.join('?' * len(operand))})")
                params += [str(x) for x in operand]
            else:
                raise Problem.invalid({f"filter.{key}": f"{op} of a string is not supported"})
    return " AND ".join(parts) or "1", params


def _offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"follows:{offset}".encode()).decode()


def _offset_cursor(token: Any) -> int:
    """The offset a QueryFollows cursor holds (an opaque token of this server's), or 0."""
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(str(token)).decode().partition(":")
        if kind != "follows" or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise Problem.invalid({"next": "is not a cursor this server gave"}) from None


class FollowsService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _feed_owner_check(self, db: Any, principal: Principal, fid: str) -> None:
        """A user token may change only its own feeds: created by it, or named for it."""
        if principal.user_id is None:
            return
        feed = self.store.get_feed(db, fid)
        owner = feed.get("created_by") if feed else fid.partition(":")[2]
        if owner != principal.user_id:
            raise Problem(
                403, NOT_ALLOWED, f"user {principal.user_id!r} cannot change follows of {fid!r}"
            )

    def _feed_ref(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or not FEED_ID.match(value):
            raise Problem.invalid({name: "must be a feed id 'group:id'"})
        return value

    def _follow_request(self, body: Any, where: str = "") -> tuple[str, str, dict[str, Any]]:
        """Source, target and the follow's own fields of one FollowRequest, checked."""
        body = body_object(body, where or "body")
        source = self._feed_ref(body.get("source"), f"{where}source")
        target = self._feed_ref(body.get("target"), f"{where}target")
        if source == target:
            raise Problem.invalid({f"{where}target": "a feed cannot follow itself"})
        fields = {k: body.get(k) for k in FOLLOW_FIELDS}
        if fields["push_preference"] not in (None, "all", "none"):
            raise Problem.invalid({f"{where}push_preference": "must be all or none"})
        if fields["custom"] is not None and not isinstance(fields["custom"], dict):
            raise Problem.invalid({f"{where}custom": "must be an object"})
        if fields["follower_role"] is not None and not isinstance(fields["follower_role"], str):
            raise Problem.invalid({f"{where}follower_role": "must be a string"})
        return source, target, fields

    def follow(self, principal: Principal, body: Any) -> dict[str, Any]:
        return {"follow": self.follow_batch(principal, {"follows": [body]}, one=True)["follows"][0]}

    def follow_batch(
        self, principal: Principal, body: Any, *, keep: bool = False, one: bool = False
    ) -> dict[str, Any]:
        """FollowBatch (each follow created or updated) and GetOrCreateFollows (``keep``:
        one that exists is answered as it is); ``created`` lists the new ones."""
        items = body_list(body_object(body), "follows")
        requests = [self._follow_request(x, "" if one else f"follows[{i}].")
                    for i, x in enumerate(items)]  # fmt: skip
        with self.store.transaction() as db:
            now = self.store.tick()
            done, created = [], []
            for source, target, fields in requests:
                self._feed_owner_check(db, principal, source)
                self.store.ensure_feeds(db, [source, target], principal.user_id, now)
                row = self.store.follow(db, source, target, now, fields, keep=keep)
                done.append(self._follow_response(db, row))
                if row["created_at"] == now:
                    created.append(done[-1])
            return {"follows": done, "created": created}

    def update_follow(self, principal: Principal, body: Any) -> dict[str, Any]:
        source, target, fields = self._follow_request(body)
        with self.store.transaction() as db:
            self._feed_owner_check(db, principal, source)
            if not self.store.query_follows(
                db, "source = ? AND target = ?", [source, target], 1, 0
            ):
                raise Problem.not_found(f"follow {source!r} -> {target!r}")
            row = self.store.follow(db, source, target, self.store.tick(), fields)
            return {"follow": self._follow_response(db, row)}

    def query_follows(self, principal: Principal, body: Any) -> dict[str, Any]:
        """QueryFollows: filter on source_feed, target_feed (a feed id or {"$in": [...]}),
        push_preference and status; sort on created_at; pages by next/prev cursors."""
        body = body_object(body)
        where, params = _follow_filter(body.get("filter") or {})
        limit = page_limit(body, DEFAULT_PAGE)
        direction = "ASC"
        sort = body.get("sort") or []
        if not isinstance(sort, list):
            raise Problem.invalid({"sort": "must be a list of {field, direction}"})
        for item in sort:
            if not isinstance(item, dict) or item.get("field") != "created_at":
                raise Problem.invalid({"sort": "sort on created_at"})
            direction = "DESC" if item.get("direction", -1) == -1 else "ASC"
        offset = _offset_cursor(body.get("next") or body.get("prev"))
        with self.store.reading() as db:
            rows = self.store.query_follows(
                db, where, params, limit + 1, offset,
                order=f"created_at {direction}, source, target",
            )  # fmt: skip
            follows = [self._follow_response(db, r) for r in rows[:limit]]
        out: dict[str, Any] = {"follows": follows}  # a cursor only where there is a page
        if len(rows) > limit:
            out["next"] = _offset_token(offset + limit)
        if offset:
            out["prev"] = _offset_token(max(0, offset - limit))
        return out

    def _follow_response(self, db: Any, row: dict[str, Any]) -> dict[str, Any]:
        now = now_ns()
        feeds = {}
        for fid in (row["source"], row["target"]):
            feed = self.store.get_feed(db, fid)
            assert feed is not None
            users = self.store.get_users(db, [feed.get("created_by") or feed["id"]])
            feeds[fid] = feed_response(feed, self.store.feed_counts(db, fid), users, now)
        return {
            "source_feed": feeds[row["source"]],
            "target_feed": feeds[row["target"]],
            "status": "accepted",
            "follower_role": row["follower_role"],
            "push_preference": row["push_preference"],
            "custom": row["custom"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def unfollow(self, principal: Principal, source: str, target: str) -> dict[str, Any]:
        with self.store.transaction() as db:
            self._feed_owner_check(db, principal, source)
            found = self.store.query_follows(
                db, "source = ? AND target = ?", [source, target], 1, 0
            )
            if not found:
                raise Problem.not_found(f"follow {source!r} -> {target!r}")
            self.store.unfollow(db, source, target)
            # the follow that was, with both feeds' counts as they are now, after it
            return {"follow": self._follow_response(db, found[0])}
