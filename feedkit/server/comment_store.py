"""The comments table: reads and writes of comments, as functions of a connection.

A comment is a row of indexed columns (its object, parent, author, times and the scores its
reactions give it) and a JSON ``doc`` with the rest (``text``, ``attachments``, ``custom``,
``mentioned_user_ids``). The table is declared in :data:`feedkit.server.store.SCHEMA`; what
goes with a hard-deleted activity or comment is listed in :mod:`feedkit.server.dependents`.

A soft-deleted comment keeps its row (``deleted_at`` set): threaded reads still show it while
it has replies that are not deleted, so a thread keeps its shape; counts leave it out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

__all__ = [
    "ACTIVITY_SEEN",
    "COLUMNS",
    "INSERTED",
    "ORDERS",
    "activities_of",
    "comment_counts",
    "delete_on",
    "delete_tree",
    "encode_doc",
    "get_comments",
    "insert_comment",
    "insert_comments",
    "latest_comments",
    "replies_of",
    "reply_counts",
    "select_comments",
    "update_comment",
    "users_of",
]

COLUMNS = ("rid", "id", "object_type", "object_id", "parent_id", "user_id", "created_at",
           "updated_at", "edited_at", "deleted_at", "score", "upvote_count", "downvote_count",
           "confidence_score", "controversy_score")  # fmt: skip
# The columns a new comment is written with (the others take their defaults), then its doc.
INSERTED = ("id", "object_type", "object_id", "parent_id", "user_id", "created_at", "updated_at")
# The columns of an activity that decide who may comment on it.
ACTIVITY_SEEN = ("id", "user_id", "visibility", "visibility_tag", "expires_at", "deleted_at")
DOC_DEFAULTS: dict[str, Any] = {"attachments": [], "custom": {}, "mentioned_user_ids": []}
_SELECT = ", ".join(f"c.{c}" for c in (*COLUMNS, "doc"))
# Each sort of the protocol as an ORDER BY over the table aliased ``c``.
ORDERS = {
    "first": "c.created_at ASC, c.rid ASC",
    "last": "c.created_at DESC, c.rid DESC",
    "top": "c.score DESC, c.created_at DESC, c.rid DESC",
    "best": "c.confidence_score DESC, c.created_at DESC, c.rid DESC",
    "controversial": "c.controversy_score DESC, c.created_at DESC, c.rid DESC",
}
# What a threaded read shows: comments not deleted, and deleted ones that still have replies.
SHOWN = (
    "(c.deleted_at IS NULL OR EXISTS (SELECT 1 FROM comments r WHERE r.parent_id = c.id "
    "AND r.deleted_at IS NULL))"
)


def _comment(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row[:-1], strict=True))
    out.update(orjson.loads(row[-1]))
    return out


def encode_doc(comment: dict[str, Any]) -> bytes:
    """The JSON doc a comment is stored with: ``DOC_DEFAULTS`` filled in, and its text."""
    doc = {k: comment.get(k) or default for k, default in DOC_DEFAULTS.items()}
    if comment.get("text") is not None:
        doc["text"] = comment["text"]
    return orjson.dumps(doc)


def insert_comment(db: sqlite3.Connection, comment: dict[str, Any]) -> None:
    """Store a new comment; sets its ``rid``."""
    cursor = db.execute(_INSERT, _inserted(comment))
    comment["rid"] = cursor.lastrowid


def insert_comments(db: sqlite3.Connection, comments: Sequence[dict[str, Any]]) -> None:
    """Store new comments, in order, with one statement (their ``rid`` is not set)."""
    db.executemany(_INSERT, map(_inserted, comments))


_INSERT = (f"INSERT INTO comments ({', '.join(INSERTED)}, doc) "
           f"VALUES ({', '.join('?' * (len(INSERTED) + 1))})")  # fmt: skip


def _inserted(comment: dict[str, Any]) -> list[Any]:
    return [*(comment[k] for k in INSERTED), encode_doc(comment)]


def update_comment(db: sqlite3.Connection, comment: dict[str, Any]) -> None:
    """Write a stored comment's times and doc back."""
    db.execute(
        "UPDATE comments SET updated_at = ?, edited_at = ?, deleted_at = ?, doc = ? WHERE id = ?",
        (comment["updated_at"], comment.get("edited_at"), comment.get("deleted_at"),
         encode_doc(comment), comment["id"]),
    )  # fmt: skip


def get_comments(db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored comments of these ids, by id."""
    ids = list(dict.fromkeys(ids))
    rows = db.execute(
        f"SELECT {_SELECT} FROM json_each(?) j JOIN comments c ON c.id = j.value",
        (orjson.dumps(ids).decode(),),
    )
    return {c["id"]: c for c in map(_comment, rows)}


def select_comments(
    db: sqlite3.Connection, where: str, params: Sequence[Any], order: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Comments matching ``where`` (over the table aliased ``c``), in ``order``."""
    rows = db.execute(
        f"SELECT {_SELECT} FROM comments c WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_comment(r) for r in rows]


def replies_of(
    db: sqlite3.Connection, parent_ids: Sequence[str], sort: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """The first ``limit`` replies shown under each parent, in ``sort`` order: one statement,
    each parent's replies read from its own index range."""
    order = ORDERS[sort]
    rows = db.execute(
        f"SELECT j.value, {_SELECT} FROM json_each(?) j JOIN comments c ON c.rid IN ("
        f"SELECT c.rid FROM comments c WHERE c.parent_id = j.value AND {SHOWN} "
        f"ORDER BY {order} LIMIT ?) ORDER BY j.key, {order}",
        (orjson.dumps(list(parent_ids)).decode(), limit),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(_comment(row[1:]))
    return out


def reply_counts(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, int]:
    """How many replies of each comment are not deleted."""
    rows = db.execute(
        "SELECT parent_id, count(*) FROM comments WHERE parent_id IN (SELECT value FROM "
        "json_each(?)) AND deleted_at IS NULL GROUP BY parent_id",
        (orjson.dumps(list(ids)).decode(),),
    )
    return dict(rows.fetchall())


def comment_counts(db: sqlite3.Connection, activity_ids: Sequence[str]) -> dict[str, int]:
    """How many comments of each activity (replies included) are not deleted."""
    rows = db.execute(
        "SELECT object_id, count(*) FROM comments WHERE "
        "object_type = 'activity' AND object_id IN (SELECT value FROM json_each(?)) "
        "AND deleted_at IS NULL GROUP BY object_id",
        (orjson.dumps(list(activity_ids)).decode(),),
    )
    return dict(rows.fetchall())


def latest_comments(
    db: sqlite3.Connection, activity_ids: Sequence[str], count: int
) -> dict[str, list[dict[str, Any]]]:
    """The ``count`` newest top-level comments of each activity that are not deleted."""
    rows = db.execute(
        f"SELECT {_SELECT} FROM json_each(?) j JOIN comments c ON c.rid IN ("
        "SELECT c.rid FROM comments c WHERE c.object_type = 'activity' AND c.object_id = "
        "j.value AND c.parent_id IS NULL AND c.deleted_at IS NULL ORDER BY c.created_at DESC, "
        "c.rid DESC LIMIT ?) ORDER BY j.key, c.created_at DESC, c.rid DESC",
        (orjson.dumps(list(activity_ids)).decode(), count),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for comment in map(_comment, rows):
        out.setdefault(comment["object_id"], []).append(comment)
    return out


def delete_tree(db: sqlite3.Connection, comment_id: str) -> list[str]:
    """Remove a comment and every reply beneath it; the ids removed."""
    ids = [
        r[0]
        for r in db.execute(
            "WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT c.id FROM comments c "
            "JOIN tree ON c.parent_id = tree.id) SELECT id FROM tree",
            (comment_id,),
        )
    ]
    db.execute(
        "DELETE FROM comments WHERE id IN (SELECT value FROM json_each(?))",
        (orjson.dumps(ids).decode(),),
    )
    return ids


def delete_on(db: sqlite3.Connection, object_type: str, object_ids: Sequence[str]) -> list[str]:
    """Remove every comment on these objects (replies included); the ids removed."""
    on = (object_type, orjson.dumps(list(object_ids)).decode())
    where = "object_type = ? AND object_id IN (SELECT value FROM json_each(?))"
    ids = [r[0] for r in db.execute(f"SELECT id FROM comments WHERE {where}", on)]
    db.execute(f"DELETE FROM comments WHERE {where}", on)
    return ids


def activities_of(db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What a new comment's checks read of the activities it may be on, by id: their
    columns ``ACTIVITY_SEEN`` (who may see each, and whether it is deleted), not their docs."""
    rows = db.execute(
        f"SELECT {', '.join(f'a.{c}' for c in ACTIVITY_SEEN)} FROM json_each(?) j "
        "JOIN activities a ON a.id = j.value",
        (orjson.dumps(list(dict.fromkeys(ids))).decode(),),
    )
    return {row[0]: dict(zip(ACTIVITY_SEEN, row, strict=True)) for row in rows}


def users_of(db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored users of these ids, by id, as ``Store.get_users`` reads them (an engagement
    loader has a connection, not the store)."""
    rows = db.execute(
        "SELECT id, created_at, updated_at, doc FROM users WHERE id IN "
        "(SELECT value FROM json_each(?))",
        (orjson.dumps(sorted(set(ids))).decode(),),
    )
    return {
        uid: {**orjson.loads(doc), "id": uid, "created_at": created, "updated_at": updated}
        for uid, created, updated, doc in rows
    }
