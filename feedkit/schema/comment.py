"""The comment fields, their types and limits, and the options of comment reads: one
declaration, read by the client, the server's comments module and its answers.

A comment is written with its text in ``comment`` (it answers with it in ``text``), on an
object (``object_type`` "activity", ``object_id`` the activity's id), or as a reply to another
comment (``parent_id``; the reply inherits its parent's object). A partial update ``set``\\s
``text``, ``attachments``, ``custom`` (``custom.x`` paths reach in) and ``mentioned_user_ids``.

    >>> [e.field for e in validate_comment({"comment": 7, "object_type": "poll"})]
    ['comment', 'object_type', 'object_id']
    >>> [e.code.value for e in validate_comment_partial({"user_id": "x"}, ["text"])]
    ['not_settable', 'not_unsettable']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feedkit.schema import (
    MAX_ID,
    MAX_MENTIONS,
    MAX_NESTING,
    REQUEST_OPTIONS,
    Field,
    FieldError,
    Kind,
    Reason,
    check_encoded,
)
from feedkit.schema.fields import all_accepted

__all__ = [
    "COMMENT_FIELDS",
    "COMMENT_SORTS",
    "OBJECT_TYPES",
    "PARTIAL_SET",
    "PARTIAL_UNSET",
    "validate_comment",
    "validate_comment_partial",
]

OBJECT_TYPES = ("activity",)  # what a comment can be on
DEFAULT_OBJECT_TYPE = "activity"
# Orders of comment reads: first (oldest first), last (newest first), top (score), best
# (confidence_score) and controversial (controversy_score), each newest first among equals.
COMMENT_SORTS = ("first", "last", "top", "best", "controversial")
DEFAULT_SORT = "first"
MAX_DEPTH = 5  # levels of replies one threaded read nests
DEFAULT_DEPTH = 1  # levels of replies a threaded read nests when it asks for none
MAX_REPLIES_LIMIT = 20  # replies a threaded read shows under each comment (GetComments)
MAX_REPLY_PAGE = 100  # replies one GetCommentReplies level shows under each reply
DEFAULT_REPLIES_LIMIT = 3  # replies shown under each comment when a read asks for none
LATEST_COMMENTS = 5  # top-level comments an activity answers with, newest first

COMMENT_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("id", Kind.STRING, "The comment's id; generated when absent.", max_length=MAX_ID),
        Field("comment", Kind.STRING, "The text of the comment (answered as text)."),
        Field("object_type", Kind.CHOICE, "What the comment is on.", choices=OBJECT_TYPES),
        Field("object_id", Kind.STRING, "The id of the object (activity).", max_length=MAX_ID),
        Field("parent_id", Kind.STRING, "The comment this one replies to.", max_length=MAX_ID),
        Field("user_id", Kind.STRING, "The author.", max_length=MAX_ID),
        Field(
            "attachments",
            Kind.ATTACHMENTS,
            "Files, images, videos and links.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "mentioned_user_ids",
            Kind.STRING_LIST,
            "Users mentioned in the comment.",
            max_items=MAX_MENTIONS,
            item_max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
        Field(
            "custom",
            Kind.OBJECT,
            "Free-form JSON object of your own data.",
            settable=True,
            unsettable=True,
        ),
    )
}
# What a partial update may set and unset: ``text`` is the stored name of ``comment``.
PARTIAL_SET = frozenset({"text", *(f.name for f in COMMENT_FIELDS.values() if f.settable)})
PARTIAL_UNSET = frozenset(f.name for f in COMMENT_FIELDS.values() if f.unsettable)


def validate_comment(
    data: Mapping[str, Any], *, new: bool = True, strict: bool = False
) -> list[FieldError]:
    """Every error in a comment request, or ``[]``. A ``new`` comment needs ``object_id``
    unless it replies (``parent_id``); an update (``new=False``) checks only what it carries.
    ``strict`` also refuses keys that are neither comment fields nor request options."""
    if not isinstance(data, Mapping):
        return [FieldError("", Reason.TYPE, "a comment must be an object", data)]
    needs_object = new and data.get("object_id") is None and data.get("parent_id") is None
    valid = not strict and not needs_object and all_accepted(COMMENT_FIELDS.values(), data)
    if valid and not check_encoded(data):  # a valid comment: decided without building errors
        return []
    errors: list[FieldError] = []
    for name, f in COMMENT_FIELDS.items():
        value = data.get(name)
        if value is not None:
            errors += f.errors(value, name)
    if needs_object:
        errors.append(
            FieldError("object_id", Reason.REQUIRED, "is required unless parent_id is given")
        )
    if strict:
        errors += [
            FieldError(str(k), Reason.UNKNOWN_FIELD, "is not a comment field", data[k])
            for k in data
            if k not in COMMENT_FIELDS and k not in REQUEST_OPTIONS
        ]
    return errors + (check_encoded(data) if not errors else [])


def validate_comment_partial(set_: Any, unset: Any) -> list[FieldError]:
    """Every error in a partial comment update: fields outside ``PARTIAL_SET`` /
    ``PARTIAL_UNSET`` and values of the wrong type; ``custom.x`` paths are allowed in both."""
    if set_ is not None and not isinstance(set_, Mapping):
        return [FieldError("set", Reason.TYPE, "must be an object", set_)]
    if unset is not None and not isinstance(unset, list):
        return [FieldError("unset", Reason.TYPE, "must be a list of field names", unset)]
    errors: list[FieldError] = []
    for key, value in (set_ or {}).items():
        if key.startswith("custom.") and len(key) > len("custom."):
            if key.count(".") > MAX_NESTING:
                errors.append(FieldError(f"set.{key}", Reason.TOO_DEEP, "is nested too deep"))
            continue
        if key not in PARTIAL_SET:
            message = f"cannot be set; settable: {', '.join(sorted(PARTIAL_SET))}, custom.*"
            errors.append(FieldError(f"set.{key}", Reason.NOT_SETTABLE, message, value))
        elif value is None:
            errors.append(FieldError(f"set.{key}", Reason.TYPE, "cannot be null; unset it"))
        else:
            f = COMMENT_FIELDS["comment" if key == "text" else key]
            errors += [
                FieldError(f"set.{e.field}", e.code, e.message, e.value)
                for e in f.errors(value, key)
            ]
    for i, key in enumerate(unset or ()):
        if not isinstance(key, str):
            errors.append(FieldError(f"unset[{i}]", Reason.TYPE, "must be a field name", key))
        elif not (key.startswith("custom.") and len(key) > len("custom.")) and (
            key not in PARTIAL_UNSET
        ):
            message = f"cannot be unset; unsettable: {', '.join(sorted(PARTIAL_UNSET))}, custom.*"
            errors.append(FieldError(f"unset.{key}", Reason.NOT_UNSETTABLE, message, key))
    if set_ and not errors:
        errors += [FieldError(f"set.{e.field}", e.code, e.message) for e in check_encoded(set_)]
    return errors
