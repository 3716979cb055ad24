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
from typing import Any

from feedkit.schema import MAX_ID, Field, FieldError, Kind, Reason, check_encoded
from feedkit.schema.fields import all_accepted

__all__ = ["USER_FIELDS", "validate_user", "validate_user_partial"]

MAX_USER_NAME = 1000  # characters of a name, a role, an image URL or a language
MAX_TEAMS = 100


# The spec's PrivacySettings: each setting an object whose ``enabled`` is true or false.
PRIVACY_SETTINGS = tuple(
    Field(
        name, Kind.OBJECT, doc, members=(Field("enabled", Kind.BOOL, "On or off.", required=True),)
    )
    for name, doc in (
        ("typing_indicators", "Whether the user's typing is shown."),
        ("read_receipts", "Whether the user's reads are shown."),
        ("delivery_receipts", "Whether deliveries to the user are shown."),
    )
)

USER_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("id", Kind.STRING, "The user's id.", max_length=MAX_ID, settable=False),
        Field(
            "name",
            Kind.STRING,
            "The name shown for the user.",
            max_length=MAX_USER_NAME,
            settable=True,
            unsettable=True,
        ),
        Field(
            "image",
            Kind.STRING,
            "The URL of the user's picture.",
            max_length=MAX_USER_NAME,
            settable=True,
            unsettable=True,
        ),
        Field(
            "role",
            Kind.STRING,
            "The user's role, e.g. user or admin.",
            max_length=MAX_USER_NAME,
            settable=True,
            unsettable=True,
        ),
        Field(
            "language",
            Kind.STRING,
            "The user's language, e.g. en.",
            max_length=MAX_USER_NAME,
            settable=True,
            unsettable=True,
        ),
        Field(
            "invisible",
            Kind.BOOL,
            "Whether the user's presence is hidden.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "teams",
            Kind.STRING_LIST,
            "The teams the user belongs to.",
            max_items=MAX_TEAMS,
            settable=True,
            unsettable=True,
        ),
        Field(
            "teams_role",
            Kind.STRING_MAP,
            "The user's role in each team: team -> role.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "privacy_settings",
            Kind.OBJECT,
            "Typing indicators, read and delivery receipts.",
            settable=True,
            unsettable=True,
            members=PRIVACY_SETTINGS,
        ),
        Field("custom", Kind.OBJECT, "Any other data of the user.", settable=True, unsettable=True),
    )
}


def validate_user(data: Mapping[str, Any], *, strict: bool = False) -> list[FieldError]:
    """Every error in a user object (``id`` required), or ``[]``. ``strict`` also refuses
    keys that are not user fields (the server ignores them, as the hosted service does)."""
    if not isinstance(data, Mapping):
        return [FieldError("", Reason.TYPE, "a user must be an object", data)]
    if not strict and _accepted(data):
        return []
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


def _accepted(data: Mapping[str, Any]) -> bool:
    """Whether :func:`validate_user` (not strict) finds no error, decided without building
    any."""
    return bool(data.get("id")) and all_accepted(USER_FIELDS.values(), data) and (
        not check_encoded(data))  # fmt: skip


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
