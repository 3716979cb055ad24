"""The activity fields, their types and limits: the one declaration of an activity.

The client validates before sending, the embedded server validates what it receives, and the
converters and forms label and check their inputs with the same definitions::

    >>> FIELDS["visibility_tag"].max_length
    32
    >>> [e.code.value for e in validate_activity({"type": "post", "feeds": ["nocolon"]})]
    ['feed_format']

Failures are :class:`~feedkit.schema.fields.FieldError` values carrying the field path, a
:class:`~feedkit.schema.fields.Reason` code and a message; :func:`validate_activity` returns all
of them at once rather than stopping at the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from feedkit.schema.fields import (
    MAX_ID,
    MAX_NESTING,
    Field,
    FieldError,
    Kind,
    Reason,
    check_encoded,
    type_name,
)

MAX_VISIBILITY_TAG = 32
MAX_FEEDS = 25
MAX_FILTER_TAGS = 50
MAX_MENTIONS = 25

VISIBILITIES = ("public", "private", "tag")
RESTRICT_REPLIES = ("everyone", "people_i_follow", "nobody")

ACTIVITY_FIELDS: tuple[Field, ...] = (
    Field(
        "id",
        Kind.STRING,
        "Activity id; generated when absent. Upserts match on it.",
        max_length=MAX_ID,
    ),
    Field(
        "type",
        Kind.STRING,
        "Activity type, e.g. post, video, like.",
        required=True,
        max_length=MAX_ID,
    ),
    Field(
        "feeds",
        Kind.STRING_LIST,
        "Feeds the activity is posted to, each 'group:id'.",
        required=True,
        min_items=1,
        max_items=MAX_FEEDS,
        settable=True,
        feed_id=True,
    ),
    Field("user_id", Kind.STRING, "The acting user.", max_length=MAX_ID),
    Field("text", Kind.STRING, "The activity text.", settable=True),
    Field(
        "attachments",
        Kind.ATTACHMENTS,
        "Files, images, videos and links.",
        default=(),
        settable=True,
        unsettable=True,
    ),
    Field(
        "custom",
        Kind.OBJECT,
        "Free-form JSON object of your own data.",
        default=None,
        settable=True,
        unsettable=True,
    ),
    Field(
        "visibility",
        Kind.CHOICE,
        "Who can see the activity.",
        choices=VISIBILITIES,
        default="public",
        settable=True,
    ),
    Field(
        "visibility_tag",
        Kind.STRING,
        "Required when visibility is 'tag'.",
        max_length=MAX_VISIBILITY_TAG,
        settable=True,
        unsettable=True,
    ),
    Field(
        "restrict_replies",
        Kind.CHOICE,
        "Who can reply.",
        choices=RESTRICT_REPLIES,
        default="everyone",
        settable=True,
    ),
    Field("location", Kind.LOCATION, "{lat, lng} in degrees.", settable=True, unsettable=True),
    Field(
        "expires_at",
        Kind.TIME,
        "When the activity expires (timezone-aware).",
        settable=True,
        unsettable=True,
    ),
    Field(
        "mentioned_user_ids",
        Kind.STRING_LIST,
        "Users mentioned in the activity.",
        max_items=MAX_MENTIONS,
        item_max_length=MAX_ID,
        default=(),
        settable=True,
        unsettable=True,
    ),
    Field(
        "parent_id", Kind.STRING, "The activity this one shares or replies to.", max_length=MAX_ID
    ),
    Field(
        "poll_id",
        Kind.STRING,
        "A poll attached to the activity.",
        max_length=MAX_ID,
        settable=True,
        unsettable=True,
    ),
    Field(
        "search_data",
        Kind.OBJECT,
        "Free-form JSON object indexed for search.",
        default=None,
        settable=True,
        unsettable=True,
    ),
    Field(
        "filter_tags",
        Kind.STRING_LIST,
        "Tags to filter on.",
        max_items=MAX_FILTER_TAGS,
        default=(),
        settable=True,
        unsettable=True,
    ),
    Field(
        "interest_tags",
        Kind.STRING_LIST,
        "Tags describing interests.",
        default=(),
        settable=True,
        unsettable=True,
    ),
)

FIELDS: dict[str, Field] = {f.name: f for f in ACTIVITY_FIELDS}

PARTIAL_SET_FIELDS = frozenset(f.name for f in ACTIVITY_FIELDS if f.settable)
PARTIAL_UNSET_FIELDS = frozenset(f.name for f in ACTIVITY_FIELDS if f.unsettable)

# Request options the protocol accepts beside the activity fields; they are not stored.
REQUEST_OPTIONS = frozenset(
    {
        "create_notification_activity",
        "copy_custom_to_notification",
        "skip_push",
        "skip_enrich_url",
        "collection_refs",
        "collections",
        "create_users",
        "enrich_own_fields",
        "force_moderation",
        "handle_mention_notifications",
        "run_activity_processors",
        "user",
    }
)


def _check_visibility_tag(data: Mapping[str, Any]) -> list[FieldError]:
    if data.get("visibility") == "tag" and not data.get("visibility_tag"):
        return [
            FieldError(
                "visibility_tag",
                Reason.DEPENDENCY,
                "is required when visibility is 'tag'",
                data.get("visibility_tag"),
            )
        ]
    return []


def _accepted(data: Mapping[str, Any], strict: bool) -> bool:
    """Whether :func:`validate_activity` (required fields as declared) finds no error,
    decided field by field without building any (each field's :attr:`Field.accepts`)."""
    for f in ACTIVITY_FIELDS:
        value = data.get(f.name)
        if value is None:
            if f.required:
                return False
        elif not f.accepts(value):
            return False
    if strict and not all(key in FIELDS or key in REQUEST_OPTIONS for key in data):
        return False
    return not _check_visibility_tag(data) and not check_encoded(data)


def validate_activity(
    data: Mapping[str, Any], *, strict: bool = True, require: Iterable[str] | None = None
) -> list[FieldError]:
    """Every error in an activity request, or ``[]``.

    ``strict`` refuses keys that are neither activity fields nor protocol request options
    (a typo such as ``txt`` is caught); the server is lenient, as the hosted service is.
    ``require`` overrides which fields must be present (a full update requires none).
    """
    if not isinstance(data, Mapping):
        return [
            FieldError(
                "", Reason.TYPE, f"an activity must be an object, not {type_name(data)}", data
            )
        ]
    if require is None and _accepted(data, strict):
        return []
    required = (
        set(require) if require is not None else {f.name for f in ACTIVITY_FIELDS if f.required}
    )
    errors: list[FieldError] = []
    for f in ACTIVITY_FIELDS:
        value = data.get(f.name)
        if value is None:
            if f.name in required:
                errors.append(FieldError(f.name, Reason.REQUIRED, "is required", None))
            continue
        errors += f.errors(value)
    errors += _check_visibility_tag(data)
    if not errors:
        errors += check_encoded(data)
    if strict:
        for key in data:
            if key not in FIELDS and key not in REQUEST_OPTIONS:
                errors.append(
                    FieldError(
                        str(key), Reason.UNKNOWN_FIELD, "is not an activity field", data[key]
                    )
                )
    return errors


def validate_partial(
    set_: Mapping[str, Any] | None, unset: Iterable[str] | None
) -> list[FieldError]:
    """Every error in a partial update: fields outside the allowed lists, and bad values.

    Dotted paths into ``custom`` (``custom.color``) are allowed in both ``set`` and ``unset``.
    """
    errors: list[FieldError] = []
    if set_ is not None and not isinstance(set_, Mapping):
        return [FieldError("set", Reason.TYPE, "must be an object", set_)]
    if unset is not None and (isinstance(unset, (str, bytes)) or not isinstance(unset, Iterable)):
        return [FieldError("unset", Reason.TYPE, "must be a list of field names", unset)]
    for key, value in (set_ or {}).items():
        if isinstance(key, str) and key.startswith("custom.") and len(key) > 7:
            if key.count(".") > MAX_NESTING:
                errors.append(
                    FieldError(
                        f"set.{key}",
                        Reason.TOO_DEEP,
                        f"a dotted path has at most {MAX_NESTING} segments",
                        key,
                    )
                )
            continue
        if key not in PARTIAL_SET_FIELDS:
            errors.append(
                FieldError(
                    f"set.{key}",
                    Reason.NOT_SETTABLE,
                    f"{key!r} cannot be set by a partial update; settable: "
                    f"{', '.join(sorted(PARTIAL_SET_FIELDS))}, custom.*",
                    value,
                )
            )
        elif value is None:
            errors.append(
                FieldError(
                    f"set.{key}", Reason.TYPE, "cannot be set to null; unset it instead", value
                )
            )
        else:
            errors += [
                FieldError(f"set.{e.field}", e.code, e.message, e.value)
                for e in FIELDS[key].errors(value, key)
            ]
    for i, key in enumerate(unset or ()):
        if not isinstance(key, str):  # a list or object here is unhashable: not a crash
            errors.append(FieldError(f"unset[{i}]", Reason.TYPE, "must be a field name", key))
            continue
        if key.startswith("custom.") and len(key) > 7:
            continue
        if key not in PARTIAL_UNSET_FIELDS:
            errors.append(
                FieldError(
                    f"unset.{key}",
                    Reason.NOT_UNSETTABLE,
                    f"{key!r} cannot be unset; unsettable: "
                    f"{', '.join(sorted(PARTIAL_UNSET_FIELDS))}, custom.*",
                    key,
                )
            )
    return errors


def apply_partial(
    activity: dict[str, Any], set_: Mapping[str, Any] | None, unset: Iterable[str] | None
) -> dict[str, Any]:
    """A copy of ``activity`` (request-side names) with a validated partial update applied."""
    out = dict(activity)
    custom = dict(out.get("custom") or {})
    for key, value in (set_ or {}).items():
        if key.startswith("custom."):
            _set_path(custom, key[7:].split("."), value)
        elif key == "custom":
            custom = dict(value)
        else:
            out[key] = value
    for key in unset or ():
        if key.startswith("custom."):
            _unset_path(custom, key[7:].split("."))
        elif key == "custom":
            custom = {}
        else:
            out.pop(key, None)
    out["custom"] = custom
    return out


def _set_path(obj: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
        nxt = dict(nxt)
        obj[part] = nxt
        obj = nxt
    obj[parts[-1]] = value


def _unset_path(obj: dict[str, Any], parts: list[str]) -> None:
    for part in parts[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            return
        nxt = dict(nxt)
        obj[part] = nxt
        obj = nxt
    obj.pop(parts[-1], None)
