"""The follows resource of the embedded server: Follow, FollowBatch, GetOrCreateFollows,
UpdateFollow, QueryFollows, Unfollow, AcceptFollow and RejectFollow.

A follow makes its source feed read its target feed's activities; it keeps its own fields
(push_preference, follower_role, custom), and each answer shows both feeds with their counts
as they are after the change. A follow of a feed that approves its followers (visibility
``followers``) is a request: ``pending``, neither counted nor read, until the target's owner
accepts or rejects it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedkit.schema import DEFAULT_PAGE, FEED_ID
from feedkit.schema.follow import FOLLOW_STATUSES, PUSH_PREFERENCES
from feedkit.server import listing
from feedkit.server.auth import APP, Principal
from feedkit.server.feed_groups import group_setting
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.render import feed_response
from feedkit.server.requests import body_list, body_object, page_limit
from feedkit.server.store import FOLLOW_FIELDS, Store, now_ns

__all__ = ["FollowsService"]

# Feed visibilities (the hosted service's docs, "Feed and Activity Visibility"): a follow of
# a "followers" feed is a request its owner accepts or rejects; only the owner follows a
# "private" feed, only members a "members" one (feedkit has no members: only the owner).
APPROVED_FOLLOWS = ("followers",)
OWNER_ONLY_FOLLOWS = ("private", "members")


# QueryFollows' filter fields and the operators each takes, and their columns.
_FOLLOW_FILTERS = {"source_feed": ("$eq", "$in"), "target_feed": ("$eq", "$in"),
                   "push_preference": ("$eq", "$in"), "status": ("$eq", "$in")}  # fmt: skip
_FOLLOW_COLUMNS = {"source_feed": "source", "target_feed": "target"}


class FollowsService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _owner(self, db: Any, fid: str) -> str:
        """Whose a feed is, for its follow requests: its creator, else the user it is named
        for (``user:ann`` is ann's)."""
        feed = self.store.get_feed(db, fid) or {}
        return str(feed.get("created_by") or fid.partition(":")[2])

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
        if fields["push_preference"] not in (None, *PUSH_PREFERENCES):
            raise Problem.invalid({f"{where}push_preference": "must be all or none"})
        if fields["custom"] is not None and not isinstance(fields["custom"], dict):
            raise Problem.invalid({f"{where}custom": "must be an object"})
        if fields["follower_role"] is not None and not isinstance(fields["follower_role"], str):
            raise Problem.invalid({f"{where}follower_role": "must be a string"})
        if body.get("status") is not None:
            if body["status"] not in FOLLOW_STATUSES:
                raise Problem.invalid({f"{where}status": "must be accepted, pending or rejected"})
            fields["status"] = body["status"]
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
            for request in requests:
                self._feed_owner_check(db, principal, request[0])
                self.store.ensure_feeds(db, request[:2], principal.user_id, now)
                row = self._put(db, principal, request, now, keep=keep)
                done.append(self._follow_response(db, row))
                if row["created_at"] == now:
                    created.append(done[-1])
            return {"follows": done, "created": created}

    def write_follows(self, db: Any, items: Sequence[Any]) -> None:
        """FollowBatch without its answer, in the caller's transaction, for the app itself
        (an import batch): each follow written at its own tick, as one FollowBatch each."""
        requests = [self._follow_request(x) for x in items]  # a refused item is found alone
        fids = [fid for source, target, _ in requests for fid in (source, target)]
        self.store.ensure_feeds(db, fids, APP.user_id, self.store.tick())
        for request in requests:
            self._put(db, APP, request, self.store.tick())

    def _put(
        self,
        db: Any,
        principal: Principal,
        request: tuple[str, str, dict[str, Any]],
        now: int,
        *,
        keep: bool = False,
    ) -> dict[str, Any]:
        """Write one checked FollowRequest between feeds that exist (its status and default
        role set as a new follow takes them); the stored follow."""
        source, target, fields = request
        row = self.store.follow(db, source, target, now, fields, keep=keep)
        if not keep or row["created_at"] == now:
            row = self._request(db, principal, row, now, fields.get("status"))
        if row["created_at"] == now and fields["follower_role"] is None:
            row = self._default_role(db, row)
        return row

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
        where, params = listing.conditions_sql(body.get("filter"), _FOLLOW_FILTERS,
                                               _FOLLOW_COLUMNS)  # fmt: skip
        order = listing.order_by(body.get("sort"), ("created_at",), "source, target",
                                 default="created_at ASC")  # fmt: skip
        limit = page_limit(body, DEFAULT_PAGE)
        offset = listing.page_offset(body, "follows")
        with self.store.reading() as db:
            rows = self.store.query_follows(db, where, params, limit + 1, offset, order=order)
            follows = [self._follow_response(db, r) for r in rows[:limit]]
        return listing.paged({"follows": follows}, "follows", offset, limit, len(rows) > limit)

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
            "status": row["status"],
            "follower_role": row["follower_role"],
            "push_preference": row["push_preference"],
            "custom": row["custom"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            **{k: row[k] for k in ("request_accepted_at", "request_rejected_at") if row[k]},
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

    def _request(
        self, db: Any, principal: Principal, row: dict[str, Any], now: int, given: str | None
    ) -> dict[str, Any]:
        """The follow's status after a Follow: what a server-side request gives; else a new
        (or once rejected) follow of a feed that approves its followers is pending, and any
        other new one accepted; a pending or accepted follow stays as it is."""
        source, target = row["source"], row["target"]
        target_feed = self.store.get_feed(db, target) or {}
        visibility = target_feed.get("visibility") or "visible"
        stranger = self._owner(db, source) != self._owner(db, target)
        if given is not None and principal.user_id is not None:
            raise Problem(403, NOT_ALLOWED, "only a server-side request may set a follow's status")
        if stranger and visibility in OWNER_ONLY_FOLLOWS and given is None:
            raise Problem(
                403, NOT_ALLOWED,
                f"feed {target!r} is {visibility}: only its owner can follow it",
            )  # fmt: skip
        status = given
        if status is None and (row["created_at"] == now or row["status"] == "rejected"):
            status = "pending" if stranger and visibility in APPROVED_FOLLOWS else "accepted"
        if status is None or status == row["status"]:
            return row
        db.execute(
            "UPDATE follows SET status = ?, request_rejected_at = NULL, updated_at = ? "
            "WHERE source = ? AND target = ?",
            (status, now, source, target),
        )
        found = self.store.get_follow(db, source, target)
        assert found is not None
        return found

    def _default_role(self, db: Any, row: dict[str, Any]) -> dict[str, Any]:
        """A new follow given no follower_role takes its target group's
        ``default_follower_role``, if the group has one."""
        role = group_setting(db, row["target"].partition(":")[0], "default_follower_role")
        if not role:
            return row
        db.execute(
            "UPDATE follows SET follower_role = ? WHERE source = ? AND target = ?",
            (role, row["source"], row["target"]),
        )
        return {**row, "follower_role": role}

    def answer_request(self, principal: Principal, body: Any, *, accept: bool) -> dict[str, Any]:
        """AcceptFollow and RejectFollow: the target feed's owner (or a server token) turns a
        pending follow accepted (with ``follower_role`` if given) or rejected. Answering it
        again the same way answers it as it is."""
        body = body_object(body)
        source = self._feed_ref(body.get("source"), "source")
        target = self._feed_ref(body.get("target"), "target")
        role = body.get("follower_role") if accept else None
        if role is not None and not isinstance(role, str):
            raise Problem.invalid({"follower_role": "must be a string"})
        verdict = "accepted" if accept else "rejected"
        with self.store.transaction() as db:
            row = self.store.get_follow(db, source, target)
            if row is None:
                raise Problem.not_found(f"follow {source!r} -> {target!r}")
            if principal.user_id is not None and self._owner(db, target) != principal.user_id:
                raise Problem(
                    403, NOT_ALLOWED,
                    f"only the owner of {target!r} can {'accept' if accept else 'reject'} "
                    "follows of it",
                )  # fmt: skip
            if row["status"] not in ("pending", verdict):
                raise Problem.invalid(
                    {"target": f"the follow {source!r} -> {target!r} is {row['status']}, "
                     "not pending"}
                )  # fmt: skip
            if row["status"] == "pending" or role is not None:
                now = self.store.tick()
                stamp = "request_accepted_at" if accept else "request_rejected_at"
                db.execute(
                    f"UPDATE follows SET status = ?, {stamp} = COALESCE({stamp}, ?), "
                    "follower_role = COALESCE(?, follower_role), updated_at = ? "
                    "WHERE source = ? AND target = ?",
                    (verdict, now, role, now, source, target),
                )
            found = self.store.get_follow(db, source, target)
            assert found is not None
            return {"follow": self._follow_response(db, found)}
