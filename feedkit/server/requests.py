"""Reading and checking request bodies: the helpers every resource module of the server shares.

Each raises :class:`~feedkit.server.problems.Problem` naming the member that is wrong.
"""

from __future__ import annotations

import base64
from typing import Any

from feedkit.schema import MAX_BATCH, MAX_ID, validate_limit
from feedkit.server.problems import Problem

__all__ = [
    "body_list",
    "body_object",
    "checked_id",
    "offset_cursor",
    "offset_token",
    "page_cursor",
    "page_limit",
    "string_filter",
]


def body_object(body: Any, name: str = "body") -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Problem.invalid({name: "must be a JSON object"})
    return body


def body_list(body: dict[str, Any], key: str) -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list):
        raise Problem.invalid({key: "is required: a list"})
    if not 1 <= len(items) <= MAX_BATCH:
        raise Problem.invalid({key: f"has {len(items)} items; send 1 to {MAX_BATCH}"})
    return items


def page_limit(body: dict[str, Any], default: int) -> int:
    limit = body.get("limit", default)
    errors = validate_limit(limit)
    if errors:
        raise Problem.from_field_errors(errors)
    return int(limit) or default


def page_cursor(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise Problem.invalid({name: "must be a string cursor"})
    return value or None


def checked_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise Problem.invalid({name: f"must be a non-empty string of at most {MAX_ID} chars"})
    return value


def offset_token(kind: str, offset: int) -> str:
    """An opaque cursor of this server's for a query paged by offset."""
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def offset_cursor(kind: str, token: Any, name: str = "next") -> int:
    """The offset an :func:`offset_token` of ``kind`` holds, or 0 where there is none."""
    if not token:
        return 0
    try:
        found, _, number = base64.urlsafe_b64decode(str(token)).decode().partition(":")
        if found != kind or not number.isdigit():
            raise ValueError
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise Problem.invalid({name: "is not a cursor this server gave"}) from None


def string_filter(
    conditions: Any, columns: dict[str, str], name: str = "filter"
) -> tuple[str, list[Any]]:
    """A filter of ``{field: value | {"$eq": value} | {"$in": [values]}}`` on string fields,
    as SQL over ``columns`` (field -> SQL expression), and its parameters."""
    if not isinstance(conditions, dict):
        raise Problem.invalid({name: "must be an object"})
    parts, params = [], []
    for key, value in conditions.items():
        if key not in columns:
            raise Problem.invalid({f"{name}.{key}": f"filter on {', '.join(columns)}"})
        ops = value if isinstance(value, dict) else {"$eq": value}
        for op, operand in ops.items():
            if op == "$eq" and isinstance(operand, str):
                parts.append(f"{columns[key]} = ?")
                params.append(operand)
            elif op == "$in" and isinstance(operand, list) and operand:
                if not all(isinstance(x, str) for x in operand):
                    raise Problem.invalid({f"{name}.{key}.$in": "must be a list of strings"})
                parts.append(f"{columns[key]} IN ({','.join('?' * len(operand))})")
                params += operand
            else:
                raise Problem.invalid({f"{name}.{key}": f"{op} of a string is not supported"})
    return " AND ".join(parts) or "1", params


def sort_order(sort: Any, fields: dict[str, str], tiebreak: str) -> str:
    """An SQL ORDER BY of a request's ``sort`` (a list of ``{field, direction}``, direction -1
    for descending, the default, and 1 for ascending) over ``fields`` (field -> SQL); the
    newest first where none is given, ``tiebreak`` last."""
    if sort is None:
        sort = []
    if not isinstance(sort, list):
        raise Problem.invalid({"sort": "must be a list of {field, direction}"})
    terms = []
    for i, item in enumerate(sort):
        field = item.get("field") if isinstance(item, dict) else None
        if field not in fields:
            raise Problem.invalid({f"sort[{i}].field": f"sort on {', '.join(fields)}"})
        direction = item.get("direction", -1)
        if direction not in (-1, 1):
            raise Problem.invalid({f"sort[{i}].direction": "must be 1 or -1"})
        terms.append(f"{fields[field]} {'DESC' if direction == -1 else 'ASC'}")
    return ", ".join([*(terms or [f"{next(iter(fields.values()))} DESC"]), tiebreak])
