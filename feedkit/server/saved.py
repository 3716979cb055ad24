"""What users keep of activities, as rows: bookmarks (in folders) and pins.

The SQL of both resources, the engagement loader that gives each activity its
``bookmark_count`` and the viewer's ``own_bookmarks``, and what hard-deleting an activity
removes of them (their queries' filters and cursors are :mod:`feedkit.server.listing`'s).
Every function takes the connection ``db``; the services (:mod:`feedkit.server.bookmarks`,
:mod:`feedkit.server.pins`) hold the rules.

A bookmark is keyed by (activity, user, folder), ``NO_FOLDER`` ("") for none; a pin by
(feed, activity). Nothing here imports the renderer at module level: the engagement module
imports this one, and the renderer imports that.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "NO_FOLDER",
    "bookmark_engagement",
    "forget_activities",
]

NO_FOLDER = ""
FOLDER_COLUMNS = ("id", "user_id", "name", "custom", "created_at", "updated_at")
BOOKMARK_COLUMNS = ("user_id", "activity_id", "folder_id", "custom", "created_at", "updated_at")
PIN_COLUMNS = ("fid", "activity_id", "user_id", "created_at", "updated_at")
_CHUNK = 500  # ids bound in one IN (...) list
# The activity_keys prefix of a feed: store.FEED_KEY (the store imports this module; the pins
# module checks the two agree).
FEED_KEY_PREFIX = "f:"


def select(
    db: sqlite3.Connection,
    table: str,
    where: str,
    params: Sequence[Any],
    order: str = "created_at DESC",
    limit: int = -1,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows of ``bookmarks``, ``bookmark_folders`` or ``pins`` as dicts, custom decoded."""
    columns = {
        "bookmarks": BOOKMARK_COLUMNS,
        "bookmark_folders": FOLDER_COLUMNS,
        "pins": PIN_COLUMNS,
    }[table]
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    )
    out = []
    for row in db.execute(sql, [*params, limit, offset]):
        item = dict(zip(columns, row, strict=True))
        if "custom" in item:
            item["custom"] = orjson.loads(item["custom"])
        out.append(item)
    return out


def _insert(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
    values = [orjson.dumps(v) if k == "custom" else v for k, v in row.items()]
    db.execute(
        f"INSERT OR REPLACE INTO {table} ({', '.join(row)}) VALUES ({','.join('?' * len(row))})",
        values,
    )


# -- folders ---------------------------------------------------------------------------------


def get_folders(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    ids = list(dict.fromkeys(i for i in ids if i))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for f in select(db, "bookmark_folders", f"id IN ({','.join('?' * len(chunk))})", chunk):
            out[f["id"]] = f
    return out


def folder_named(db: sqlite3.Connection, user_id: str, name: str) -> dict[str, Any] | None:
    """The user's (oldest) folder of this name."""
    found = select(
        db, "bookmark_folders", "user_id = ? AND name = ?", [user_id, name], "created_at", 1
    )
    return found[0] if found else None


def put_folder(db: sqlite3.Connection, folder: Mapping[str, Any]) -> None:
    _insert(db, "bookmark_folders", {k: folder[k] for k in FOLDER_COLUMNS})


def delete_folder(db: sqlite3.Connection, folder_id: str) -> None:
    """Delete a folder; its bookmarks stay, in no folder (as the vendor's client SDKs show a
    folder's deletion). One the user also has outside any folder is merged into that one."""
    db.execute(
        "UPDATE OR IGNORE bookmarks SET folder_id = ? WHERE folder_id = ?", (NO_FOLDER, folder_id)
    )
    db.execute("DELETE FROM bookmarks WHERE folder_id = ?", (folder_id,))
    db.execute("DELETE FROM bookmark_folders WHERE id = ?", (folder_id,))


# -- bookmarks -------------------------------------------------------------------------------


def get_bookmark(
    db: sqlite3.Connection, user_id: str, activity_id: str, folder_id: str
) -> dict[str, Any] | None:
    found = select(
        db,
        "bookmarks",
        "activity_id = ? AND user_id = ? AND folder_id = ?",
        [activity_id, user_id, folder_id],
    )
    return found[0] if found else None


def put_bookmark(db: sqlite3.Connection, bookmark: Mapping[str, Any]) -> None:
    _insert(db, "bookmarks", {k: bookmark[k] for k in BOOKMARK_COLUMNS})


def delete_bookmark(db: sqlite3.Connection, user_id: str, activity_id: str, folder_id: str) -> None:
    db.execute(
        "DELETE FROM bookmarks WHERE activity_id = ? AND user_id = ? AND folder_id = ?",
        (activity_id, user_id, folder_id),
    )


# -- pins ------------------------------------------------------------------------------------


def get_pin(db: sqlite3.Connection, fid: str, activity_id: str) -> dict[str, Any] | None:
    found = select(db, "pins", "fid = ? AND activity_id = ?", [fid, activity_id])
    return found[0] if found else None


def put_pin(db: sqlite3.Connection, pin: Mapping[str, Any]) -> None:
    _insert(db, "pins", {k: pin[k] for k in PIN_COLUMNS})


def delete_pin(db: sqlite3.Connection, fid: str, activity_id: str) -> None:
    db.execute("DELETE FROM pins WHERE fid = ? AND activity_id = ?", (fid, activity_id))


# A pin counts, and shows, while its activity is stored, not deleted and still in the feed
# (an update may move it out): the activity's feed key, read by the activity_keys index.
PIN_SHOWN = (
    "a.id = p.activity_id AND a.deleted_at IS NULL AND EXISTS (SELECT 1 FROM activity_keys k "
    f"WHERE k.k = '{FEED_KEY_PREFIX}' || p.fid AND k.created_at = a.created_at AND k.rid = a.rid)"
)


def pin_count(db: sqlite3.Connection, fid: str) -> int:
    """The pins of a feed that show (see ``PIN_SHOWN``)."""
    return pin_counts(db, [fid]).get(fid, 0)


def pin_counts(db: sqlite3.Connection, fids: Sequence[str]) -> dict[str, int]:
    """The pins that show of each of these feeds (a feed without any is left out)."""
    rows = db.execute(
        f"SELECT p.fid, count(*) FROM pins p JOIN activities a ON {PIN_SHOWN} WHERE p.fid IN "
        "(SELECT value FROM json_each(?)) GROUP BY p.fid",
        (orjson.dumps(list(fids)).decode(),),
    )
    return dict(rows.fetchall())


def forget_activities(db: sqlite3.Connection, activity_ids: Sequence[str]) -> None:
    """Remove the bookmarks and pins of hard-deleted activities (a dependent of activities:
    :mod:`feedkit.server.dependents`)."""
    ids = orjson.dumps(list(activity_ids)).decode()
    for table in ("bookmarks", "pins"):
        db.execute(
            f"DELETE FROM {table} WHERE activity_id IN (SELECT value FROM json_each(?))", (ids,)
        )


# -- engagement ------------------------------------------------------------------------------


def bookmark_engagement(
    db: sqlite3.Connection, activity_ids: Sequence[str], viewer: str | None
) -> dict[str, dict[str, Any]]:
    """``bookmark_count`` of each activity, and the viewer's ``own_bookmarks`` (each with its
    activity, as it is without engagement, and folder): a few indexed queries per page."""
    from feedkit.server.render import Answer  # the renderer imports engagement, which imports us
    from feedkit.server.store import SELECT_ACTIVITY, now_ns

    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(activity_ids))
    own: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for aid, n in db.execute(
            f"SELECT activity_id, count(*) FROM bookmarks WHERE "
            f"activity_id IN ({marks}) GROUP BY activity_id",
            chunk,
        ):
            out[aid] = {"bookmark_count": n}
        if viewer is not None:
            own += select(
                db,
                "bookmarks",
                f"activity_id IN ({marks}) AND user_id = ?",
                [*chunk, viewer],
                "created_at, folder_id",
            )
    if not own:
        return out
    marked = list(dict.fromkeys(b["activity_id"] for b in own))
    rows = {
        r[1]: r
        for r in db.execute(
            f"SELECT {SELECT_ACTIVITY} FROM activities a WHERE "
            f"a.id IN ({','.join('?' * len(marked))})",
            marked,
        )
    }
    ids_of_users = {viewer, *(r[3] for r in rows.values())}
    users = {}
    for uid, created, updated, doc in db.execute(
        f"SELECT id, created_at, updated_at, doc FROM users WHERE id IN "
        f"({','.join('?' * len(ids_of_users))})",
        list(ids_of_users),
    ):
        users[uid] = {**orjson.loads(doc), "id": uid, "created_at": created, "updated_at": updated}
    counts = {aid: {"bookmark_count": out[aid]["bookmark_count"]} for aid in marked}
    answer = Answer(users, {}, now_ns(), counts)  # each activity as it is, bar the viewer's own
    folders = get_folders(db, [b["folder_id"] for b in own])
    for b in own:
        row = rows.get(b["activity_id"])
        if row is not None:
            out[b["activity_id"]].setdefault("own_bookmarks", []).append(
                bookmark_json(b, answer.activity(row), folders, answer)
            )
    return out


def bookmark_json(
    bookmark: Mapping[str, Any],
    activity: Any,
    folders: Mapping[str, Mapping[str, Any]],
    answer: Any,
) -> dict[str, Any]:
    """A BookmarkResponse: the bookmark with its rendered ``activity``, its user and its
    folder (left out when it is in none); ``answer`` (a render ``Answer``) renders users."""
    out: dict[str, Any] = {
        "object_type": "activity",
        "object_id": bookmark["activity_id"],
        "activity_id": bookmark["activity_id"],
        "activity": activity,
        "user": orjson.Fragment(answer.user(bookmark["user_id"])),
        "custom": bookmark["custom"],
        "created_at": bookmark["created_at"],
        "updated_at": bookmark["updated_at"],
    }
    folder = folders.get(bookmark["folder_id"])
    if folder is not None:
        out["folder"] = folder_json(folder, answer)
    return out


def folder_json(folder: Mapping[str, Any], answer: Any) -> dict[str, Any]:
    """A BookmarkFolderResponse."""
    return {
        "id": folder["id"],
        "name": folder["name"],
        "custom": folder["custom"],
        "user": orjson.Fragment(answer.user(folder["user_id"])),
        "created_at": folder["created_at"],
        "updated_at": folder["updated_at"],
    }
