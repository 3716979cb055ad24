"""One declaration of fields for every resource: :class:`Field` (its :class:`Kind`, limits
and what partial updates may do), the :class:`Reason` codes and :class:`FieldError` values a
check returns, the limits every resource shares, and the checks of one value by its kind.

The resources declare their fields with these: activities in :mod:`feedkit.schema.activity`,
users in :mod:`feedkit.schema.user`, comments, reactions, bookmarks and pins, feed groups and
views in the modules named for them.

    >>> teams = Field("teams", Kind.STRING_LIST, "Teams.", max_items=2)
    >>> [(e.field, e.code.value) for e in teams.errors(["a", "b", 7])]
    [('teams', 'too_many'), ('teams[2]', 'type')]
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import orjson

MAX_ID = 255
MAX_BATCH = 100  # items of one batch request
MAX_PAGE = 100  # activities of one page, at most
DEFAULT_PAGE = 25  # activities of one page when a request asks for none
DEFAULT_CONCURRENCY = 4  # requests an import keeps in flight
# Bytes of one request body, and of one activity's JSON within it: feedkit serve refuses a
# larger body with 413 and a larger activity by its index; the client checks both first, so
# one huge row is a row error and never fails the request its neighbours ride in.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_ACTIVITY_BYTES = 1024 * 1024
# Levels of JSON nesting a request may carry, and segments a dotted ``custom.`` path may have.
# orjson writes at most 255 levels; an answer nests a stored object a few levels deeper than
# it arrived, and a path and the value set at it stack: 100 + 100 + a few stays well inside.
MAX_NESTING = 100
MAX_ACTIVITY_DEPTH = MAX_NESTING - 2  # an activity sits two levels down in a batch's body
# Times travel as int64 nanoseconds since the epoch (SQLite INTEGER, the SDK's int).
MIN_TIME_NS, MAX_TIME_NS = -(2**63), 2**63 - 1
OUT_OF_TIME = "is outside the times int64 nanoseconds hold (1677-09-21 to 2262-04-11)"
LOCATION_BOUNDS = {"lat": 90.0, "lng": 180.0}  # each within [-bound, bound] degrees
_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Kind(StrEnum):
    """The value shapes a field can take."""

    STRING = "string"
    STRING_LIST = "string_list"
    CHOICE = "choice"
    OBJECT = "object"
    LOCATION = "location"
    TIME = "time"
    ATTACHMENTS = "attachments"
    BOOL = "bool"
    LIST = "list"  # a list of any JSON values
    STRING_MAP = "string_map"  # an object whose values are strings


class Reason(StrEnum):
    """Why a value was refused. Tests and programs branch on these; people read the message."""

    REQUIRED = "required"
    TYPE = "type"
    TOO_LONG = "too_long"
    EMPTY = "empty"
    TOO_FEW = "too_few"
    TOO_MANY = "too_many"
    CHOICE = "choice"
    RANGE = "range"
    FEED_FORMAT = "feed_format"
    TIMEZONE = "timezone"
    TIME_FORMAT = "time_format"
    DEPENDENCY = "dependency"
    UNKNOWN_FIELD = "unknown_field"
    NOT_SETTABLE = "not_settable"
    NOT_UNSETTABLE = "not_unsettable"
    TOO_DEEP = "too_deep"
    TOO_LARGE = "too_large"
    ENCODING = "encoding"
    # Reasons a source row cannot even be read, a row another row supersedes, and a row the
    # server would not take.
    FORMAT = "format"
    MALFORMED_ROW = "malformed_row"
    DUPLICATE_ID = "duplicate_id"
    SEND_FAILED = "send_failed"
    # Reasons a row's references cannot be kept: what it names is neither in the migration
    # nor at the destination, or replies that are each other's parents.
    UNKNOWN_REFERENCE = "unknown_reference"
    REPLY_CYCLE = "reply_cycle"


@dataclass(frozen=True)
class Field:
    """One field of a resource (an activity, a user, a reaction, a feed group, ...): its shape,
    its limits, and what partial updates may do to it. Every resource declares its fields
    with this one class, so the client, the server, the converters and the forms read the
    same declaration."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    item_max_length: int | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    settable: bool = False
    unsettable: bool = False
    members: tuple[Field, ...] = ()  # of an object with a declared shape: each member's field
    feed_id: bool = False  # the value (a list's every item) is a feed id "group:id"

    def errors(self, value: Any, path: str | None = None) -> list[FieldError]:
        """Errors of one present, non-null value of this field, at ``path`` (its name)."""
        return _check_value(self, path or self.name, value)

    @cached_property
    def accepts(self) -> Callable[[Any], bool]:
        """Whether a present, non-null value of this field, at its own name, has no error:
        ``not self.errors(value)``, decided without building any (the common case of a
        valid value, several times faster for strings, lists of strings and choices)."""
        return _accepts(self)


@dataclass(frozen=True)
class FieldError:
    """A refused value: where (``field``, a dotted path), why (``code``) and a message."""

    field: str
    code: Reason
    message: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


ATTACHMENT_FIELDS: tuple[Field, ...] = (
    Field("type", Kind.STRING, "image, video, file, url, ..."),
    Field("asset_url", Kind.STRING, "URL of a video or file."),
    Field("image_url", Kind.STRING, "URL of an image."),
    Field("thumb_url", Kind.STRING, "URL of a thumbnail."),
    Field("title", Kind.STRING, "A title."),
    Field("text", Kind.STRING, "A description."),
    Field("custom", Kind.OBJECT, "Free-form JSON object.", default=None),
)
ATTACHMENT_FIELD_NAMES = frozenset(f.name for f in ATTACHMENT_FIELDS)

# Whitespace as Python's str.isspace() sees it, spelled out so that Python's re and Arrow's
# RE2 (whose \s is ASCII only) refuse exactly the same feed ids.
_SPACE_RANGES = ((0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                 (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                 (0x3000, 0x3000))  # fmt: skip


def _space_class(fmt: str) -> str:
    return "".join(fmt.format(a) if a == b else fmt.format(a) + "-" + fmt.format(b)
                   for a, b in _SPACE_RANGES)  # fmt: skip


FEED_ID = re.compile(r"^[A-Za-z0-9_\-]+:[^:" + _space_class("\\U{:08x}") + r"]+\Z")
FEED_ID_RE2 = r"^[A-Za-z0-9_\-]+:[^:" + _space_class("\\x{{{:x}}}") + "]+$"
_ISO_TZ = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def parse_time(value: Any) -> int:
    """Nanoseconds since the epoch for a timezone-aware time.

    Accepts an aware :class:`datetime` (or pandas Timestamp), an ISO 8601 / RFC 3339 string
    with an offset, or an integer of nanoseconds (what responses carry). Raises ``ValueError``
    with a :class:`Reason` value as its second argument.
    """
    if isinstance(value, bool):
        raise ValueError("must be a time, not a boolean", Reason.TYPE)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be timezone-aware (add tzinfo, e.g. UTC)", Reason.TIMEZONE)
        ns = getattr(value, "value", None)  # pandas.Timestamp keeps nanoseconds
        if isinstance(ns, int):
            return ns
        return (value - _EPOCH) // timedelta(microseconds=1) * 1000
    if isinstance(value, str):
        text = value.strip()
        frac = re.search(r"\.(\d+)", text)
        try:
            parsed = datetime.fromisoformat(re.sub(r"\.\d+", "", text).replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO 8601 time; write e.g. 2030-01-01T00:00:00Z",
                Reason.TIME_FORMAT,
            ) from None
        if parsed.tzinfo is None or not _ISO_TZ.search(text):
            raise ValueError(
                f"{value!r} has no timezone offset; write e.g. 2030-01-01T00:00:00Z",
                Reason.TIMEZONE,
            )
        ns = (parsed - _EPOCH) // timedelta(seconds=1) * 1_000_000_000
        if frac:
            ns += int(frac.group(1)[:9].ljust(9, "0"))
        return ns
    raise ValueError(f"must be a time, not {type(value).__name__}", Reason.TYPE)


def format_time(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, the inverse of :func:`parse_time` for strings."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=_UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{rest:09d}Z" if rest else f"{stamp}Z"


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _check_string(f: Field, path: str, value: Any) -> list[FieldError]:
    if not isinstance(value, str):
        return [FieldError(path, Reason.TYPE, f"must be a string, not {type_name(value)}", value)]
    errors = []
    if f.max_length is not None and len(value) > f.max_length:
        errors.append(
            FieldError(
                path,
                Reason.TOO_LONG,
                f"is {len(value)} characters; at most {f.max_length} allowed",
                value,
            )
        )
    if f.name in ("id", "type", "user_id", "parent_id") and path == f.name and not value:
        errors.append(FieldError(path, Reason.EMPTY, "must not be empty", value))
    elif f.feed_id and not FEED_ID.match(value):
        message = f"{value!r} is not a feed id of the form 'group:id'"
        errors.append(FieldError(path, Reason.FEED_FORMAT, message, value))
    return errors


def _check_string_list(f: Field, path: str, value: Any) -> list[FieldError]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return [
            FieldError(
                path, Reason.TYPE, f"must be a list of strings, not {type_name(value)}", value
            )
        ]
    errors = []
    if f.min_items is not None and len(value) < f.min_items:
        errors.append(
            FieldError(path, Reason.TOO_FEW, f"needs at least {f.min_items} item(s)", value)
        )
    if f.max_items is not None and len(value) > f.max_items:
        errors.append(
            FieldError(
                path,
                Reason.TOO_MANY,
                f"has {len(value)} items; at most {f.max_items} allowed",
                value,
            )
        )
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, str):
            errors.append(
                FieldError(where, Reason.TYPE, f"must be a string, not {type_name(item)}", item)
            )
        elif f.feed_id and not FEED_ID.match(item):
            errors.append(
                FieldError(
                    where,
                    Reason.FEED_FORMAT,
                    f"{item!r} is not a feed id of the form 'group:id'",
                    item,
                )
            )
        elif f.item_max_length is not None and len(item) > f.item_max_length:
            errors.append(
                FieldError(
                    where,
                    Reason.TOO_LONG,
                    f"is {len(item)} characters; at most {f.item_max_length} allowed",
                    item,
                )
            )
    return errors


def _accepts(f: Field) -> Callable[[Any], bool]:
    """:attr:`Field.accepts`: the checks of :func:`_check_string` and
    :func:`_check_string_list` (and choices, booleans) as one verdict; other kinds ask
    :meth:`Field.errors`."""
    limit, item_limit, feed = f.max_length, f.item_max_length, f.feed_id
    least, most = f.min_items, f.max_items
    if f.kind is Kind.STRING:
        nonempty = f.name in ("id", "type", "user_id", "parent_id")
        return lambda v: isinstance(v, str) and (limit is None or len(v) <= limit) and not (
            (nonempty and not v) or (feed and not FEED_ID.match(v)))  # fmt: skip
    if f.kind is Kind.STRING_LIST:

        def strings(v: Any) -> bool:
            if not isinstance(v, (list, tuple)):
                return False
            if (least is not None and len(v) < least) or (most is not None and len(v) > most):
                return False
            if not all(isinstance(item, str) for item in v):
                return False
            if feed:
                return all(FEED_ID.match(item) for item in v)
            return item_limit is None or all(len(item) <= item_limit for item in v)

        return strings
    if f.kind is Kind.CHOICE:
        choices = f.choices
        return lambda v: v in choices
    if f.kind is Kind.BOOL:
        return lambda v: isinstance(v, bool)
    if f.kind is Kind.OBJECT:
        members = [(m.name, m.required, m.accepts) for m in f.members]

        def an_object(v: Any) -> bool:
            if not (v.__class__ is dict or isinstance(v, Mapping)):
                return False
            if not all(k.__class__ is str or isinstance(k, str) for k in v):
                return False
            for name, required, accepted in members:
                inner = v.get(name)
                if required if inner is None else not accepted(inner):
                    return False
            return True

        return an_object
    if f.kind is Kind.ATTACHMENTS:
        parts = [(af.name, af.accepts) for af in ATTACHMENT_FIELDS]

        def attachments(v: Any) -> bool:
            if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
                return False
            for item in v:
                if not (item.__class__ is dict or isinstance(item, Mapping)):
                    return False
                for name, accepted in parts:
                    inner = item.get(name)
                    if inner is not None and not accepted(inner):
                        return False
            return True

        return attachments
    if f.kind is Kind.LOCATION:
        bounds = tuple(LOCATION_BOUNDS.items())

        def a_location(v: Any) -> bool:
            if not (v.__class__ is dict or isinstance(v, Mapping)):
                return False
            for key, bound in bounds:
                x = v.get(key)
                if x is None or x.__class__ is bool or not isinstance(x, (int, float)):
                    return False
                if not (math.isfinite(x) and -bound <= x <= bound):
                    return False
            return True

        return a_location
    return lambda v: not _check_value(f, f.name, v)


def _check_location(path: str, value: Any) -> list[FieldError]:
    if not isinstance(value, Mapping):
        return [
            FieldError(
                path, Reason.TYPE, f"must be an object {{lat, lng}}, not {type_name(value)}", value
            )
        ]
    errors = []
    for key, bound in LOCATION_BOUNDS.items():
        where = f"{path}.{key}"
        v = value.get(key)
        if v is None:
            errors.append(FieldError(where, Reason.REQUIRED, "is required", v))
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            errors.append(FieldError(where, Reason.TYPE, "must be a finite number", v))
        elif not -bound <= v <= bound:
            errors.append(
                FieldError(
                    where, Reason.RANGE, f"is {v}; must be within [-{bound:g}, {bound:g}]", v
                )
            )
    return errors


def _check_attachments(path: str, value: Any) -> list[FieldError]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return [
            FieldError(
                path, Reason.TYPE, f"must be a list of objects, not {type_name(value)}", value
            )
        ]
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            errors.append(
                FieldError(where, Reason.TYPE, f"must be an object, not {type_name(item)}", item)
            )
            continue
        for af in ATTACHMENT_FIELDS:
            if af.name in item and item[af.name] is not None:
                errors += _check_value(af, f"{where}.{af.name}", item[af.name])
    return errors


def _check_value(f: Field, path: str, value: Any) -> list[FieldError]:
    """Errors for one present, non-null value of field ``f``."""
    if f.kind is Kind.STRING:
        return _check_string(f, path, value)
    if f.kind is Kind.STRING_LIST:
        return _check_string_list(f, path, value)
    if f.kind is Kind.CHOICE:
        if value not in f.choices:
            return [
                FieldError(
                    path,
                    Reason.CHOICE,
                    f"is {value!r}; must be one of {', '.join(f.choices)}",
                    value,
                )
            ]
        return []
    if f.kind is Kind.OBJECT:
        if not isinstance(value, Mapping):
            return [
                FieldError(
                    path, Reason.TYPE, f"must be a JSON object, not {type_name(value)}", value
                )
            ]
        errors = [
            FieldError(f"{path}.{k}", Reason.TYPE, "keys must be strings", k)
            for k in value
            if not isinstance(k, str)
        ]
        for member in f.members:
            inner = value.get(member.name)
            where = f"{path}.{member.name}"
            if inner is None:
                if member.required:
                    errors.append(FieldError(where, Reason.REQUIRED, "is required", inner))
            else:
                errors += member.errors(inner, where)
        return errors
    if f.kind is Kind.LOCATION:
        return _check_location(path, value)
    if f.kind is Kind.TIME:
        try:
            ns = parse_time(value)
        except ValueError as exc:
            return [FieldError(path, exc.args[1], f"{exc.args[0]}", value)]
        if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
            return [FieldError(path, Reason.RANGE, OUT_OF_TIME, value)]
        return []
    if f.kind is Kind.ATTACHMENTS:
        return _check_attachments(path, value)
    if f.kind is Kind.BOOL:
        if not isinstance(value, bool):
            return [FieldError(path, Reason.TYPE, f"must be true or false, not "
                               f"{type_name(value)}", value)]  # fmt: skip
        return []
    if f.kind is Kind.LIST:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            return [FieldError(path, Reason.TYPE, f"must be a list, not {type_name(value)}",
                               value)]  # fmt: skip
        if f.max_items is not None and len(value) > f.max_items:
            message = f"has {len(value)} items; at most {f.max_items} allowed"
            return [FieldError(path, Reason.TOO_MANY, message, value)]
        return []
    if f.kind is Kind.STRING_MAP:
        errors = _check_value(replace(f, kind=Kind.OBJECT), path, value)
        if errors or not isinstance(value, Mapping):
            return errors
        return [FieldError(f"{path}.{k}", Reason.TYPE, f"must be a string, not {type_name(v)}", v)
                for k, v in value.items() if not isinstance(v, str)]  # fmt: skip
    raise AssertionError(f.kind)  # pragma: no cover


def json_depth(value: Any, limit: int) -> int:
    """Levels of nesting of a parsed JSON value (1 for a flat object), counted a level at a
    time without recursion and no further than ``limit + 1``."""
    level, depth = [value], 0
    while level and depth <= limit:
        depth += 1
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, Mapping) else node
            # (scalars first: a plain type test, where the Mapping test is an abstract one)
            below += [c for c in children if not isinstance(c, _SCALARS) and
                      isinstance(c, (Mapping, list, tuple))]  # fmt: skip
        level = below
    return depth


_SCALARS = (str, int, float, type(None))


_LENIENT = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def all_accepted(fields: Iterable[Field], data: Mapping[str, Any]) -> bool:
    """Whether every present, non-null value of these fields in ``data`` has no error (each
    field's :attr:`Field.accepts`): a valid request's verdict, without building errors."""
    for f in fields:
        value = data.get(f.name)
        if value is not None and not f.accepts(value):
            return False
    return True


def check_encoded(activity: Mapping[str, Any]) -> list[FieldError]:
    """What stops an activity from travelling as JSON: nesting past ``MAX_ACTIVITY_DEPTH``,
    a string that is not Unicode text (a lone surrogate), more than ``MAX_ACTIVITY_BYTES``."""
    try:  # the size is near enough: the client writes times and numpy scalars its own way
        encoded: bytes | None = orjson.dumps(activity, default=str, option=_LENIENT)
    except (orjson.JSONEncodeError, TypeError):  # (orjson also stops past 254 levels)
        encoded = None
    # No deeper than its objects and arrays are many: their brackets are counted in the
    # text (a bracket in a string only adds one), the levels walked only when that is more.
    if (
        encoded is None or encoded.count(b"{") + encoded.count(b"[") > MAX_ACTIVITY_DEPTH
    ) and json_depth(activity, MAX_ACTIVITY_DEPTH) > MAX_ACTIVITY_DEPTH:
        return [
            FieldError(
                _deepest_member(activity),
                Reason.TOO_DEEP,
                f"is nested more than {MAX_ACTIVITY_DEPTH} levels deep",
                None,
            )
        ]
    if encoded is not None:
        size = len(encoded)
    else:
        lone = [
            FieldError(path, Reason.ENCODING, "holds a lone surrogate, not Unicode text", text)
            for path, text in _unencodable(activity, "")
        ]
        if lone:
            return lone
        size = len(json.dumps(activity, default=str, ensure_ascii=False).encode())  # big ints
    if size > MAX_ACTIVITY_BYTES:
        return [
            FieldError(
                "activity", Reason.TOO_LARGE, f"is {size:,} bytes of JSON; at most "
                f"{MAX_ACTIVITY_BYTES:,} bytes per activity", None
            )
        ]  # fmt: skip
    return []


def _deepest_member(activity: Mapping[str, Any]) -> str:
    return max(
        (k for k, v in activity.items() if isinstance(v, (Mapping, list))),
        key=lambda k: json_depth(activity[k], MAX_ACTIVITY_DEPTH),
        default="",
    )


def _unencodable(value: Any, path: str) -> Iterable[tuple[str, str]]:
    """(path, text) of every string (key or value) that UTF-8 cannot encode."""
    stack = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                yield where, node.encode("utf-8", "backslashreplace").decode()
        elif isinstance(node, Mapping):
            for k, v in node.items():
                key = str(k).encode("utf-8", "backslashreplace").decode()
                sub = f"{where}.{key}" if where else key
                stack.append((k, sub) if isinstance(k, str) and not _encodes(k) else (v, sub))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_limit(limit: Any, field: str = "limit") -> list[FieldError]:
    """Errors in a page size: an integer from 0 to 100 (0 asks for the server's default)."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        return [
            FieldError(field, Reason.TYPE, f"must be an integer, not {type_name(limit)}", limit)
        ]
    if not 0 <= limit <= MAX_PAGE:
        message = f"is {limit}; must be from 0 to {MAX_PAGE}"
        return [FieldError(field, Reason.RANGE, message, limit)]
    return []
