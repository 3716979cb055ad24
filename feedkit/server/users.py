"""The users resource of the embedded server: UpdateUsers, UpdateUsersPartial, QueryUsers,
DeactivateUser(s), ReactivateUser(s), DeleteUsers, RestoreUsers and GetTask.

Users are stored whole (every field of :data:`feedkit.schema.user.USER_FIELDS`, as JSON) and
answered whole. Operations the hosted service runs as background tasks (deleting, deactivating
or reactivating many users) run at once here, and leave a completed task that GetTask answers.
A soft-deleted or deactivated user keeps its row with ``deleted_at`` / ``deactivated_at`` set;
QueryUsers leaves deactivated users out unless asked (``include_deactivated_users``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from feedkit.schema import DEFAULT_PAGE, MAX_ID, MAX_PAGE, FieldError, parse_time
from feedkit.schema.user import USER_FIELDS, validate_user, validate_user_partial
from feedkit.server.auth import APP, Principal
from feedkit.server.problems import Problem
from feedkit.server.render import FULL_USER_DEFAULTS, user_response
from feedkit.server.store import Store, now_ns

__all__ = ["UsersService"]

MAX_USER_IDS = MAX_PAGE  # users one delete, deactivate or restore request may name
QUERY_LIMIT = MAX_PAGE  # users one QueryUsers page may hold
_COLUMNS = {"id": "id", "created_at": "created_at", "updated_at": "updated_at"}
_SORTABLE = ("id", "created_at", "updated_at", "name", "role", "last_active")
_KEPT = ("deactivated_at", "deleted_at")  # what replacing a user whole keeps of it


def _problem(errors: list[FieldError], prefix: str) -> Problem:
    return Problem.invalid({f"{prefix}{e.field}".rstrip("."): e.message for e in errors})


def _ids(body: Any, key: str = "user_ids") -> list[str]:
    ids = body.get(key) if isinstance(body, dict) else None
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= MAX_USER_IDS
        or not all(isinstance(i, str) and 0 < len(i) <= MAX_ID for i in ids)
    ):
        raise Problem.invalid({key: f"is required: a list of 1 to {MAX_USER_IDS} user ids"})
    return list(dict.fromkeys(ids))


def _checked(principal: Principal, body: Any, where: str = "users.{key}.") -> list[dict[str, Any]]:
    """UpdateUsers' users, checked, as they are stored; a refused field is named ``where``
    (formatted with the user's ``key``) and its own name."""
    users = body.get("users") if isinstance(body, dict) else None
    if not isinstance(users, dict) or not users:
        raise Problem.invalid({"users": "is required: an object of id -> user"})
    clean = []
    for key, user in users.items():
        if not isinstance(user, dict):
            raise Problem.invalid({f"users.{key}": "must be an object"})
        user = {"id": key, **user}
        errors = validate_user(user)
        if errors:
            raise _problem(errors, where.format(key=key))
        principal.acting_as(user["id"])
        clean.append({k: v for k, v in user.items() if k in USER_FIELDS and v is not None})
    return clean


class UsersService:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _answer(
        stored: dict[str, dict[str, Any]], ids: Iterable[str], full: bool = True
    ) -> dict[str, Any]:
        now = now_ns()
        extra = FULL_USER_DEFAULTS if full else {}
        return {uid: {**user_response(uid, stored, now), **extra} for uid in ids}

    def _save(self, db: Any, users: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Store users whole (distinct ids), keeping when each was deactivated or deleted;
        each user as it is now stored (as ``Store.get_users`` would read it), by id."""
        old = self.store.get_users(db, [u["id"] for u in users])
        at = self.store.tick()
        docs, stored = [], {}
        for user in users:
            before = old.get(user["id"]) or {}
            doc = {**user, **{k: before[k] for k in _KEPT if before.get(k)}}
            docs.append(doc)
            stored[user["id"]] = {**doc, "created_at": before.get("created_at", at),
                                  "updated_at": at}  # fmt: skip
        self.store.upsert_users(db, docs, at)
        return stored

    # -- writes -----------------------------------------------------------------------------

    def update(self, principal: Principal, body: Any) -> dict[str, Any]:
        """UpdateUsers: each user replaced whole by the fields given."""
        clean = _checked(principal, body)
        with self.store.transaction() as db:
            stored = self._save(db, clean)
        return {"users": self._answer(stored, stored), "membership_deletion_task_id": ""}

    def write_users(self, db: Any, body: Any) -> None:
        """UpdateUsers without its answer, in the caller's transaction (an import batch)."""
        self._save(db, _checked(APP, body, ""))  # (a refused user is found alone)

    def update_partial(self, principal: Principal, body: Any) -> dict[str, Any]:
        """UpdateUsersPartial: ``set`` and ``unset`` per user (``custom.x`` paths reach in)."""
        changes = body.get("users") if isinstance(body, dict) else None
        if not isinstance(changes, list) or not 1 <= len(changes) <= MAX_PAGE:
            raise Problem.invalid({"users": f"is required: a list of 1 to {MAX_PAGE} changes"})
        for i, change in enumerate(changes):
            if not isinstance(change, dict) or not isinstance(change.get("id"), str):
                raise Problem.invalid({f"users[{i}].id": "is required"})
            set_, unset = change.get("set") or {}, change.get("unset") or []
            if not isinstance(set_, dict) or not isinstance(unset, list):
                raise Problem.invalid({f"users[{i}]": "set is an object, unset a list"})
            errors = validate_user_partial(set_, unset)
            if errors:
                raise _problem(errors, f"users[{i}].")
            principal.acting_as(change["id"])
        with self.store.transaction() as db:
            ids = [c["id"] for c in changes]
            stored = self.store.get_users(db, ids)
            merged: dict[str, dict[str, Any]] = {}
            for change in changes:
                uid = change["id"]
                user = merged.get(uid) or {
                    k: v for k, v in (stored.get(uid) or {"id": uid}).items() if k in USER_FIELDS
                }
                merged[uid] = _patched(user, change.get("set") or {}, change.get("unset") or [])
            errors = [e for u in merged.values() for e in validate_user(u)]
            if errors:
                raise _problem(errors, "users.")
            stored = self._save(db, list(merged.values()))
            return {"users": self._answer(stored, merged), "membership_deletion_task_id": ""}

    def _mark(
        self, ids: list[str], field: str, value: int | None, missing_ok: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Set (or clear) ``deactivated_at`` / ``deleted_at`` of these users."""
        with self.store.transaction() as db:
            stored = self.store.get_users(db, ids)
            unknown = [i for i in ids if i not in stored]
            if unknown and not missing_ok:
                raise Problem.not_found(f"user(s) {', '.join(map(repr, unknown))}")
            users = []
            for uid in ids:
                if uid in stored:
                    user = {
                        k: v
                        for k, v in stored[uid].items()
                        if k not in ("created_at", "updated_at")
                    }
                    user.pop(field, None)
                    users.append({**user, **({field: value} if value is not None else {})})
            self.store.upsert_users(db, users, self.store.tick())
            done = [u["id"] for u in users]
            return self._answer(self.store.get_users(db, done), done, full=False)

    def _task(self, kind: str, result: dict[str, Any]) -> str:
        task_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            self.store.put_task(
                db,
                task_id,
                self.store.tick(),
                {"status": "completed", "result": {"kind": kind, **result}},
            )
        return task_id

    def deactivate(self, principal: Principal, user_id: str, body: Any) -> dict[str, Any]:
        principal.server_only("DeactivateUser")
        return {"user": self._mark([user_id], "deactivated_at", now_ns())[user_id]}

    def reactivate(self, principal: Principal, user_id: str, body: Any) -> dict[str, Any]:
        principal.server_only("ReactivateUser")
        return {"user": self._mark([user_id], "deactivated_at", None)[user_id]}

    def deactivate_many(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.server_only("DeactivateUsers")
        done = self._mark(_ids(body), "deactivated_at", now_ns())
        return {"task_id": self._task("deactivate_users", {"user_ids": list(done)})}

    def reactivate_many(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.server_only("ReactivateUsers")
        done = self._mark(_ids(body), "deactivated_at", None)
        return {"task_id": self._task("reactivate_users", {"user_ids": list(done)})}

    def delete_many(self, principal: Principal, body: Any) -> dict[str, Any]:
        """DeleteUsers: soft by default (``deleted_at`` set, RestoreUsers undoes it); ``user:
        "hard"`` removes them. Their activities are kept, as the hosted service keeps them."""
        principal.server_only("DeleteUsers")
        ids = _ids(body)
        mode = body.get("user") or "soft"
        if mode not in ("soft", "pruning", "hard"):
            raise Problem.invalid({"user": "must be soft, pruning or hard"})
        if mode == "hard":
            with self.store.transaction() as db:
                self.store.delete_users(db, ids)
        else:
            self._mark(ids, "deleted_at", now_ns(), missing_ok=True)
        return {"task_id": self._task("delete_users", {"user_ids": ids, "user": mode})}

    def restore_many(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.server_only("RestoreUsers")
        self._mark(_ids(body), "deleted_at", None)
        return {}

    # -- reads ------------------------------------------------------------------------------

    def get_task(self, principal: Principal, task_id: str) -> dict[str, Any]:
        principal.server_only("GetTask")
        with self.store.reading() as db:
            task = self.store.get_task(db, task_id)
        if task is None:
            raise Problem.not_found(f"task {task_id!r}")
        return task

    def query(self, principal: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """QueryUsers: the ``payload`` query parameter, JSON of a QueryUsersPayload."""
        try:
            payload = orjson.loads(query.get("payload") or "{}")
        except orjson.JSONDecodeError as exc:
            raise Problem.invalid({"payload": f"is not JSON: {exc}"}) from None
        if not isinstance(payload, dict):
            raise Problem.invalid({"payload": "must be a JSON object"})
        conditions = payload.get("filter_conditions")
        if not isinstance(conditions, dict):
            raise Problem.invalid({"payload.filter_conditions": "is required: an object"})
        where, params = _compile(conditions)
        if not payload.get("include_deactivated_users"):
            where = f"({where}) AND json_extract(doc, '$.deactivated_at') IS NULL"
        limit, offset = payload.get("limit") or DEFAULT_PAGE, payload.get("offset") or 0
        if not isinstance(limit, int) or not 0 < limit <= QUERY_LIMIT:
            raise Problem.invalid({"payload.limit": f"must be 1 to {QUERY_LIMIT}"})
        if not isinstance(offset, int) or offset < 0:
            raise Problem.invalid({"payload.offset": "must be 0 or more"})
        order = _order(payload.get("sort"))
        with self.store.reading() as db:
            users = self.store.select_users(db, where, params, order, limit, offset)
        now = now_ns()
        by_id = {u["id"]: u for u in users}
        return {
            "users": [{**user_response(u["id"], by_id, now), **FULL_USER_DEFAULTS} for u in users]
        }


def _patched(user: dict[str, Any], set_: dict[str, Any], unset: list[str]) -> dict[str, Any]:
    out = dict(user)
    custom = dict(out.get("custom") or {})
    for key, value in set_.items():
        if key.startswith("custom."):
            custom[key[len("custom.") :]] = value
        else:
            out[key] = value
    for key in unset:
        if key.startswith("custom."):
            custom.pop(key[len("custom.") :], None)
        else:
            out.pop(key, None)
    if custom or "custom" in out:
        out["custom"] = custom
    return out


def _order(sort: Any) -> str:
    if sort is not None and not isinstance(sort, list):
        raise Problem.invalid({"payload.sort": "must be a list of {field, direction}"})
    terms = []
    for item in sort or []:
        field = item.get("field") if isinstance(item, dict) else None
        if field not in _SORTABLE:
            raise Problem.invalid({"payload.sort": f"sort on one of {', '.join(_SORTABLE)}"})
        direction = "DESC" if item.get("direction", 1) == -1 else "ASC"
        terms.append(f"{_column(field)} {direction}")
    return ", ".join([*terms, "created_at ASC", "id ASC"])


def _column(field: str) -> str:
    if field in _COLUMNS:
        return _COLUMNS[field]
    path = ".".join(f'"{p}"' for p in field.split("."))
    return f"json_extract(doc, '$.{path}')"


_OPS: dict[str, str] = {"$eq": "=", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _compile(conditions: dict[str, Any]) -> tuple[str, list[Any]]:
    """A QueryUsers filter as SQL over the users table: fields id, name, role, language,
    teams, created_at, updated_at and custom.x; operators $eq $ne $gt $gte $lt $lte $in $nin
    $exists $contains (teams) $autocomplete (a prefix, any case); $and, $or, $nor."""
    parts: list[str] = []
    params: list[Any] = []
    for key, value in conditions.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise Problem.invalid({key: "must be a non-empty list of filters"})
            subs = [_compile(v) if isinstance(v, dict) else _bad(key) for v in value]
            joined = (" AND " if key == "$and" else " OR ").join(f"({s})" for s, _ in subs)
            parts.append(f"NOT ({joined})" if key == "$nor" else f"({joined})")
            params += [p for _, ps in subs for p in ps]
            continue
        if key not in (
            "id",
            "name",
            "role",
            "language",
            "teams",
            "created_at",
            "updated_at",
            "image",
            "invisible",
        ) and not key.startswith("custom."):
            raise Problem.invalid({f"filter_conditions.{key}": "cannot be filtered on"})
        ops = (
            value
            if isinstance(value, dict) and value and all(k.startswith("$") for k in value)
            else {"$eq": value}
        )
        for op, operand in ops.items():
            sql, values = _condition(key, op, operand)
            parts.append(sql)
            params += values
    return (" AND ".join(parts) or "1"), params


def _bad(key: str) -> tuple[str, list[Any]]:
    raise Problem.invalid({key: "must be a list of filter objects"})


def _value(key: str, operand: Any) -> Any:
    if key in ("created_at", "updated_at"):
        try:
            return parse_time(operand)
        except ValueError as exc:
            raise Problem.invalid({f"filter_conditions.{key}": str(exc.args[0])}) from None
    if isinstance(operand, (dict, list)):
        raise Problem.invalid({f"filter_conditions.{key}": "compare with a value"})
    return operand


def _condition(key: str, op: str, operand: Any) -> tuple[str, list[Any]]:
    column = _column(key)
    if key == "teams":
        team = "EXISTS (SELECT 1 FROM json_each(doc, '$.teams') WHERE value = ?)"
        if op in ("$eq", "$contains") and isinstance(operand, str):
            return team, [operand]
        if op == "$in" and isinstance(operand, list) and operand:
            if not all(isinstance(t, str) for t in operand):
                raise Problem.invalid({"filter_conditions.teams": "$in takes team names"})
            return "(" + " OR ".join([team] * len(operand)) + ")", list(operand)
    if op in _OPS:
        return f"{column} {_OPS[op]} ?", [_value(key, operand)]
    if op in ("$in", "$nin") and isinstance(operand, list) and operand:
        marks = ",".join("?" * len(operand))
        return f"{column} {'NOT ' if op == '$nin' else ''}IN ({marks})", [
            _value(key, v) for v in operand
        ]
    if op == "$exists" and isinstance(operand, bool):
        return f"{column} IS {'NOT ' if operand else ''}NULL", []
    if op == "$autocomplete" and isinstance(operand, str) and key in ("name", "id"):
        escaped = operand.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{column} LIKE ? ESCAPE '\\'", [escaped + "%"]
    raise Problem.invalid({f"filter_conditions.{key}": f"{op} is not supported here"})
