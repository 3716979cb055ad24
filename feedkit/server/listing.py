"""List queries of the simple resources: a ``filter`` on columns, a ``sort``, offset cursors.

Feeds, follows, bookmarks, folders and pins are read by pages of a plain SQL query: the
request's ``filter`` becomes a WHERE clause (each field with the operators it takes), its
``sort`` an ORDER BY, and ``next``/``prev`` are opaque tokens of this server holding an offset.
(Activities page by keyset cursors instead: :mod:`feedkit.server.query`.)

    >>> conditions_sql({"user_id": {"$in": ["a", "b"]}}, {"user_id": ("$eq", "$in")}, {})
    ('user_id IN (?,?)', ['a', 'b'])
    >>> page_offset({"next": page_token("pins", 25)}, "pins")
    25
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from feedkit.schema import MAX_TIME_NS, MIN_TIME_NS, OUT_OF_TIME, parse_time
from feedkit.server.problems import Problem

__all__ = ["conditions_sql", "order_by", "page_offset", "page_token", "paged"]

TIME_FIELDS = ("created_at", "updated_at")
MAX_IN = 500  # values of one $in
_COMPARE = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_MAX_DIGITS = 18  # of a cursor's offset: SQLite binds int64s only


def conditions_sql(
    conditions: Any, fields: Mapping[str, tuple[str, ...]], columns: Mapping[str, str]
) -> tuple[str, list[Any]]:
    """A query's ``filter`` as SQL: each field (of ``fields``, with the operators it takes) a
    value (``$eq``) or ``{"$op": value}``; ids are strings, times RFC 3339 or nanoseconds;
    ``columns`` maps a field to its column where the names differ."""
    if conditions is None:
        return "1", []
    if not isinstance(conditions, dict):
        raise Problem.invalid({"filter": "must be an object"})
    parts: list[str] = []
    params: list[Any] = []
    for key, value in conditions.items():
        where = f"filter.{key}"
        if key not in fields:
            raise Problem.invalid({where: f"filter on {', '.join(fields)}"})
        column = columns.get(key, key)
        ops = value if isinstance(value, dict) and value else {"$eq": value}
        for op, operand in ops.items():
            if op not in fields[key]:
                raise Problem.invalid({where: f"{key} takes {', '.join(fields[key])}"})
            if op == "$exists":
                if not isinstance(operand, bool):
                    raise Problem.invalid({where: "$exists takes true or false"})
                parts.append(f"{column} {'!=' if operand else '='} ''")
            elif key in TIME_FIELDS:
                try:
                    ns = parse_time(operand)
                except ValueError as exc:
                    raise Problem.invalid({where: str(exc.args[0])}) from None
                if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
                    raise Problem.invalid({where: OUT_OF_TIME})
                params.append(ns)
                parts.append(f"{column} {_COMPARE[op]} ?")
            elif op == "$in":
                if not isinstance(operand, list) or not operand or len(operand) > MAX_IN:
                    raise Problem.invalid({where: f"$in takes a list of 1 to {MAX_IN} strings"})
                if not all(isinstance(x, str) for x in operand):
                    raise Problem.invalid({where: "$in takes strings"})
                parts.append(f"{column} IN ({','.join('?' * len(operand))})")
                params += operand
            elif not isinstance(operand, str):
                raise Problem.invalid({where: f"{op} takes a string"})
            elif op == "$contains":
                parts.append(f"instr(lower({column}), lower(?)) > 0")
                params.append(operand)
            else:
                parts.append(f"{column} = ?")
                params.append(operand)
    return " AND ".join(parts) or "1", params


def order_by(
    sort: Any, fields: Sequence[str], tiebreak: str, default: str = "created_at DESC"
) -> str:
    """A query's ``sort`` (``[{"field": ..., "direction": 1 or -1}]``, 1 when left out, as the
    spec's SortParamRequest says) as ORDER BY; ``default`` when there is none."""
    if sort is None or sort == []:
        return f"{default}, {tiebreak}"
    if not isinstance(sort, list):
        raise Problem.invalid({"sort": "must be a list of {field, direction}"})
    terms = []
    for i, item in enumerate(sort):
        if not isinstance(item, dict) or item.get("field") not in fields:
            raise Problem.invalid({f"sort[{i}].field": f"sort on {' or '.join(fields)}"})
        direction = item.get("direction", 1)
        if direction not in (1, -1) or isinstance(direction, bool):
            raise Problem.invalid({f"sort[{i}].direction": "must be 1 or -1"})
        terms.append(f"{item['field']} {'DESC' if direction == -1 else 'ASC'}")
    return ", ".join([*terms, tiebreak])


def page_token(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def page_offset(body: Mapping[str, Any], kind: str) -> int:
    """The offset a query's ``next`` or ``prev`` cursor holds (this server's own), or 0."""
    if body.get("next") and body.get("prev"):
        raise Problem.invalid({"prev": "send either next or prev, not both"})
    name = "next" if body.get("next") else "prev"
    token = body.get(name)
    if not token:
        return 0
    try:
        if not isinstance(token, str):
            raise ValueError
        found, _, number = base64.urlsafe_b64decode(token).decode().partition(":")
        if found != kind or not number.isdigit() or len(number) > _MAX_DIGITS:
            raise ValueError
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise Problem.invalid({name: "is not a cursor this server gave"}) from None


def paged(out: dict[str, Any], kind: str, offset: int, limit: int, more: bool) -> dict[str, Any]:
    """``out`` with the cursors of its page: ``next`` where more follow, ``prev`` past the
    first page."""
    if more:
        out["next"] = page_token(kind, offset + limit)
    if offset:
        out["prev"] = page_token(kind, max(0, offset - limit))
    return out
