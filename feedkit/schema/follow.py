"""The follow fields, their JSON types and limits: one declaration, read by the client, the
server's follows module and the converters.

A follow makes its ``source`` feed read its ``target`` feed (both feed ids "group:id"); it
keeps a ``push_preference``, a ``status`` (a server-side request may set it) and ``custom``.

    >>> [e.code.value for e in FOLLOW_FIELDS["source"].errors("nocolon")]
    ['feed_format']
"""

from __future__ import annotations

from feedkit.schema.fields import MAX_ID, Field, Kind

__all__ = ["FOLLOW_FIELDS", "FOLLOW_STATUSES", "PUSH_PREFERENCES"]

FOLLOW_STATUSES = ("accepted", "pending", "rejected")
PUSH_PREFERENCES = ("all", "none")

FOLLOW_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("source", Kind.STRING, "The following feed, 'group:id'.", required=True,
              max_length=2 * MAX_ID + 1, feed_id=True),
        Field("target", Kind.STRING, "The followed feed, 'group:id'.", required=True,
              max_length=2 * MAX_ID + 1, feed_id=True),
        Field("push_preference", Kind.CHOICE, "Push notifications of the target's activities.",
              choices=PUSH_PREFERENCES, settable=True),
        Field("status", Kind.CHOICE, "accepted, or a request pending or rejected (server-side).",
              choices=FOLLOW_STATUSES, settable=True),
        Field("custom", Kind.OBJECT, "Any data of the follow.", settable=True),
    )
}  # fmt: skip
