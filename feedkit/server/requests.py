"""Reading and checking request bodies: the helpers every resource module of the server shares.

Each raises :class:`~feedkit.server.problems.Problem` naming the member that is wrong.
"""

from __future__ import annotations

from typing import Any

from feedkit.schema import MAX_BATCH, MAX_ID, validate_limit
from feedkit.server.problems import Problem

__all__ = ["body_list", "body_object", "checked_id", "page_cursor", "page_limit"]


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
