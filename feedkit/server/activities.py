"""The activities resource of the embedded server: AddActivity, UpsertActivities, GetActivity,
UpdateActivity, UpdateActivityPartial, UpdateActivitiesPartialBatch, DeleteActivity,
DeleteActivities, RestoreActivity and QueryActivities, with the visibility rules every read
applies.

Each method takes the verified :class:`Principal` and the decoded request, validates it with
:mod:`feedkit.schema`, runs one transaction, and returns the response object (without
``duration``, which the app adds). Errors are :class:`Problem` values.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from feedkit.schema import (
    ACTIVITY_FIELDS,
    DEFAULT_PAGE,
    FieldError,
    Reason,
    apply_partial,
    parse_time,
    validate_activity,
    validate_partial,
)
from feedkit.schema.user import validate_user
from feedkit.server import engagement
from feedkit.server.auth import APP, Principal
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.query import Compiled, PageRequest, Sort, compile_filter, run_page
from feedkit.server.render import Answer
from feedkit.server.requests import body_list, body_object, checked_id, page_cursor, page_limit
from feedkit.server.store import (
    COLUMNS,
    ROW,
    History,
    Store,
    activity_keys,
    now_ns,
    record_row,
    row_values,
)

__all__ = ["ActivitiesService", "Prepared", "build_record", "prepare"]

_ID, _PARENT, _USER = ROW.index("id"), ROW.index("parent_id"), ROW.index("user_id")
_MENTIONS = ROW.index("mentions")

# Fields a full update (PUT) replaces; those it does not carry are cleared.
_REPLACED = tuple(f.name for f in ACTIVITY_FIELDS if f.settable and f.name != "feeds")
# Fields copied from a request into a record as they are (the rest are derived).
_COPIED = tuple(f.name for f in ACTIVITY_FIELDS if f.name not in ("id", "user_id", "expires_at"))
_LIST_FIELDS = ("feeds", "attachments", "mentioned_user_ids", "filter_tags", "interest_tags")


_OBJECT_FIELDS = ("custom", "search_data")
# Fields copied as they are; the lists and objects are copied into the record's own.
_PLAIN = tuple(n for n in _COPIED if n not in _LIST_FIELDS and n not in _OBJECT_FIELDS)


def _copied(body: dict[str, Any]) -> dict[str, Any]:
    """The fields a record takes from a request as they are, its lists and objects as its
    own copies (a request's values are not shared), none of them null."""
    get = body.get
    rec = dict(zip(_PLAIN, map(get, _PLAIN), strict=True))
    for key in _LIST_FIELDS:
        value = get(key)
        rec[key] = list(value) if value else []
    for key in _OBJECT_FIELDS:
        value = get(key)
        rec[key] = dict(value) if value else {}
    if rec["attachments"]:
        rec["attachments"] = [dict(a, custom=a.get("custom") or {}) for a in rec["attachments"]]
    return rec


def build_record(
    body: dict[str, Any], actor: str, now: int, old: dict[str, Any] | None
) -> dict[str, Any]:
    """The record a write of ``body`` by ``actor`` at ``now`` stores over ``old`` (None for a
    new activity): defaults filled, times and counts kept from ``old``."""
    rec = _copied(body)
    rec["id"] = body.get("id") or (old or {}).get("id") or str(uuid.uuid4())
    rec["user_id"] = actor
    rec["visibility"] = rec["visibility"] or "public"
    rec["restrict_replies"] = rec["restrict_replies"] or "everyone"
    if rec["visibility"] != "tag":
        rec["visibility_tag"] = rec["visibility_tag"] if rec["visibility_tag"] else None
    exp = body.get("expires_at")
    rec["expires_at"] = parse_time(exp) if exp is not None else None
    if rec["location"] is not None:
        rec["location"] = {
            "lat": float(rec["location"]["lat"]),
            "lng": float(rec["location"]["lng"]),
        }
    rec["created_at"] = old["created_at"] if old else now
    rec["updated_at"] = now
    rec["deleted_at"] = None
    rec["share_count"] = old["share_count"] if old else 0
    rec["popularity"] = old["popularity"] if old else 0
    rec["edited_at"] = (old or {}).get("edited_at")
    if old and (
        rec.get("text") != old.get("text")
        or (rec.get("attachments") or []) != (old.get("attachments") or [])
    ):
        rec["edited_at"] = now
    return rec


def _kept(history: History, rec: dict[str, Any]) -> tuple[int, int]:
    """A record's (created_at, updated_at) once an import's history is kept: the file's
    created_at, and its updated_at (else its created_at); the write's own where it gives
    neither."""
    created, updated = history
    kept_created = created if created is not None else rec["created_at"]
    if updated is None:
        updated = created if created is not None else rec["updated_at"]
    return kept_created, updated


class Prepared(NamedTuple):
    """An activity made ready for :meth:`ActivitiesService.write_prepared` away from the
    store: the parts of its record the write reads, its row (times to be set) and index
    keys, the times its import line gives, and the line itself (written the usual way if
    need be)."""

    record: dict[str, Any]
    row: list[Any]
    keys: list[str]
    history: History
    raw: bytes


# What of a record write_prepared reads (the rest is in its row).
_PREPARED_PARTS = ("id", "user_id", "mentioned_user_ids", "feeds", "parent_id")
_CREATED, _UPDATED = COLUMNS.index("created_at"), COLUMNS.index("updated_at")


def prepare(body: dict[str, Any], history: History, raw: bytes) -> Prepared | None:
    """A new activity's :class:`Prepared` from an UpsertActivities item ``body`` written by
    the app itself, or None when the item is not plainly valid (its write says why)."""
    actor = body.get("user_id")
    if "user" in body or not isinstance(actor, str) or validate_activity(body, strict=False):
        return None
    record = build_record(body, actor, 0, None)
    parts = {k: record[k] for k in _PREPARED_PARTS}
    return Prepared(parts, row_values(record), activity_keys(record), history, raw)


class ActivitiesService:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- helpers ----------------------------------------------------------------------------

    def _actor(
        self, principal: Principal, body: dict[str, Any], field: str = "user_id"
    ) -> str | None:
        user = body.get("user")
        requested = body.get(field)
        if requested is None and isinstance(user, dict):
            requested = user.get("id")
        if requested is not None and not isinstance(requested, str):
            raise Problem.invalid({field: "must be a string"})
        return principal.acting_as(requested)

    def _owner_check(self, principal: Principal, rec: dict[str, Any]) -> None:
        if principal.user_id is not None and rec["user_id"] != principal.user_id:
            raise Problem(
                403,
                NOT_ALLOWED,
                f"user {principal.user_id!r} cannot change activity "
                f"{rec['id']!r} of user {rec['user_id']!r}",
            )

    def _render(
        self, db: Any, records: Sequence[dict[str, Any]], viewer: str | None = None
    ) -> list[orjson.Fragment]:
        return self._render_rows(db, [record_row(r) for r in records], viewer)

    def _render_rows(
        self, db: Any, rows: Sequence[Sequence[Any]], viewer: str | None = None
    ) -> list[orjson.Fragment]:
        """Stored rows as answer activities, with their parents, users and engagement (the
        viewer's own reactions and bookmarks among it)."""
        parent_ids = [r[_PARENT] for r in rows if r[_PARENT]]
        parents = self.store.get_rows(db, parent_ids) if parent_ids else {}
        user_ids = set()
        for r in [*rows, *parents.values()]:
            user_ids.add(r[_USER])
            if r[_MENTIONS]:
                user_ids.update(orjson.loads(r[_MENTIONS]))
        shown = [r[_ID] for r in rows]
        answer = Answer(
            self.store.get_users(db, user_ids),
            parents,
            now_ns(),
            engagement.load(db, shown, viewer),
        )
        return [answer.activity(r) for r in rows]

    def _visibility(
        self, viewer: str | None, teams: Sequence[str], *, expired: bool, deleted: bool
    ) -> tuple[list[str], list[Any]]:
        sql: list[str] = []
        params: list[Any] = []
        if not deleted:
            sql.append("a.deleted_at IS NULL")
        if not expired:
            sql.append("(a.expires_at IS NULL OR a.expires_at > ? OR a.user_id = ?)")
            params += [now_ns(), viewer]
        if viewer is not None:
            marks = ",".join("?" * len(teams))
            tag = f" OR (a.visibility = 'tag' AND a.visibility_tag IN ({marks}))" if teams else ""
            sql.append(f"(a.visibility = 'public' OR a.user_id = ?{tag})")
            params += [viewer, *teams]
        return sql, params

    def _visible(self, db: Any, rec: dict[str, Any], viewer: str | None) -> bool:
        teams = self._teams(db, viewer)
        if rec.get("deleted_at") is not None:
            return False
        if (
            rec.get("expires_at") is not None
            and rec["expires_at"] <= now_ns()
            and rec["user_id"] != viewer
        ):
            return False
        if viewer is None or rec["visibility"] == "public" or rec["user_id"] == viewer:
            return True
        return rec["visibility"] == "tag" and rec.get("visibility_tag") in teams

    def _teams(self, db: Any, viewer: str | None) -> list[str]:
        if viewer is None:
            return []
        user = self.store.get_users(db, [viewer]).get(viewer) or {}
        return [t for t in user.get("teams") or [] if isinstance(t, str)]

    def _load(self, db: Any, activity_id: str, *, deleted: bool = False) -> dict[str, Any]:
        rec = self.store.get_records(db, [activity_id]).get(activity_id)
        if rec is None or (rec.get("deleted_at") is not None and not deleted):
            raise Problem.not_found(f"activity {activity_id!r}")
        return rec

    def _validate_new(
        self, items: Sequence[Any], principal: Principal, prefix: str
    ) -> list[tuple[dict[str, Any], str]]:
        """(body, actor) per item, or one 400 naming every bad field of every item."""
        errors: list[FieldError] = []
        out = []
        for i, body in enumerate(items):
            where = prefix.format(i=i)
            if not isinstance(body, dict):
                errors.append(FieldError(where.rstrip("."), Reason.TYPE, "must be an object"))
                continue
            errs = validate_activity(body, strict=False)
            user = body.get("user")
            if isinstance(user, dict):  # the user's fields, as UpdateUsers checks them
                errs += [
                    FieldError(f"user.{e.field}", e.code, e.message, e.value)
                    for e in validate_user({"id": "-", **user})
                ]
            actor = self._actor(principal, body)
            if actor is None and not any(e.field == "user_id" for e in errs):
                errs.append(
                    FieldError("user_id", Reason.REQUIRED, "is required for server-side requests")
                )
            errors += [FieldError(where + e.field, e.code, e.message, e.value) for e in errs]
            out.append((body, actor or ""))
        if errors:
            raise Problem.from_field_errors(errors)
        return out

    def _write(
        self,
        db: Any,
        pairs: Sequence[tuple[dict[str, Any], str]],
        principal: Principal,
        history: Sequence[History] | None = None,
    ) -> list[dict[str, Any]]:
        """Build and store records; ``history`` gives each pair's (created_at, updated_at)
        to keep in place of the write's own times (an import keeps the old app's)."""
        ids = [str(b["id"]) for b, _ in pairs if b.get("id")]
        stored = self.store.get_records(db, ids) if ids else {}
        for old in stored.values():
            self._owner_check(principal, old)
        latest = dict(stored)
        records = []
        for i, (body, actor) in enumerate(pairs):
            now = self.store.tick()  # one tick each: created_at orders the writes of a batch
            rec = build_record(body, actor, now, latest.get(body.get("id") or ""))
            if history is not None:
                rec["created_at"], rec["updated_at"] = _kept(history[i], rec)
            latest[rec["id"]] = rec
            records.append(rec)
        # An id upserted twice in one batch is written once, as its last version.
        final = list({r["id"]: r for r in records}.values())
        self._save(db, final, stored, now)
        for rec in records:
            rec["rid"] = latest[rec["id"]]["rid"]
        return records

    def _save(
        self,
        db: Any,
        records: Sequence[dict[str, Any]],
        stored: dict[str, dict[str, Any]],
        now: int,
        rows: Sequence[Sequence[Any]] | None = None,
        keys: Sequence[list[str]] | None = None,
    ) -> None:
        """Write records over the ``stored`` versions, creating the users and feeds they name
        (``rows`` and ``keys``: as :meth:`Store.write_records` takes them)."""
        users = {u for r in records for u in (r["user_id"], *r["mentioned_user_ids"])}
        self.store.ensure_users(db, users, now)
        self.store.ensure_feeds_by(
            db, [(f, r["user_id"]) for r in records for f in r["feeds"]], now
        )
        self.store.write_records(db, records, stored, rows, keys)

    def write_prepared(self, db: Any, prepared: Sequence[Prepared]) -> bool:
        """:meth:`write_activities` of new activities whose records and rows were made
        ahead (:func:`prepare`, in an import's worker process): their times set here, from
        the file's history or the clock, as :meth:`_write` sets them. False, writing nothing,
        when an id is stored already or repeats (the caller writes those the usual way)."""
        ids = [p.record["id"] for p in prepared]
        if len(set(ids)) != len(ids) or self.store.get_rows(db, ids):
            return False
        now = 0
        for p in prepared:
            now = self.store.tick()
            created, updated = _kept(p.history, {"created_at": now, "updated_at": now})
            p.record["created_at"] = p.row[_CREATED] = created
            p.record["updated_at"] = p.row[_UPDATED] = updated
        self._save(db, [p.record for p in prepared], {}, now, [p.row for p in prepared],
                   [p.keys for p in prepared])  # fmt: skip
        return True

    def _upsert_embedded_users(self, db: Any, bodies: Iterable[dict[str, Any]], now: int) -> None:
        users = [
            b["user"]
            for b in bodies
            if isinstance(b.get("user"), dict) and isinstance(b["user"].get("id"), str)
        ]
        if users:
            self.store.upsert_users(db, users, now)

    # -- activities -------------------------------------------------------------------------

    def add_activity(self, principal: Principal, body: Any) -> dict[str, Any]:
        body = body_object(body)
        pairs = self._validate_new([body], principal, "")
        with self.store.transaction() as db:
            self._upsert_embedded_users(db, [body], now_ns())
            records = self._write(db, pairs, principal)
            return {"activity": self._render(db, records)[0]}

    def upsert_activities(self, principal: Principal, body: Any) -> dict[str, Any]:
        items = body_list(body_object(body), "activities")
        pairs = self._validate_new(items, principal, "activities[{i}].")
        with self.store.transaction() as db:
            records = self._store(db, items, pairs, principal)
            return {"activities": self._render(db, records), "mention_notifications_created": 0}

    def write_activities(
        self, db: Any, items: Sequence[Any], history: Sequence[History] | None = None
    ) -> None:
        """UpsertActivities without its answer, in the caller's transaction, for the app
        itself (an import batch): ``history`` as :meth:`_write` takes it."""
        pairs = self._validate_new(items, APP, "")  # a refused item is found alone
        self._store(db, items, pairs, APP, history)

    def _store(
        self,
        db: Any,
        items: Sequence[Any],
        pairs: Sequence[tuple[dict[str, Any], str]],
        principal: Principal,
        history: Sequence[History] | None = None,
    ) -> list[dict[str, Any]]:
        self._upsert_embedded_users(db, items, now_ns())
        return self._write(db, pairs, principal, history)

    def get_activity(
        self, principal: Principal, activity_id: str, user_id: str | None
    ) -> dict[str, Any]:
        viewer = principal.acting_as(user_id)
        with self.store.reading() as db:
            rec = self._load(db, activity_id)
            if not self._visible(db, rec, viewer):
                raise Problem.not_found(f"activity {activity_id!r}")
            return {"activity": self._render(db, [rec], viewer)[0]}

    def update_activity(self, principal: Principal, activity_id: str, body: Any) -> dict[str, Any]:
        body = body_object(body)
        errors = validate_activity(body, strict=False, require=())
        if errors:
            raise Problem.from_field_errors(errors)
        with self.store.transaction() as db:
            old = self._load(db, activity_id)
            self._owner_check(principal, old)
            self._actor(principal, body)
            merged = {k: body.get(k) for k in _REPLACED}
            merged.update(
                id=activity_id,
                type=old["type"],
                parent_id=old.get("parent_id"),
                feeds=body.get("feeds") or old["feeds"],
            )
            now = self.store.tick()
            rec = build_record(merged, old["user_id"], now, old)
            self._save(db, [rec], {old["id"]: old}, now)
            return {"activity": self._render(db, [rec])[0]}

    def _partial(
        self,
        db: Any,
        principal: Principal,
        activity_id: str,
        set_: Any,
        unset: Any,
        prefix: str,
        now: int,
    ) -> dict[str, Any]:
        errors = validate_partial(set_, unset)
        if errors:
            raise Problem.from_field_errors(errors, prefix)
        old = self._load(db, activity_id)
        self._owner_check(principal, old)
        current = {k: old.get(k) for k in (*_REPLACED, "feeds", "type", "parent_id", "id")}
        merged = apply_partial(current, set_, unset)
        errs = validate_activity(merged, strict=False)
        if errs:
            raise Problem.from_field_errors(errs, prefix)
        rec = build_record(merged, old["user_id"], now, old)
        self._save(db, [rec], {old["id"]: old}, now)
        return rec

    def update_activity_partial(
        self, principal: Principal, activity_id: str, body: Any
    ) -> dict[str, Any]:
        body = body_object(body)
        self._actor(principal, body)
        with self.store.transaction() as db:
            rec = self._partial(
                db,
                principal,
                activity_id,
                body.get("set"),
                body.get("unset"),
                "",
                self.store.tick(),
            )
            return {"activity": self._render(db, [rec])[0]}

    def update_activities_partial_batch(self, principal: Principal, body: Any) -> dict[str, Any]:
        changes = body_list(body_object(body), "changes")
        with self.store.transaction() as db:
            now = self.store.tick()
            records = []
            for i, change in enumerate(changes):
                if not isinstance(change, dict):
                    raise Problem.invalid({f"changes[{i}]": "must be an object"})
                aid = checked_id(change.get("activity_id"), f"changes[{i}].activity_id")
                records.append(
                    self._partial(
                        db,
                        principal,
                        aid,
                        change.get("set"),
                        change.get("unset"),
                        f"changes[{i}].",
                        now,
                    )
                )
            return {"activities": self._render(db, records)}

    def delete_activities(
        self, principal: Principal, ids: Sequence[Any], hard: bool, user_id: Any = None
    ) -> dict[str, Any]:
        self._actor(principal, {"user_id": user_id})
        clean = [checked_id(x, f"ids[{i}]") for i, x in enumerate(ids)]
        with self.store.transaction() as db:
            found = self.store.get_records(db, clean)
            # Deleting twice is not an error: a retried delete must not fail.
            missing = [i for i in clean if i not in found]
            if missing:
                raise Problem(
                    404,
                    16,
                    f"activities do not exist: {', '.join(missing[:10])}",
                    {"ids": f"unknown activity ids: {', '.join(missing[:10])}"},
                )
            for rec in found.values():
                self._owner_check(principal, rec)
            if hard:
                self.store.hard_delete(db, found.values())
            else:
                self.store.set_deleted(
                    db,
                    [r["rid"] for r in found.values() if r.get("deleted_at") is None],
                    self.store.tick(),
                )
            return {"deleted_ids": clean}

    def restore_activity(self, principal: Principal, activity_id: str, body: Any) -> dict[str, Any]:
        self._actor(principal, body_object(body))
        with self.store.transaction() as db:
            rec = self._load(db, activity_id, deleted=True)
            self._owner_check(principal, rec)
            if rec.get("deleted_at") is None:
                raise Problem.invalid({"id": f"activity {activity_id!r} is not deleted"})
            self.store.set_deleted(db, [rec["rid"]], None)
            rec["deleted_at"] = None
            rec["updated_at"] = self.store.tick()
            db.execute(
                "UPDATE activities SET updated_at = ? WHERE rid = ?",
                (rec["updated_at"], rec["rid"]),
            )
            return {"activity": self._render(db, [rec])[0]}

    # -- reading ----------------------------------------------------------------------------

    def _page(
        self,
        db: Any,
        principal: Principal,
        body: dict[str, Any],
        compiled: Compiled,
        default_limit: int,
        scope: str,
    ) -> tuple[list[orjson.Fragment], str | None, str | None]:
        viewer = self._actor(principal, body)
        sort = Sort.parse(body.get("sort"))
        page = PageRequest(
            page_limit(body, default_limit), page_cursor(body, "next"), page_cursor(body, "prev")
        )
        if page.next and page.prev:
            raise Problem.invalid({"prev": "send either next or prev, not both"})
        base_sql, base_params = self._visibility(
            viewer,
            self._teams(db, viewer),
            expired=bool(body.get("include_expired_activities")),
            deleted=bool(body.get("include_soft_deleted_activities")),
        )
        rows, nxt, prv = run_page(db, compiled, sort, page, base_sql, base_params, scope)
        return self._render_rows(db, rows, viewer), nxt, prv

    def query_activities(self, principal: Principal, body: Any) -> dict[str, Any]:
        body = body_object(body)
        compiled = Compiled()
        if body.get("filter") is not None:
            compile_filter(body["filter"], compiled)
        with self.store.reading() as db:
            acts, nxt, prv = self._page(db, principal, body, compiled, DEFAULT_PAGE, "query")
        out: dict[str, Any] = {"activities": acts}
        if nxt:
            out["next"] = nxt
        if prv:
            out["prev"] = prv
        return out
