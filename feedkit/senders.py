"""How the valid rows of each kind reach the service, and how a resume finds them there.

Kinds with a batch operation (activities, users, follows, comments) go out 100 to a request,
their bodies joined from the converter's JSON without re-encoding; the others (reactions,
bookmarks, feed groups) one request a row. Every send is safe to repeat, so a request retried
after a lost answer, or resent by a resumed import, stores each row once with its last
content: activities, users, follows and reactions are upserts; a comment, a bookmark or a feed
group that exists already is updated to the row instead (one with the same id on another
object is refused: ``conflict``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from feedkit.client import Client
from feedkit.convert import KEY_SEPARATOR
from feedkit.errors import APIError, FeedkitError
from feedkit.resources import Resource
from feedkit.schema import MAX_PAGE

__all__ = ["batch_body", "present", "rejected_items", "send_row", "settle_existing"]

ALREADY = "already"  # what the server's refusal of a row that exists says


def batch_body(resource: Resource, texts: pa.Array, keys: pa.Array) -> bytes:
    """The body of one batch request carrying these rows' JSON as it is."""
    assert resource.items is not None
    head = b'{"' + resource.items.encode()
    if resource.keyed:  # {"users": {"ann": {...}, ...}}
        pairs = (orjson.dumps(k) + b":" + t.encode()
                 for k, t in zip(keys.to_pylist(), texts.to_pylist(), strict=True))  # fmt: skip
        return head + b'":{' + b",".join(pairs) + b"}}"
    return head + b'":[' + ",".join(texts.to_pylist()).encode() + b"]}"


def rejected_items(resource: Resource, exc: APIError, keys: list[str]) -> dict[int, str]:
    """Rows a batch's 400 names (``activities[3].text``, ``users.ann.name``), with the
    server's message."""
    rejected: dict[int, str] = {}
    prefix = f"{resource.items}["
    by_key = {k: i for i, k in enumerate(keys)} if resource.keyed else {}
    for name, message in exc.exception_fields.items():
        index: int | None = None
        rest = ""
        if resource.keyed and name.startswith(f"{resource.items}."):
            key, _, rest = name[len(resource.items or "") + 1 :].partition(".")
            index = by_key.get(key)
        elif name.startswith(prefix) and "]" in name:
            number = name[len(prefix) : name.index("]")]
            index = int(number) if number.isdigit() else None
            rest = name[name.index("]") + 1 :].lstrip(".")
        if index is not None:
            rejected.setdefault(index, f"{rest + ': ' if rest else ''}{message}")
    return rejected


def send_row(client: Client, resource: Resource, text: str) -> None:
    """Store one row of a kind without a batch operation; raises the service's APIError."""
    data = orjson.loads(text)
    if resource.kind == "reaction":
        if data.get("activity_id") is not None:
            path = {"activity_id": data.pop("activity_id")}
            client.call("AddActivityReaction", path, json=data, retry=True, decode=False)
        else:
            path = {"id": data.pop("comment_id")}
            client.call("AddCommentReaction", path, json=data, retry=True, decode=False)
    elif resource.kind == "bookmark":
        path = {"activity_id": data.pop("activity_id")}
        try:
            client.call("AddBookmark", path, json=data, retry=True, decode=False)
        except APIError as exc:
            if not _exists(exc):
                raise
            client.call("UpdateBookmark", path, json=data, retry=True, decode=False)
    elif resource.kind == "feed_group":
        try:
            client.call("CreateFeedGroup", json=data, retry=True, decode=False)
        except APIError as exc:
            if not _exists(exc):
                raise
            path = {"id": data.pop("id")}
            client.call("UpdateFeedGroup", path, json=data, retry=True, decode=False)
    else:  # pragma: no cover - every kind without a batch operation is above
        raise AssertionError(resource.kind)


def _exists(exc: APIError) -> bool:
    return exc.status == 400 and any(ALREADY in str(m) for m in exc.exception_fields.values())


def settle_existing(client: Client, resource: Resource, text: str, message: str) -> str | None:
    """A batch row the server refused (``message``): if it refused it for existing already
    (a comment sent before), update it to the row; the message of what still failed, or
    None."""
    if resource.kind != "comment" or ALREADY not in message:
        return message
    data = orjson.loads(text)
    try:
        stored = client.call("GetComment", {"id": data["id"]}, retry=True)["comment"]
        for name in ("object_id", "parent_id"):
            if (stored.get(name) or None) != (data.get(name) or stored.get(name) or None):
                return (f"conflict: comment {data['id']!r} exists with {name} "
                        f"{stored.get(name)!r}, not {data.get(name)!r}")  # fmt: skip
        change = {k: data.get(k) for k in ("comment", "attachments", "custom",
                                           "mentioned_user_ids")}  # fmt: skip
        change["user_id"] = stored.get("user", {}).get("id") or data.get("user_id")
        client.call("UpdateComment", {"id": data["id"]}, json=change, retry=True, decode=False)
    except FeedkitError as exc:
        return f"{exc}"
    return None


def present(client: Client, resource: Resource, keys: list[str]) -> set[str]:
    """Which of these rows' keys the destination holds (a resume's check of its journal)."""
    finders: dict[str, Callable[[Client, list[str]], set[str]]] = {
        "activity": _activities, "user": _users, "comment": _comments, "follow": _follows,
        "reaction": _reactions, "bookmark": _bookmarks, "feed_group": _feed_groups,
    }  # fmt: skip
    return finders[resource.kind](client, keys)


def _activities(client: Client, ids: list[str]) -> set[str]:
    answer = client.query_answer({"id": {"$in": ids}}, limit=len(ids),
                                 include_expired_activities=True)  # fmt: skip
    return {a.get("id") for a in answer.get("activities") or []}


def _users(client: Client, ids: list[str]) -> set[str]:
    found = client.query_users({"id": {"$in": ids}}, limit=len(ids),
                               include_deactivated_users=True)  # fmt: skip
    return {str(u["id"]) for u in found}


def _comments(client: Client, ids: list[str]) -> set[str]:
    answer = client.query_comments({"id": {"$in": ids}}, limit=len(ids))
    return {c.get("id") for c in answer.get("comments") or []}


def _follows(client: Client, keys: list[str]) -> set[str]:
    pairs = [k.split(KEY_SEPARATOR) for k in keys]
    where = {"source_feed": {"$in": sorted({p[0] for p in pairs})},
             "target_feed": {"$in": sorted({p[1] for p in pairs})}}  # fmt: skip
    have: set[tuple[str, str]] = set()
    after: str | None = None
    while True:  # every follow between these sources and targets, page by page
        answer = client.query_follows(where, limit=MAX_PAGE, next=after)
        have |= {(f["source_feed"]["feed"], f["target_feed"]["feed"]) for f in answer["follows"]}
        after = answer.get("next")
        if not after:
            break
    return {k for k, p in zip(keys, pairs, strict=True) if tuple(p) in have}


def _reactions(client: Client, keys: list[str]) -> set[str]:
    found = set()
    for key in keys:
        activity_id, comment_id, kind, user = key.split(KEY_SEPARATOR)
        where = {"reaction_type": kind, "user_id": user}
        answer: dict[str, Any] = (
            client.query_activity_reactions(activity_id, where, limit=1)
            if activity_id
            else client.query_comment_reactions(comment_id, where, limit=1)
        )
        if answer.get("reactions"):
            found.add(key)
    return found


def _bookmarks(client: Client, keys: list[str]) -> set[str]:
    found = set()
    for key in keys:
        activity_id, user, folder = key.split(KEY_SEPARATOR)
        answer = client.query_bookmarks({"activity_id": activity_id}, user_id=user, limit=100)
        folders = {(b.get("folder") or {}).get("id") or "" for b in answer["bookmarks"]}
        if folder in folders:
            found.add(key)
    return found


def _feed_groups(client: Client, ids: list[str]) -> set[str]:
    found = set()
    for gid in ids:
        try:
            client.get_feed_group(gid)
        except FeedkitError:
            continue
        found.add(gid)
    return found
