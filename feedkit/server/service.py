"""The protocol's operations with their real semantics, on top of the store.

Each method takes the verified :class:`Principal` and the decoded request, validates it with
:mod:`feedkit.schema`, runs one transaction, and returns the response object (without
``duration``, which the app adds). Errors are :class:`Problem` values.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from feedkit.schema import (
    ACTIVITY_FIELDS,
    DEFAULT_PAGE,
    FEED_ID,
    MAX_BATCH,
    MAX_ID,
    FieldError,
    Reason,
    apply_partial,
    parse_time,
    validate_activity,
    validate_limit,
    validate_partial,
)
from feedkit.schema.user import validate_user
from feedkit.server.auth import Principal
from feedkit.server.problems import NOT_ALLOWED, Problem
from feedkit.server.query import Compiled, PageRequest, Sort, compile_filter, run_page
from feedkit.server.render import Answer, feed_response
from feedkit.server.store import FEED_KEY, FOLLOW_FIELDS, ROW, Store, now_ns, record_row
from feedkit.server.users import UsersService

_PARENT, _USER, _MENTIONS = ROW.index("parent_id"), ROW.index("user_id"), ROW.index("mentions")

# Fields a full update (PUT) replaces; those it does not carry are cleared.
_REPLACED = tuple(f.name for f in ACTIVITY_FIELDS if f.settable and f.name != "feeds")
# Fields copied from a request into a record as they are (the rest are derived).
_COPIED = tuple(f.name for f in ACTIVITY_FIELDS if f.name not in ("id", "user_id", "expires_at"))
_LIST_FIELDS = ("feeds", "attachments", "mentioned_user_ids", "filter_tags", "interest_tags")


def _obj(body: Any, name: str = "body") -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Problem.invalid({name: "must be a JSON object"})
    return body


def _batch(body: dict[str, Any], key: str) -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list):
        raise Problem.invalid({key: "is required: a list"})
    if not 1 <= len(items) <= MAX_BATCH:
        raise Problem.invalid({key: f"has {len(items)} items; send 1 to {MAX_BATCH}"})
    return items


def _limit(body: dict[str, Any], default: int) -> int:
    limit = body.get("limit", default)
    errors = validate_limit(limit)
    if errors:
        raise Problem.from_field_errors(errors)
    return int(limit) or default


def _cursor(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Problem.invalid({name: "must be a string cursor"})
    return value or None


def _check_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise Problem.invalid({name: f"must be a non-empty string of at most {MAX_ID} chars"})
    return value


# The fields of a feed's ``data`` (the spec's FeedInput), and the JSON type each must have.
_FEED_DATA_TYPES: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "description": (str, "a string"),
    "visibility": (str, "a string"),
    "filter_tags": (list, "a list of strings"),
    "custom": (dict, "a JSON object"),
}
FEED_VISIBILITIES = ("public", "visible", "followers", "members", "private")


def _type_errors(obj: dict[str, Any], types: dict[str, tuple[type, str]]) -> dict[str, str]:
    """Field -> message for the fields of feed data that are stored and answered but of the
    wrong JSON type (a number as ``name``). Such data is refused: stored, it would break every
    answer that names it."""
    errors: dict[str, str] = {}
    for key, (kind, what) in types.items():
        value = obj.get(key)
        if value is None:
            continue
        items = value if isinstance(value, list) else ()  # a list's items are strings
        if not isinstance(value, kind) or not all(isinstance(t, str) for t in items):
            errors[key] = f"must be {what}"
    return errors


def _nonempty_lists(rec: dict[str, Any]) -> dict[str, Any]:
    for key in _LIST_FIELDS:
        rec[key] = list(rec.get(key) or [])
    rec["custom"] = dict(rec.get("custom") or {})
    rec["search_data"] = dict(rec.get("search_data") or {})
    rec["attachments"] = [dict(a, custom=a.get("custom") or {}) for a in rec["attachments"]]
    return rec


def _follow_filter(conditions: Any) -> tuple[str, list[Any]]:
    """A QueryFollows filter as SQL over the follows table."""
    if not isinstance(conditions, dict):
        raise Problem.invalid({"filter": "must be an object"})
    columns = {"source_feed": "source", "target_feed": "target",
               "push_preference": "push_preference"}  # fmt: skip
    parts, params = [], []
    for key, value in conditions.items():
        if key == "status":  # every follow of this server is accepted
            accepted = value == "accepted" or (isinstance(value, dict) and "accepted" in (
                value.get("$in") or [value.get("$eq")]))  # fmt: skip
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


class FeedsService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.users = UsersService(store)

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

    def _build(
        self, body: dict[str, Any], actor: str, now: int, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        rec: dict[str, Any] = {k: body.get(k) for k in _COPIED}
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
        return _nonempty_lists(rec)

    def _render(self, db: Any, records: Sequence[dict[str, Any]]) -> list[orjson.Fragment]:
        return self._render_rows(db, [record_row(r) for r in records])

    def _render_rows(self, db: Any, rows: Sequence[Sequence[Any]]) -> list[orjson.Fragment]:
        """Stored rows as answer activities, with their parents and users."""
        parent_ids = [r[_PARENT] for r in rows if r[_PARENT]]
        parents = self.store.get_rows(db, parent_ids) if parent_ids else {}
        user_ids = set()
        for r in [*rows, *parents.values()]:
            user_ids.add(r[_USER])
            if r[_MENTIONS]:
                user_ids.update(orjson.loads(r[_MENTIONS]))
        answer = Answer(self.store.get_users(db, user_ids), parents, now_ns())
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
        self, db: Any, pairs: Sequence[tuple[dict[str, Any], str]], principal: Principal
    ) -> list[dict[str, Any]]:
        ids = [str(b["id"]) for b, _ in pairs if b.get("id")]
        stored = self.store.get_records(db, ids) if ids else {}
        for old in stored.values():
            self._owner_check(principal, old)
        latest = dict(stored)
        records = []
        for body, actor in pairs:
            now = self.store.tick()  # one tick each: created_at orders the writes of a batch
            rec = self._build(body, actor, now, latest.get(body.get("id") or ""))
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
    ) -> None:
        """Write records over the ``stored`` versions, creating the users and feeds they name."""
        users = {u for r in records for u in (r["user_id"], *r["mentioned_user_ids"])}
        self.store.ensure_users(db, users, now)
        self.store.ensure_feeds_by(
            db, [(f, r["user_id"]) for r in records for f in r["feeds"]], now
        )
        self.store.write_records(db, records, stored)

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
        body = _obj(body)
        pairs = self._validate_new([body], principal, "")
        with self.store.transaction() as db:
            self._upsert_embedded_users(db, [body], now_ns())
            records = self._write(db, pairs, principal)
            return {"activity": self._render(db, records)[0]}

    def upsert_activities(self, principal: Principal, body: Any) -> dict[str, Any]:
        items = _batch(_obj(body), "activities")
        pairs = self._validate_new(items, principal, "activities[{i}].")
        with self.store.transaction() as db:
            self._upsert_embedded_users(db, items, now_ns())
            records = self._write(db, pairs, principal)
            return {"activities": self._render(db, records), "mention_notifications_created": 0}

    def get_activity(
        self, principal: Principal, activity_id: str, user_id: str | None
    ) -> dict[str, Any]:
        viewer = principal.acting_as(user_id)
        with self.store.reading() as db:
            rec = self._load(db, activity_id)
            if not self._visible(db, rec, viewer):
                raise Problem.not_found(f"activity {activity_id!r}")
            return {"activity": self._render(db, [rec])[0]}

    def update_activity(self, principal: Principal, activity_id: str, body: Any) -> dict[str, Any]:
        body = _obj(body)
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
            rec = self._build(merged, old["user_id"], now, old)
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
        rec = self._build(merged, old["user_id"], now, old)
        self._save(db, [rec], {old["id"]: old}, now)
        return rec

    def update_activity_partial(
        self, principal: Principal, activity_id: str, body: Any
    ) -> dict[str, Any]:
        body = _obj(body)
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
        changes = _batch(_obj(body), "changes")
        with self.store.transaction() as db:
            now = self.store.tick()
            records = []
            for i, change in enumerate(changes):
                if not isinstance(change, dict):
                    raise Problem.invalid({f"changes[{i}]": "must be an object"})
                aid = _check_id(change.get("activity_id"), f"changes[{i}].activity_id")
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
        clean = [_check_id(x, f"ids[{i}]") for i, x in enumerate(ids)]
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
        self._actor(principal, _obj(body))
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
            _limit(body, default_limit), _cursor(body, "next"), _cursor(body, "prev")
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
        return self._render_rows(db, rows), nxt, prv

    def query_activities(self, principal: Principal, body: Any) -> dict[str, Any]:
        body = _obj(body)
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

    def get_or_create_feed(
        self, principal: Principal, group: str, feed_id: str, body: Any
    ) -> dict[str, Any]:
        body = _obj(body)
        fid = f"{group}:{feed_id}"
        if not FEED_ID.match(fid) or len(fid) > MAX_ID:
            raise Problem.invalid({"feed": f"{fid!r} is not a valid feed id 'group:id'"})
        creator = self._actor(principal, body)
        data = _obj(body.get("data"), "data")
        errors = _type_errors(data, _FEED_DATA_TYPES)
        if data.get("visibility") is not None and data["visibility"] not in FEED_VISIBILITIES:
            errors["visibility"] = f"must be one of {', '.join(FEED_VISIBILITIES)}"
        if errors:
            raise Problem.invalid({f"data.{k}": m for k, m in errors.items()})
        with self.store.reading() as db:
            created = self.store.get_feed(db, fid) is None
        if created or data:  # a plain read of an existing feed writes nothing
            self._write_feed(fid, creator, data)
        with self.store.reading() as db:
            feeds = [fid, *self.store.following(db, fid)]
            compiled = Compiled(drive_keys=[FEED_KEY + f for f in feeds])
            if body.get("filter") is not None:
                compile_filter(body["filter"], compiled, top=False)
            acts, nxt, prv = self._page(db, principal, body, compiled, DEFAULT_PAGE, "feed:" + fid)
            stored = self.store.get_feed(db, fid)
            assert stored is not None
            feed = stored
            counts = self.store.feed_counts(db, fid)
            users = self.store.get_users(db, [feed.get("created_by") or feed_id])
            out: dict[str, Any] = {
                "activities": acts,
                "aggregated_activities": [],
                "followers": [
                    self._follow_response(db, f) for f in self.store.follows(db, target=fid)
                ],
                "following": [
                    self._follow_response(db, f) for f in self.store.follows(db, source=fid)
                ],
                "members": [],
                "pinned_activities": [],
                "created": created,
                "feed": feed_response(feed, counts, users, now_ns()),
            }
        if nxt:
            out["next"] = nxt
        if prv:
            out["prev"] = prv
        return out

    def _write_feed(self, fid: str, creator: str | None, data: dict[str, Any]) -> None:
        """Create the feed if it is missing, and apply ``data`` (name, description, ...)."""
        keys = ("name", "description", "custom", "visibility", "filter_tags")
        with self.store.transaction() as db:
            now = self.store.tick()
            if creator:
                self.store.ensure_users(db, [creator], now)
            self.store.ensure_feeds(db, [fid], creator, now)
            if data:
                feed = self.store.get_feed(db, fid) or {}
                doc = {k: feed[k] for k in keys if feed.get(k) is not None}
                doc.update({k: v for k, v in data.items() if k in keys})
                self.store.update_feed_doc(db, fid, doc, now)

    def delete_feed(self, principal: Principal, group: str, feed_id: str) -> dict[str, Any]:
        fid = f"{group}:{feed_id}"
        with self.store.transaction() as db:
            feed = self.store.get_feed(db, fid)
            if feed is None:
                raise Problem.not_found(f"feed {fid!r}")
            if principal.user_id is not None and feed.get("created_by") != principal.user_id:
                raise Problem(
                    403, NOT_ALLOWED, f"user {principal.user_id!r} cannot delete feed {fid!r}"
                )
            self.store.delete_feed(db, fid)
        # The hosted service deletes in a background task; here it is done on return, and the
        # task id only keeps the response's shape.
        return {"task_id": str(uuid.uuid4())}

    # -- follows ----------------------------------------------------------------------------

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
        body = _obj(body, where or "body")
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
        items = _batch(_obj(body), "follows")
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
        body = _obj(body)
        where, params = _follow_filter(body.get("filter") or {})
        limit = _limit(body, DEFAULT_PAGE)
        direction = "ASC"
        for item in body.get("sort") or []:
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
