"""The bookmark and bookmark folder fields, their JSON types and limits, and what their queries
filter and sort on: one declaration, read by the client and the server's bookmarks module.

A bookmark is one user's mark on one activity, in at most one folder (``folder_id``; a user
may bookmark an activity once per folder, and once outside any). AddBookmark names an existing
folder (``folder_id``) or makes one (``new_folder``: ``name`` and ``custom``); UpdateBookmark
finds the bookmark by ``folder_id`` and moves it (``new_folder_id``, "" for no folder, or
``new_folder``) or changes its ``custom``.

    >>> [e.field for e in validate_bookmark({"folder_id": "f1", "new_folder": {"name": ""}})]
    ['new_folder.name', 'new_folder']
    >>> [e.code.value for e in validate_folder({"name": "x" * 256}, "")]
    ['too_long']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feedkit.schema import MAX_ID, Field, FieldError, Kind, Reason, check_encoded

__all__ = [
    "BOOKMARK_FIELDS",
    "BOOKMARK_FILTERS",
    "FOLDER_FIELDS",
    "FOLDER_FILTERS",
    "SORT_FIELDS",
    "validate_bookmark",
    "validate_folder",
]

MAX_FOLDER_NAME = 255  # characters of a folder's name (the spec's maxLength)

# The operators a query's filter takes on each kind of field.
ID_OPERATORS = ("$eq", "$in")
TIME_OPERATORS = ("$eq", "$gt", "$gte", "$lt", "$lte")

BOOKMARK_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(
            "folder_id",
            Kind.STRING,
            "The folder the bookmark is in (or is found in).",
            max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
        Field(
            "new_folder_id",
            Kind.STRING,
            "The folder to move the bookmark to; '' for none.",
            max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
        Field("custom", Kind.OBJECT, "Any data of the bookmark.", settable=True, unsettable=True),
        Field(
            "user_id",
            Kind.STRING,
            "The user the bookmark is of (server-side requests).",
            max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
    )
}
FOLDER_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(
            "name",
            Kind.STRING,
            "The folder's name.",
            max_length=MAX_FOLDER_NAME,
            settable=True,
            unsettable=True,
        ),
        Field("custom", Kind.OBJECT, "Any data of the folder.", settable=True, unsettable=True),
        Field(
            "user_id",
            Kind.STRING,
            "The user acting (server-side requests).",
            max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
    )
}

# What QueryBookmarks and QueryBookmarkFolders filter on, with the operators of each (the
# vendor's documented queryable fields); both sort on SORT_FIELDS, newest first by default.
BOOKMARK_FILTERS: dict[str, tuple[str, ...]] = {
    "user_id": ID_OPERATORS,
    "activity_id": ID_OPERATORS,
    "folder_id": (*ID_OPERATORS, "$exists"),
    "created_at": TIME_OPERATORS,
    "updated_at": TIME_OPERATORS,
}
FOLDER_FILTERS: dict[str, tuple[str, ...]] = {
    "folder_id": ID_OPERATORS,
    "user_id": ID_OPERATORS,
    "folder_name": (*ID_OPERATORS, "$contains"),
    "created_at": TIME_OPERATORS,
    "updated_at": TIME_OPERATORS,
}
SORT_FIELDS = ("created_at", "updated_at")


def _fields_errors(
    data: Mapping[str, Any], fields: Mapping[str, Field], prefix: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    for name, f in fields.items():
        if data.get(name) is not None:
            errors += f.errors(data[name], prefix + name)
    custom = data.get("custom")
    if not errors and isinstance(custom, dict):
        errors += [
            FieldError(
                prefix + "custom." + e.field if e.field else prefix + "custom",
                e.code,
                e.message,
                e.value,
            )
            for e in check_encoded(custom)
        ]
    return errors


def validate_folder(data: Any, path: str = "new_folder", *, new: bool = True) -> list[FieldError]:
    """Every error in a folder's fields (``path`` names the object; "" for a whole body);
    ``new`` folders need a non-empty ``name``."""
    prefix = f"{path}." if path else ""
    if not isinstance(data, Mapping):
        return [FieldError(path or "body", Reason.TYPE, "must be an object", data)]
    errors = _fields_errors(data, FOLDER_FIELDS, prefix)
    name = data.get("name")
    if (new or name is not None) and isinstance(name, str | None) and not (name or "").strip():
        errors.append(
            FieldError(prefix + "name", Reason.REQUIRED, "is required: a non-empty string", name)
        )
    return errors


def validate_bookmark(data: Any, *, update: bool = False) -> list[FieldError]:
    """Every error in an AddBookmark (or, ``update``, an UpdateBookmark) body."""
    if not isinstance(data, Mapping):
        return [FieldError("body", Reason.TYPE, "must be an object", data)]
    errors = _fields_errors(data, BOOKMARK_FIELDS, "")
    if not update and data.get("new_folder_id") is not None:
        errors.append(
            FieldError(
                "new_folder_id",
                Reason.UNKNOWN_FIELD,
                "is for UpdateBookmark; send folder_id or new_folder",
                None,
            )
        )
    new_folder = data.get("new_folder")
    if new_folder is not None:
        errors += validate_folder(new_folder)
        other = "new_folder_id" if update else "folder_id"
        if data.get(other):
            errors.append(
                FieldError(
                    "new_folder",
                    Reason.DEPENDENCY,
                    f"send either {other} or new_folder, not both",
                    None,
                )
            )
    return errors
