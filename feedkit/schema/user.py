"""The user fields, their JSON types and limits: one declaration, read by the client, the
server's users module and its answers.

A user is written whole (UpdateUsers: fields left out are cleared) or in part (UpdateUsersPartial:
``set`` and ``unset``, dotted ``custom.x`` paths allowed); ``id`` is never set or unset.

    >>> [e.field for e in validate_user({"id": "ann", "teams": ["red", 7], "invisible": "no"})]
    ['invisible', 'teams[1]']
    >>> [e.code.value for e in validate_user_partial({"role": "admin"}, ["id", ["name"]])]
    ['not_unsettable', 'type']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from feedkit.schema import MAX_ID, FieldError, Reason, check_encoded

__all__ = ["USER_FIELDS", "UserField", "validate_user", "validate_user_partial"]

MAX_USER_NAME = 1000  # characters of a name, a role, an image URL or a language
MAX_TEAMS = 100


@dataclass(frozen=True)
class UserField:
    """One user field: its JSON type, ``kind`` (``str``, ``bool``, ``list`` of strings,
    ``dict``; a ``dict`` with ``values=str`` maps strings to strings), and its limits."""

    name: str
    kind: type
    doc: str
    max_length: int | None = None
    max_items: int | None = None
    values: type | None = None  # the type of each item of a list or value of a dict
    settable: bool = True

    def errors(self, value: Any, path: str | None = None) -> list[FieldError]:
        where = path or self.name
        what = {str: "a string", bool: "true or false", list: "a list", dict: "an object"}
        if not isinstance(value, self.kind):
            return [FieldError(where, Reason.TYPE, f"must be {what[self.kind]}", value)]
        sized: Any = value
        out: list[FieldError] = []
        if self.max_length is not None and len(sized) > self.max_length:
            out.append(
                FieldError(
                    where, Reason.TOO_LONG, f"is longer than {self.max_length} characters", value
                )
            )
        if self.max_items is not None and len(sized) > self.max_items:
            out.append(
                FieldError(where, Reason.TOO_MANY, f"has more than {self.max_items} items", value)
            )
        if self.values is not None:
            items = sized.items() if isinstance(sized, dict) else enumerate(sized)
            for key, item in items:
                if not isinstance(item, self.values):
                    sub = f"{where}.{key}" if isinstance(value, dict) else f"{where}[{key}]"
                    out.append(FieldError(sub, Reason.TYPE, "must be a string", item))
        return out


USER_FIELDS: dict[str, UserField] = {
    f.name: f
    for f in (
        UserField("id", str, "The user's id.", max_length=MAX_ID, settable=False),
        UserField("name", str, "The name shown for the user.", max_length=MAX_USER_NAME),
        UserField("image", str, "The URL of the user's picture.", max_length=MAX_USER_NAME),
        UserField("role", str, "The user's role, e.g. user or admin.", max_length=MAX_USER_NAME),
        UserField("language", str, "The user's language, e.g. en.", max_length=MAX_USER_NAME),
        UserField("invisible", bool, "Whether the user's presence is hidden."),
        UserField("teams", list, "The teams the user belongs to.", max_items=MAX_TEAMS, values=str),
        UserField("teams_role", dict, "The user's role in each team: team -> role.", values=str),
        UserField("privacy_settings", dict, "Typing indicators, read and delivery receipts."),
        UserField("custom", dict, "Any other data of the user."),
    )
}


def validate_user(data: Mapping[str, Any], *, strict: bool = False) -> list[FieldError]:
    """Every error in a user object (``id`` required), or ``[]``. ``strict`` also refuses
    keys that are not user fields (the server ignores them, as the hosted service does)."""
    if not isinstance(data, Mapping):
        return [FieldError("", Reason.TYPE, "a user must be an object", data)]
    errors: list[FieldError] = []
    if not data.get("id"):
        errors.append(FieldError("id", Reason.REQUIRED, "is required", data.get("id")))
    for name, f in USER_FIELDS.items():
        value = data.get(name)
        if value is not None and not (name == "id" and not value):
            errors += f.errors(value)
    if strict:
        errors += [
            FieldError(str(k), Reason.UNKNOWN_FIELD, "is not a user field", data[k])
            for k in data
            if k not in USER_FIELDS
        ]
    return errors + (check_encoded(data) if not errors else [])


def validate_user_partial(
    set_: Mapping[str, Any] | None, unset: Iterable[str] | None
) -> list[FieldError]:
    """Every error in a partial user update: fields that cannot be set or unset (``id``),
    unknown fields, and values of the wrong type. ``custom.x`` paths reach into custom."""
    errors: list[FieldError] = []
    for key, value in (set_ or {}).items():
        f = USER_FIELDS.get(key.partition(".")[0] if key.startswith("custom.") else key)
        if f is None or not f.settable:
            code = Reason.NOT_SETTABLE if f is not None else Reason.UNKNOWN_FIELD
            errors.append(FieldError(f"set.{key}", code, "cannot be set", value))
        elif not key.startswith("custom.") and value is not None:
            errors += f.errors(value, f"set.{key}")
    for key in unset or ():
        if not isinstance(key, str):
            errors.append(FieldError("unset", Reason.TYPE, "must be a list of field names", key))
            continue
        f = USER_FIELDS.get(key.partition(".")[0] if key.startswith("custom.") else key)
        if f is None or not f.settable:
            code = Reason.NOT_UNSETTABLE if f is not None else Reason.UNKNOWN_FIELD
            errors.append(FieldError(f"unset.{key}", code, "cannot be unset", key))
    return errors
