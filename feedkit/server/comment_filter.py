"""QueryComments filters compiled to parameterised SQL over the comments table (aliased ``c``).

The fields and operators are the spec's (``QueryCommentsRequest.filter``): ``id``,
``user_id``, ``object_id``, ``object_type``, ``parent_id`` and ``status`` ($eq, $in);
``created_at`` ($eq, $gt, $gte, $lt, $lte); ``score``, ``upvote_count``, ``downvote_count``,
``confidence_score``, ``controversy_score`` and ``reply_count`` ($gt, $gte, $lt, $lte, and
$eq); ``comment_text`` ($q, a substring in any case); ``custom`` and ``custom.x`` ($eq, $in,
$gt, $gte, $lt, $lte, $exists, $contains); combined with ``$and`` and ``$or``.

    >>> compile_comment_filter({"object_id": "a1", "status": {"$in": ["active"]}})[0]
    "c.object_id = ? AND (CASE WHEN c.deleted_at IS NULL THEN 'active' ELSE 'deleted' END) IN (?)"
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from feedkit.server.query import _bad, _check_size, _list, _ops, _scalar, _time

__all__ = ["compile_comment_filter"]

_STRINGS = {
    "id": "c.id",
    "user_id": "c.user_id",
    "object_id": "c.object_id",
    "object_type": "c.object_type",
    "parent_id": "c.parent_id",
    "status": "(CASE WHEN c.deleted_at IS NULL THEN 'active' ELSE 'deleted' END)",
}
_NUMBERS = {
    "score": "c.score",
    "upvote_count": "c.upvote_count",
    "downvote_count": "c.downvote_count",
    "confidence_score": "c.confidence_score",
    "controversy_score": "c.controversy_score",
    "reply_count": "(SELECT count(*) FROM comments r WHERE r.parent_id = c.id "
    "AND r.deleted_at IS NULL)",
    "created_at": "c.created_at",
}
_COMPARE = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_FIELDS = ", ".join([*_STRINGS, *_NUMBERS, "comment_text", "custom"])


def compile_comment_filter(flt: Any, path: str = "filter") -> tuple[str, list[Any], bool]:
    """The SQL condition of a filter, its parameters, and whether it names ``status`` (a
    query leaves deleted comments out unless it does)."""
    if path == "filter":
        _check_size(flt, path)
    if not isinstance(flt, Mapping):
        raise _bad(path, "must be an object")
    sql: list[str] = []
    params: list[Any] = []
    status = False
    for key, value in flt.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(where, "needs a non-empty list of filters")
            parts = []
            for i, sub in enumerate(value):
                part, more, named = compile_comment_filter(sub, f"{where}[{i}]")
                parts.append(f"({part})")
                params += more
                status = status or named
            sql.append("(" + f" {key[1:].upper()} ".join(parts) + ")")
        elif key in _STRINGS:
            status = status or key == "status"
            for op, v in _ops(where, value, ("$eq", "$in")):
                if op == "$eq":
                    sql.append(f"{_STRINGS[key]} = ?")
                    params.append(_scalar(where, v))
                else:
                    values = [_scalar(where, x) for x in _list(where, v)]
                    sql.append(f"{_STRINGS[key]} IN ({','.join('?' * len(values))})")
                    params += values
        elif key in _NUMBERS:
            for op, v in _ops(where, value, tuple(_COMPARE)):
                sql.append(f"{_NUMBERS[key]} {_COMPARE[op]} ?")
                params.append(_time(where, v) if key == "created_at" else _number(where, v))
        elif key == "comment_text":
            for _, v in _ops(where, value, ("$q",)):
                sql.append("instr(lower(json_extract(c.doc, '$.text')), lower(?)) > 0")
                params.append(str(_scalar(where, v)))
        elif key == "custom" or key.startswith("custom."):
            part, more = _custom(where, key, value)
            sql.append(part)
            params += more
        else:
            raise _bad(where, f"is not a filterable field; filter on {_FIELDS}")
    return " AND ".join(sql) or "1", params, status


def _number(where: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(where, "needs a number")
    return _scalar(where, value)


def _custom(where: str, key: str, value: Any) -> tuple[str, list[Any]]:
    """Conditions on ``custom`` (``{"$contains": {...}}``) or on ``custom.x`` paths."""
    parts = key.split(".")[1:]
    if any(not p or '"' in p for p in parts):
        raise _bad(where, "path segments must be plain keys")
    expr = "$.custom" + "".join(f'."{p}"' for p in parts)
    allowed = ("$eq", "$in", "$gt", "$gte", "$lt", "$lte", "$exists", "$contains")
    sql: list[str] = []
    params: list[Any] = []
    for op, v in _ops(where, value, allowed):
        if op == "$exists":
            sql.append(f"json_type(c.doc, ?) IS {'NOT ' if v else ''}NULL")
            params.append(expr)
        elif op == "$in":
            values = [_scalar(where, x) for x in _list(where, v)]
            sql.append(f"json_extract(c.doc, ?) IN ({','.join('?' * len(values))})")
            params += [expr, *values]
        elif op == "$contains" and not isinstance(v, Mapping):
            for item in v if isinstance(v, list) else [v]:
                sql.append("EXISTS (SELECT 1 FROM json_each(c.doc, ?) WHERE value = ?)")
                params += [expr, _scalar(where, item)]
        elif op in ("$contains", "$eq") and isinstance(v, (dict, list)):
            if isinstance(v, Mapping) and any(not k or '"' in k for k in v):
                raise _bad(where, "keys must be plain keys")
            pairs = [(f'{expr}."{k}"', x) for k, x in v.items()] if isinstance(v, Mapping) and (
                op == "$contains" or not parts) else [(expr, v)]  # fmt: skip
            for sub, x in pairs:
                if isinstance(x, (dict, list)):
                    sql.append("json_extract(c.doc, ?) = json(?)")
                    params += [sub, orjson.dumps(x).decode()]
                else:
                    sql.append("json_extract(c.doc, ?) = ?")
                    params += [sub, _scalar(where, x)]
        elif isinstance(v, (dict, list)):
            raise _bad(where, f"{op} needs a scalar")
        else:
            sql.append(f"json_extract(c.doc, ?) {_COMPARE[op]} ?")
            params += [expr, _scalar(where, v)]
    return " AND ".join(sql) or "1", params
