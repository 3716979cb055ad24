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
from feedkit.server.feed_groups import default_visibility, group_states, refuse_groups
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.render import feed_response
from feedkit.server.requests import body_list, body_object, page_limit
from feedkit.server.store import FEED_COUNTS, FOLLOW_FIELDS, Store, now_ns

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


# A follow request checked: source, target and its own fields.
FollowRequest = tuple[str, str, dict[str, Any]]
# Feeds' counts by feed id (activity_count, follower_count, following_count, pin_count).
FeedCounts = dict[str, dict[str, int]]


def _owner(fid: str, feed: dict[str, Any] | None) -> str:
    """Whose a feed is, for its follow requests: its creator, else the user it is named for
    (``user:ann`` is ann's)."""
    return str((feed or {}).get("created_by") or fid.partition(":")[2])


def _count(counts: FeedCounts, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    """Move the follower and following counts of a follow's feeds as its status moved."""
    was = old is not None and old["status"] == "accepted"
    change = (new["status"] == "accepted") - was
    if change:
        counts[new["target"]]["follower_count"] += change
        counts[new["source"]]["following_count"] += change


class FollowsService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _owner(self, db: Any, fid: str) -> str:
        """Whose a feed is, for its follow requests: its creator, else the user it is named
        for (``user:ann`` is ann's)."""
        return _owner(fid, self.store.get_feed(db, fid))

    def _feed_owner_check(
        self, principal: Principal, fid: str, feed: dict[str, Any] | None
    ) -> None:
        """A user token may change only its own feeds: created by it, or named for it."""
        if principal.user_id is None:
            return
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
        one that exists is answered as it is); ``created`` lists the new ones. Each answer
        shows its feeds' counts as they were just after its own follow."""
        items = body_list(body_object(body), "follows")
        requests = [self._follow_request(x, "" if one else f"follows[{i}].")
                    for i, x in enumerate(items)]  # fmt: skip
        with self.store.transaction() as db:
            now = self.store.tick()
            steps, feeds = self._put(db, principal, requests, [now] * len(requests), keep=keep)
            done = self._responses(db, [(row, counts) for row, counts, _ in steps], feeds)
            created = [answer for answer, (_, _, new) in zip(done, steps, strict=True) if new]
            return {"follows": done, "created": created}

    def write_follows(self, db: Any, items: Sequence[Any]) -> None:
        """FollowBatch without its answer, in the caller's transaction, for the app itself
        (an import batch): each follow written at its own tick, as one FollowBatch each."""
        requests = [self._follow_request(x) for x in items]  # a refused item is found alone
        fids = [fid for source, target, _ in requests for fid in (source, target)]
        self.store.ensure_feeds(db, fids, APP.user_id, self.store.tick())
        self._put(db, APP, requests, [self.store.tick() for _ in requests])

    def _put(
        self,
        db: Any,
        principal: Principal,
        requests: Sequence[FollowRequest],
        ticks: Sequence[int],
        *,
        keep: bool = False,
    ) -> tuple[list[tuple[dict[str, Any], FeedCounts, bool]], dict[str, dict[str, Any]]]:
        """Write checked FollowRequests, each at its tick, as one at a time would: a follow
        request made checked, defaulted and given its status in order, over what the batch
        wrote before it; then their feeds and follows written in a few statements. Each
        request's follow as it left it, both feeds' counts then, and whether it made it; and the
        feeds they name, as stored after."""
        fids = list(
            dict.fromkeys(fid for source, target, _ in requests for fid in (source, target))
        )
        feeds = self.store.get_feeds(db, fids)
        groups = group_states(db, {fid.partition(":")[0] for fid in fids})
        counts = self.store.feeds_counts(db, fids)
        follows = self.store.get_follows(db, [(source, target) for source, target, _ in requests])
        steps = []
        for (source, target, fields), now in zip(requests, ticks, strict=True):
            self._feed_owner_check(principal, source, feeds.get(source))
            pair = (source.partition(":")[0], target.partition(":")[0])
            refuse_groups(groups, pair, strict=self.store.strict_groups)
            for fid, group in zip((source, target), pair, strict=True):
                if fid not in feeds:  # as ensure_feeds makes it, below
                    visibility = default_visibility(groups, group)
                    feeds[fid] = self.store.new_feed(fid, principal.user_id, ticks[0], visibility)
            old = follows.get((source, target))
            row = self._followed(old, source, target, fields, now, keep=keep)
            if not keep or row["created_at"] == now:
                row = self._request(principal, row, feeds, now, fields.get("status"))
            if row["created_at"] == now and fields["follower_role"] is None:
                role = groups.get(target.partition(":")[0], (None, {}))[1]
                row["follower_role"] = role.get("default_follower_role") or row["follower_role"]
            _count(counts, old, row)
            follows[source, target] = row
            steps.append((dict(row), {f: dict(counts[f]) for f in (source, target)},
                          row["created_at"] == now))  # fmt: skip
        self.store.ensure_feeds(db, fids, principal.user_id, ticks[0])
        self.store.put_follows(db, {(r["source"], r["target"]): r for r, _, _ in steps}.values())
        return steps, feeds

    @staticmethod
    def _followed(
        old: dict[str, Any] | None,
        source: str,
        target: str,
        fields: dict[str, Any],
        now: int,
        *,
        keep: bool,
    ) -> dict[str, Any]:
        """The follow once a FollowRequest's own fields are written over ``old`` (the stored
        one, or None): a new one takes the defaults for those not given."""
        given = {k: v for k, v in fields.items() if k in FOLLOW_FIELDS and v is not None}
        if old is None:
            return {"source": source, "target": target, "created_at": now, "updated_at": now,
                    **FOLLOW_FIELDS, **given, "status": "accepted", "request_accepted_at": None,
                    "request_rejected_at": None}  # fmt: skip
        if keep:
            return dict(old)
        return {**old, "updated_at": now, **given}

    def update_follow(self, principal: Principal, body: Any) -> dict[str, Any]:
        source, target, fields = self._follow_request(body)
        with self.store.transaction() as db:
            self._feed_owner_check(principal, source, self.store.get_feed(db, source))
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
            follows = self._responses(db, [(r, None) for r in rows[:limit]])
        return listing.paged({"follows": follows}, "follows", offset, limit, len(rows) > limit)

    def _follow_response(self, db: Any, row: dict[str, Any]) -> dict[str, Any]:
        return self._responses(db, [(row, None)])[0]

    def _responses(
        self,
        db: Any,
        follows: Sequence[tuple[dict[str, Any], FeedCounts | None]],
        feeds: dict[str, dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """FollowResponses: each follow with both its feeds (given, else read), their counts
        given (else read as they are now); feeds, creators and counts read once for all."""
        fids = list(dict.fromkeys(f for row, _ in follows for f in (row["source"], row["target"])))
        feeds = feeds if feeds is not None else self.store.get_feeds(db, fids)
        users = self.store.get_users(db, {f.get("created_by") or f["id"] for f in feeds.values()})
        stored = self.store.feeds_counts(db, fids) if any(c is None for _, c in follows) else {}
        now = now_ns()
        zero = dict.fromkeys(FEED_COUNTS, 0)
        bare = {fid: feed_response(feed, zero, users, now) for fid, feed in feeds.items()}
        out = []
        for row, counts in follows:
            shown = counts or stored  # (counts in place: a feed keeps its members' order)
            ends = [{**bare[f], **shown[f]} for f in (row["source"], row["target"])]
            out.append({
                "source_feed": ends[0],
                "target_feed": ends[1],
                "status": row["status"],
                "follower_role": row["follower_role"],
                "push_preference": row["push_preference"],
                "custom": row["custom"],
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
                **{k: row[k] for k in ("request_accepted_at", "request_rejected_at") if row[k]},
            })  # fmt: skip
        return out

    def unfollow(self, principal: Principal, source: str, target: str) -> dict[str, Any]:
        with self.store.transaction() as db:
            self._feed_owner_check(principal, source, self.store.get_feed(db, source))
            found = self.store.query_follows(
                db, "source = ? AND target = ?", [source, target], 1, 0
            )
            if not found:
                raise Problem.not_found(f"follow {source!r} -> {target!r}")
            self.store.unfollow(db, source, target)
            # the follow that was, with both feeds' counts as they are now, after it
            return {"follow": self._follow_response(db, found[0])}

    @staticmethod
    def _request(
        principal: Principal,
        row: dict[str, Any],
        feeds: dict[str, dict[str, Any]],
        now: int,
        given: str | None,
    ) -> dict[str, Any]:
        """The follow's status after a Follow: what a server-side request gives; else a new
        (or once rejected) follow of a feed that approves its followers is pending, and any
        other new one accepted; a pending or accepted follow stays as it is."""
        source, target = row["source"], row["target"]
        visibility = feeds[target].get("visibility") or "visible"
        stranger = _owner(source, feeds[source]) != _owner(target, feeds[target])
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
        return {**row, "status": status, "request_rejected_at": None, "updated_at": now}

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
