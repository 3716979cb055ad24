"""The feed group and feed view fields, their JSON types and limits: one declaration, read by
the client, the server's feed_groups and feed_views modules and their answers.

A feed group is the template of its feeds (``user``, ``timeline``, ...): the visibility a new
feed starts at, the selectors, ranking and aggregation of a read, notification and story
settings. A feed view is a named read recipe (selectors, ranking, aggregation) any feed read
may name. Both are written whole: an update replaces every setting (one left out is cleared),
as the hosted service documents for feed groups.

    >>> [e.field for e in validate_feed_group({"id": "x", "default_visibility": "all"})]
    ['default_visibility']
    >>> [e.field for e in validate_feed_group({"id": "x", "activity_selectors": [{}]})]
    ['activity_selectors[0].type']
    >>> [e.field for e in validate_feed_view({"id": "v", "ranking": {"type": "recency"}})]
    ['ranking.type']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from feedkit.schema import MAX_ID, Field, FieldError, Kind, Reason, check_encoded, parse_time

__all__ = [
    "DEFAULT_FEED_GROUPS",
    "FEED_GROUP_FIELDS",
    "FEED_VIEW_FIELDS",
    "FEED_VISIBILITIES",
    "GROUP_ID",
    "validate_feed_group",
    "validate_feed_view",
]

# The spec's enums (FeedGroupResponse, ActivitySelectorConfig, RankingConfig, AggregationConfig).
FEED_VISIBILITIES = ("public", "visible", "followers", "members", "private")
DEFAULT_VISIBILITY = "visible"  # the docs: "if it's not set when creating the group"
SELECTOR_TYPES = ("popular", "proximity", "following", "current_feed", "query", "interest",
                  "follow_suggestion")  # fmt: skip
RANKING_TYPES = ("expression", "interest")
ACTIVITIES_SORTS = ("created_at_asc", "created_at_desc")
SCORE_STRATEGIES = ("sum", "max", "avg")
MAX_ACTIVITY_PROCESSORS = 10  # the spec's maxItems
MAX_SETTING = 1000  # characters of a role, a format, a score formula, a window

# A feed group id is the group part of a feed id ("user" of "user:ann").
GROUP_ID = re.compile(r"^[A-Za-z0-9_\-]+\Z")

FEED_VIEW_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("id", Kind.STRING, "The view's id.", max_length=MAX_ID, settable=False),
        Field(
            "activity_selectors",
            Kind.LIST,
            "Where the activities of a read come from.",
            settable=True,
            unsettable=True,
        ),
        Field(
            "aggregation",
            Kind.OBJECT,
            "How activities are grouped (format, sort, score).",
            settable=True,
            unsettable=True,
        ),
        Field(
            "ranking",
            Kind.OBJECT,
            "How activities are scored: type and score formula.",
            settable=True,
            unsettable=True,
        ),
    )
}
FEED_GROUP_FIELDS: dict[str, Field] = {
    **FEED_VIEW_FIELDS,
    **{
        f.name: f
        for f in (
            Field(
                "id", Kind.STRING, "The group's id, e.g. user.", max_length=MAX_ID, settable=False
            ),
            Field(
                "default_visibility",
                Kind.STRING,
                "The visibility a new feed starts at.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "default_follower_role",
                Kind.STRING,
                "The role new followers are given.",
                max_length=MAX_SETTING,
                settable=True,
                unsettable=True,
            ),
            Field(
                "activity_processors",
                Kind.LIST,
                "Processors run on each new activity.",
                max_items=MAX_ACTIVITY_PROCESSORS,
                settable=True,
                unsettable=True,
            ),
            Field(
                "activity_filter",
                Kind.OBJECT,
                "Activities left out of reads (the owner's).",
                settable=True,
                unsettable=True,
            ),
            Field(
                "activity_marks",
                Kind.OBJECT,
                "Read and seen tracking of content feeds.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "activity_processing",
                Kind.OBJECT,
                "Tags the AI processors may write.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "custom",
                Kind.OBJECT,
                "Any other data of the group.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "notification",
                Kind.OBJECT,
                "Notification feed settings: read, seen, dedupe.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "push_notification",
                Kind.OBJECT,
                "Whether and for what pushes are sent.",
                settable=True,
                unsettable=True,
            ),
            Field(
                "stories",
                Kind.OBJECT,
                "Story feed settings: track and skip watched.",
                settable=True,
                unsettable=True,
            ),
        )
    },
}

# The members of each settings object (the SDK's models), and the JSON type of each.
_OBJECT_MEMBERS: dict[str, dict[str, type]] = {
    "activity_filter": {"exclude_owner_activities": bool},
    "activity_marks": {"track_read": bool, "track_seen": bool},
    "activity_processing": {
        "send_allowed_tags_to_ai": bool,
        "allowed_tags": list,
        "blocked_tags": list,
    },
    "aggregation": {"activities_sort": str, "format": str, "score_strategy": str},
    "notification": {"deduplication_window": str, "track_read": bool, "track_seen": bool},
    "push_notification": {"enable_push": bool, "push_types": list},
    "ranking": {"type": str, "score": str, "defaults": dict, "functions": dict},
    "stories": {"skip_watched": bool, "track_watched": bool},
}
_ITEM_MEMBERS: dict[str, dict[str, type]] = {
    "activity_selectors": {
        "type": str,
        "cutoff_time": str,
        "cutoff_window": str,
        "min_popularity": int,
        "sort": list,
        "feed_groups": dict,
        "filter": dict,
        "params": dict,
    },
    "activity_processors": {"type": str, "min_text_length": int, "min_word_count": int},
}
# Members that must be one of a few values, and the members an object or item requires.
_CHOICES: dict[str, tuple[str, ...]] = {
    "default_visibility": FEED_VISIBILITIES,
    "ranking.type": RANKING_TYPES,
    "aggregation.activities_sort": ACTIVITIES_SORTS,
    "aggregation.score_strategy": SCORE_STRATEGIES,
    "activity_selectors.type": SELECTOR_TYPES,
}
_REQUIRED = {"ranking": ("type",), "activity_selectors": ("type",),
             "activity_processors": ("type",)}  # fmt: skip
_WHAT = {str: "a string", bool: "true or false", list: "a list", dict: "an object",
         int: "an integer"}  # fmt: skip

# The hosted service's built-in groups (its docs, "Intro & Defaults": user, timeline, foryou,
# notification, story, stories), with the settings the docs give them; a new store has them.
DEFAULT_FEED_GROUPS: dict[str, dict[str, Any]] = {
    "user": {"default_visibility": DEFAULT_VISIBILITY,
             "activity_selectors": [{"type": "current_feed"}]},
    "timeline": {"default_visibility": DEFAULT_VISIBILITY,
                 "activity_selectors": [{"type": "following"}]},
    "foryou": {"default_visibility": DEFAULT_VISIBILITY,
               "activity_selectors": [{"type": "following"}, {"type": "popular"}]},
    "notification": {"default_visibility": DEFAULT_VISIBILITY,
                     "aggregation": {"format": '{{ type }}-{{ time.strftime("%Y-%m-%d") }}'},
                     "notification": {"track_read": True, "track_seen": True}},
    "story": {"default_visibility": DEFAULT_VISIBILITY,
              "activity_selectors": [{"type": "current_feed"}],
              "stories": {"skip_watched": False}},
    "stories": {"default_visibility": DEFAULT_VISIBILITY,
                "activity_selectors": [{"type": "following"}],
                "aggregation": {"format": "{{ user_id }}"},
                "stories": {"skip_watched": False}},
}  # fmt: skip


def _typed(value: Any, kind: type, where: str) -> list[FieldError]:
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong:
        return [FieldError(where, Reason.TYPE, f"must be {_WHAT[kind]}", value)]
    if kind is list and not all(isinstance(x, (str, dict)) for x in value):
        return [FieldError(where, Reason.TYPE, "must hold strings or objects", value)]
    return []


def _members(obj: Any, members: dict[str, type], where: str, choices: str) -> list[FieldError]:
    """The errors of one settings object (or one selector or processor) at ``where``."""
    if not isinstance(obj, Mapping):
        return [FieldError(where, Reason.TYPE, "must be an object", obj)]
    errors: list[FieldError] = []
    for name in _REQUIRED.get(choices, ()):
        if not obj.get(name):
            errors.append(FieldError(f"{where}.{name}", Reason.REQUIRED, "is required", None))
    for name, kind in members.items():
        value = obj.get(name)
        if value is None:
            continue
        errors += _typed(value, kind, f"{where}.{name}")
        allowed = _CHOICES.get(f"{choices}.{name}")
        if allowed and isinstance(value, str) and value not in allowed:
            message = f"must be one of {', '.join(allowed)}"
            errors.append(FieldError(f"{where}.{name}", Reason.CHOICE, message, value))
        if isinstance(value, str) and len(value) > MAX_SETTING:
            message = f"is longer than {MAX_SETTING} characters"
            errors.append(FieldError(f"{where}.{name}", Reason.TOO_LONG, message, value))
    return errors


def _selector_errors(selector: Mapping[str, Any], where: str) -> list[FieldError]:
    """What the docs refuse in a selector beyond types: both cutoffs, a time without offset,
    a popularity below 0 (below 1 for ``popular``)."""
    errors: list[FieldError] = []
    if selector.get("cutoff_time") is not None and selector.get("cutoff_window") is not None:
        errors.append(FieldError(f"{where}.cutoff_window", Reason.DEPENDENCY,
                                 "cannot be used together with cutoff_time", None))  # fmt: skip
    if isinstance(selector.get("cutoff_time"), str):
        try:
            parse_time(selector["cutoff_time"])
        except ValueError as exc:
            errors.append(FieldError(f"{where}.cutoff_time", exc.args[1], exc.args[0], None))
    low = selector.get("min_popularity")
    least = 1 if selector.get("type") == "popular" else 0
    if isinstance(low, int) and not isinstance(low, bool) and low < least:
        errors.append(FieldError(f"{where}.min_popularity", Reason.RANGE,
                                 f"must be at least {least}", low))  # fmt: skip
    return errors


def _validate(data: Any, fields: dict[str, Field], *, require_id: bool) -> list[FieldError]:
    if not isinstance(data, Mapping):
        return [FieldError("", Reason.TYPE, "must be an object", data)]
    errors: list[FieldError] = []
    if require_id:
        ident = data.get("id")
        if not ident:
            errors.append(FieldError("id", Reason.REQUIRED, "is required", ident))
        elif isinstance(ident, str) and not GROUP_ID.match(ident):
            errors.append(FieldError("id", Reason.FEED_FORMAT,
                                     "may hold only letters, digits, _ and -", ident))  # fmt: skip
    for name, f in fields.items():
        value = data.get(name)
        if value is None or (name == "id" and not require_id):
            continue
        errors += f.errors(value)
        if name in _CHOICES and isinstance(value, str) and value not in _CHOICES[name]:
            message = f"must be one of {', '.join(_CHOICES[name])}"
            errors.append(FieldError(name, Reason.CHOICE, message, value))
        if name in _OBJECT_MEMBERS and isinstance(value, Mapping):
            errors += _members(value, _OBJECT_MEMBERS[name], name, name)
        if name in _ITEM_MEMBERS and isinstance(value, list):
            for i, item in enumerate(value):
                errors += _members(item, _ITEM_MEMBERS[name], f"{name}[{i}]", name)
                if name == "activity_selectors" and isinstance(item, Mapping):
                    errors += _selector_errors(item, f"{name}[{i}]")
    return errors + (check_encoded(data) if not errors else [])


def validate_feed_group(data: Any, *, require_id: bool = True) -> list[FieldError]:
    """Every error in a feed group's settings (CreateFeedGroupRequest; ``require_id`` False
    for the bodies of GetOrCreateFeedGroup and UpdateFeedGroup, whose id is in the path)."""
    return _validate(data, FEED_GROUP_FIELDS, require_id=require_id)


def validate_feed_view(data: Any, *, require_id: bool = True) -> list[FieldError]:
    """Every error in a feed view's settings (CreateFeedViewRequest and the others)."""
    return _validate(data, FEED_VIEW_FIELDS, require_id=require_id)


def stored_settings(data: Mapping[str, Any], fields: dict[str, Field]) -> dict[str, Any]:
    """The settings of a checked request as they are stored and answered: its declared
    members only (unknown ones dropped, as the hosted service ignores them), each selector's
    ``cutoff_time`` as nanoseconds (a response carries it as a timestamp)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = data.get(name)
        if value is None or name == "id":
            continue
        if name in _OBJECT_MEMBERS:
            value = {k: v for k, v in value.items() if k in _OBJECT_MEMBERS[name]}
        elif name in _ITEM_MEMBERS:
            value = [{k: v for k, v in item.items() if k in _ITEM_MEMBERS[name]}
                     for item in value]  # fmt: skip
            for item in value:
                if isinstance(item.get("cutoff_time"), str):
                    item["cutoff_time"] = parse_time(item["cutoff_time"])
        out[name] = value
    return out
