"""The reaction fields, their JSON types and limits: one declaration, read by the client and
the server's reactions modules, for reactions on activities and on comments.

A reaction is one user's reaction of one ``type`` (like, love, ...) to one object; a user
holds at most one reaction of each type on an object, and with ``enforce_unique`` only one
at all. Queries filter on ``reaction_type``, ``user_id`` and ``created_at`` and sort on
``created_at``.

    >>> [e.field for e in validate_reaction({"type": "", "custom": [1]})]
    ['type', 'custom']
    >>> validate_reaction({"type": "like", "custom": {"emoji": "+1"}})
    []
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from feedkit.schema import (
    MAX_FEEDS,
    MAX_ID,
    Field,
    FieldError,
    Kind,
    Reason,
    check_encoded,
)

__all__ = [
    "COMMENT_REACTION_FILTER_FIELDS",
    "DOWNVOTE",
    "LATEST_REACTIONS",
    "MAX_REACTION_BYTES",
    "MAX_REACTION_TYPE",
    "OBJECT_TYPES",
    "REACTION_FIELDS",
    "REACTION_FILTER_FIELDS",
    "REACTION_SORT_FIELDS",
    "UPVOTE",
    "validate_reaction",
]

MAX_REACTION_TYPE = 255  # characters of a reaction type (the spec's maxLength)
# Bytes of a reaction's custom data as JSON (the hosted service documents 10 kB a reaction).
MAX_REACTION_BYTES = 10 * 1024
# Reactions an object answers as ``latest_reactions``, newest first (the v3 docs: "last 15").
LATEST_REACTIONS = 15
OBJECT_TYPES = ("activity", "comment")  # what a reaction can be on
REACTION_FILTER_FIELDS = ("reaction_type", "user_id", "created_at")
REACTION_SORT_FIELDS = ("created_at",)
# A query of one comment's reactions also filters on the comment and its activity (the spec's
# x-stream-filter-fields of QueryCommentReactionsRequest).
COMMENT_REACTION_FILTER_FIELDS = (*REACTION_FILTER_FIELDS, "activity_id", "comment_id")
# The reaction types that vote on a comment, giving it its upvote_count, downvote_count and
# scores. The spec names no types ("The type of reaction, eg upvote, like, ..."): feedkit's
# choice, the words its example uses.
UPVOTE = "upvote"
DOWNVOTE = "downvote"
_LENIENT = orjson.OPT_NON_STR_KEYS  # a client's custom may have keys JSON writes as strings

# The members of an AddReactionRequest (AddCommentReactionRequest has the same, less
# create_users) that feedkit reads; the notification and push flags are accepted and unused.
REACTION_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(
            "type",
            Kind.STRING,
            "The reaction's type, e.g. like.",
            max_length=MAX_REACTION_TYPE,
            settable=True,
            unsettable=True,
        ),
        Field("custom", Kind.OBJECT, "Any data of the reaction.", settable=True, unsettable=True),
        Field(
            "user_id",
            Kind.STRING,
            "The reacting user (server-side requests).",
            max_length=MAX_ID,
            settable=True,
            unsettable=True,
        ),
        Field(
            "enforce_unique",
            Kind.BOOL,
            "Replace the user's reactions of other types.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "create_users",
            Kind.BOOL,
            "Create the reacting user if it does not exist.",
            settable=True,
            unsettable=True,
        ),
        Field("skip_push", Kind.BOOL, "Send no push notification.", settable=True, unsettable=True),
        Field(
            "create_notification_activity",
            Kind.BOOL,
            "Add a notification activity.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "copy_custom_to_notification",
            Kind.BOOL,
            "Copy custom into the notification.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "target_feeds",
            Kind.STRING_LIST,
            "Feeds given an activity sharing the reacted one.",
            max_items=MAX_FEEDS,
            feed_id=True,
            settable=True,
            unsettable=True,
        ),
    )
}


def validate_reaction(data: Mapping[str, Any]) -> list[FieldError]:
    """Every error in an AddReactionRequest body (``type`` required and not empty), or ``[]``."""
    if not isinstance(data, Mapping):
        return [FieldError("", Reason.TYPE, "a reaction must be an object", data)]
    errors: list[FieldError] = []
    kind = data.get("type")
    if kind is None or kind == "":
        errors.append(FieldError("type", Reason.REQUIRED, "is required: a non-empty string", kind))
    for name, f in REACTION_FIELDS.items():
        value = data.get(name)
        if value is not None and not (name == "type" and value == ""):
            errors += f.errors(value)
    custom = data.get("custom")
    if not errors and isinstance(custom, dict):
        errors += [FieldError(f"custom.{e.field}".rstrip("."), e.code, e.message, e.value)
                   for e in check_encoded(custom) if e.code != Reason.TOO_LARGE]  # fmt: skip
        size = 0 if errors else len(orjson.dumps(custom, default=str, option=_LENIENT))
        if size > MAX_REACTION_BYTES:
            message = f"is {size:,} bytes of JSON; at most {MAX_REACTION_BYTES:,}"
            errors.append(FieldError("custom", Reason.TOO_LARGE, message, None))
    return errors
