"""Activity queries: filters compiled to parameterised SQL, sorting, and keyset cursors.

A filter is the protocol's JSON (``{"user_id": "alice", "created_at": {"$gte": ...}}``, with
``$and``/``$or``); every value travels as a bound parameter, never as SQL text. Pages are
keyset pages: a cursor holds the sort values of the last row served, so concurrent inserts
and deletes never make a page repeat or skip a row that existed before the read began.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from feedkit.schema import MAX_TIME_NS, MIN_TIME_NS, OUT_OF_TIME, parse_time
from feedkit.server.problems import Problem
from feedkit.server.store import FEED_KEY, FILTER_TAG_KEY, INTEREST_TAG_KEY, SELECT_ACTIVITY

SORT_COLUMNS = {"created_at": "created_at", "popularity": "popularity"}
_COLUMN_FIELDS = {
    "id": "a.id",
    "activity_type": "a.type",
    "type": "a.type",
    "user_id": "a.user_id",
    "visibility": "a.visibility",
}
_TIME_FIELDS = {
    "created_at": "a.created_at",
    "updated_at": "a.updated_at",
    "expires_at": "a.expires_at",
}
_TAG_FIELDS = {"filter_tags": FILTER_TAG_KEY, "interest_tags": INTEREST_TAG_KEY}
_COMPARE = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_PATH_PART = re.compile(r"^[^\"\\.\[\]]+$")
# Bounds that keep a filter inside what SQLite compiles: its parser stack overflows near 100
# nested parentheses, an expression tree holds 1,000 levels, a compound SELECT 500 terms.
MAX_FILTER_LEVELS = 10  # $and / $or inside one another
MAX_FILTER_TERMS = 500  # fields, operators and $contains items, at every level
MAX_DRIVE_KEYS = 200  # more feeds or tags than this are read with one EXISTS, not a UNION


@dataclass
class Compiled:
    sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    # activity_keys keys of which every result carries at least one (a feed, or tags), from
    # the filter's top level: a page can be read from those index ranges in order.
    drive_keys: list[str] | None = None
    # The top level has an equality on id or user_id: their own indexes are better.
    selective: bool = False


def _bad(path: str, message: str) -> Problem:
    return Problem.invalid({path: message}, f"invalid filter: {path}: {message}")


def _check_size(flt: Any, path: str) -> None:
    """Refuse a filter nested or sized past the bounds above, before compiling any of it."""
    terms, stack = 0, [(flt, 0)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, Mapping):
            continue
        for key, value in node.items():
            terms += 1
            if key in ("$and", "$or") and isinstance(value, list):
                if level >= MAX_FILTER_LEVELS:
                    raise _bad(path, f"nests $and/$or more than {MAX_FILTER_LEVELS} levels deep")
                stack += [(v, level + 1) for v in value]
            elif isinstance(value, Mapping):
                terms += len(value)
                contains = value.get("$contains")
                terms += len(contains) if isinstance(contains, (list, Mapping)) else 0
        if terms > MAX_FILTER_TERMS:
            raise _bad(path, f"has more than {MAX_FILTER_TERMS} conditions")


def _ops(path: str, value: Any, allowed: Sequence[str]) -> list[tuple[str, Any]]:
    """The (operator, operand) pairs of a filter value; a bare value means ``$eq``."""
    if isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
        pairs = list(value.items())
    else:
        pairs = [("$eq", value)]
    for op, _ in pairs:
        if op not in allowed:
            raise _bad(
                path, f"operator {op} is not supported here; use one of {', '.join(allowed)}"
            )
    return pairs


def _list(path: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _bad(path, "$in needs a non-empty list")
    return value


def _scalar(path: str, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        raise _bad(path, "needs a string, number or boolean")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)  # SQLite reads such a JSON number as a REAL too
    return value


def _time(path: str, value: Any) -> int:
    try:
        ns = parse_time(value)
    except ValueError as exc:
        raise _bad(path, str(exc.args[0])) from None
    if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        raise _bad(path, OUT_OF_TIME)
    return ns


def _json_path(path: str, root: str, parts: Sequence[str]) -> str:
    for part in parts:
        if not _PATH_PART.match(part):
            raise _bad(path, f"path segment {part!r} is not a plain key")
    return "$." + ".".join([root, *(f'"{p}"' for p in parts)])


def _key_exists(keys: Sequence[str]) -> tuple[str, list[Any]]:
    marks = ",".join("?" * len(keys))
    return (
        f"EXISTS (SELECT 1 FROM activity_keys ak2 WHERE ak2.k IN ({marks}) "
        "AND ak2.created_at = a.created_at AND ak2.rid = a.rid)",
        list(keys),
    )


def _json_compare(expr: str, path: str, op: str, value: Any) -> tuple[str, list[Any]]:
    if op == "$exists":
        return (f"json_type(a.doc, ?) IS {'NOT ' if value else ''}NULL", [expr])
    if op == "$in":
        values = [_scalar(path, v) for v in _list(path, value)]
        return (f"json_extract(a.doc, ?) IN ({','.join('?' * len(values))})", [expr, *values])
    if op == "$contains":
        if isinstance(value, Mapping):
            sub = [
                _json_compare(f'{expr}."{k}"', f"{path}.{k}", "$eq", v) for k, v in value.items()
            ]
            return (" AND ".join(s for s, _ in sub) or "1", [p for _, ps in sub for p in ps])
        items = value if isinstance(value, list) else [value]
        parts = ["EXISTS (SELECT 1 FROM json_each(a.doc, ?) WHERE value = ?)" for _ in items]
        params: list[Any] = []
        for item in items:
            params += [expr, _scalar(path, item)]
        return (" AND ".join(parts) or "1", params)
    if isinstance(value, (dict, list)):
        if op != "$eq":
            raise _bad(path, f"{op} needs a scalar")
        return ("json_extract(a.doc, ?) = json(?)", [expr, orjson.dumps(value).decode()])
    return (f"json_extract(a.doc, ?) {_COMPARE[op]} ?", [expr, _scalar(path, value)])


def compile_filter(flt: Any, out: Compiled, *, top: bool = True, path: str = "filter") -> None:
    """Append the SQL conditions of ``flt`` (ANDed) to ``out``."""
    if not isinstance(flt, Mapping):
        raise _bad(path, "must be an object")
    if path == "filter":
        _check_size(flt, path)
    for key, value in flt.items():
        where = f"{path}.{key}"
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _bad(where, "needs a non-empty list of filters")
            parts = []
            for i, sub in enumerate(value):
                inner = Compiled()
                compile_filter(sub, inner, top=False, path=f"{where}[{i}]")
                parts.append("(" + (" AND ".join(inner.sql) or "1") + ")")
                out.params += inner.params
            out.sql.append("(" + f" {key[1:].upper()} ".join(parts) + ")")
        elif key in _COLUMN_FIELDS:
            col = _COLUMN_FIELDS[key]
            out.selective = out.selective or (top and key in ("id", "user_id"))
            for op, v in _ops(where, value, ("$eq", "$in")):
                if op == "$eq":
                    out.sql.append(f"{col} = ?")
                    out.params.append(_scalar(where, v))
                else:
                    vals = [_scalar(where, x) for x in _list(where, v)]
                    out.sql.append(f"{col} IN ({','.join('?' * len(vals))})")
                    out.params += vals
        elif key in _TIME_FIELDS or key == "popularity":
            col = _TIME_FIELDS.get(key, "a.popularity")
            allowed: tuple[str, ...] = ("$eq", "$gt", "$gte", "$lt", "$lte", "$exists")
            for op, v in _ops(where, value, allowed):
                if op == "$exists":
                    out.sql.append(f"{col} IS {'NOT ' if v else ''}NULL")
                    continue
                operand = _time(where, v) if key in _TIME_FIELDS else _scalar(where, v)
                out.sql.append(f"{col} {_COMPARE[op]} ?")
                out.params.append(operand)
        elif key == "feed":
            for op, v in _ops(where, value, ("$eq", "$in")):
                feeds = [_scalar(where, v)] if op == "$eq" else _list(where, v)
                keys = [FEED_KEY + str(f) for f in feeds]
                if top and out.drive_keys is None:
                    out.drive_keys = keys
                else:
                    sql, params = _key_exists(keys)
                    out.sql.append(sql)
                    out.params += params
        elif key in _TAG_FIELDS:
            prefix = _TAG_FIELDS[key]
            for op, v in _ops(where, value, ("$contains", "$in", "$eq")):
                if op == "$eq" and isinstance(v, list):
                    out.sql.append("json_extract(a.doc, ?) = json(?)")
                    out.params += [f"$.{key}", orjson.dumps(v).decode()]
                    continue
                tags = v if isinstance(v, list) else [v]
                if not tags:
                    raise _bad(where, "needs at least one tag")
                if op == "$in":
                    keys = [prefix + str(_scalar(where, t)) for t in tags]
                    if top and out.drive_keys is None:
                        out.drive_keys = keys
                    else:
                        sql, params = _key_exists(keys)
                        out.sql.append(sql)
                        out.params += params
                    continue
                for tag in tags:  # $contains / $eq with a scalar: every tag present
                    k = prefix + str(_scalar(where, tag))
                    if top and out.drive_keys is None:
                        out.drive_keys = [k]
                    else:
                        sql, params = _key_exists([k])
                        out.sql.append(sql)
                        out.params += params
        elif (
            key == "custom"
            or key.startswith("custom.")
            or key == "search_data"
            or key.startswith("search_data.")
        ):
            root, _, rest = key.partition(".")
            parts = rest.split(".") if rest else []
            expr = _json_path(where, root, parts)
            allowed = (
                "$eq",
                "$in",
                "$gt",
                "$gte",
                "$lt",
                "$lte",
                "$exists",
                "$contains",
                "$path_exists",
            )
            for op, v in _ops(where, value, allowed):
                if op == "$path_exists":
                    sub = _json_path(where, root, [*parts, *str(v).split(".")])
                    out.sql.append("json_type(a.doc, ?) IS NOT NULL")
                    out.params.append(sub)
                    continue
                if not parts and op == "$eq" and isinstance(v, Mapping):
                    op = "$contains"
                sql, params = _json_compare(expr, where, op, v)
                out.sql.append(sql)
                out.params += params
        elif key == "text":
            for op, v in _ops(where, value, ("$eq", "$q", "$autocomplete")):
                text = str(_scalar(where, v))
                if op == "$eq":
                    out.sql.append("json_extract(a.doc, '$.text') = ?")
                    out.params.append(text)
                elif op == "$q":
                    out.sql.append("instr(lower(json_extract(a.doc, '$.text')), lower(?)) > 0")
                    out.params.append(text)
                else:
                    out.sql.append(
                        "(lower(json_extract(a.doc, '$.text')) LIKE lower(?) "
                        "ESCAPE '\\' OR lower(json_extract(a.doc, '$.text')) LIKE "
                        "lower(?) ESCAPE '\\')"
                    )
                    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                    out.params += [escaped + "%", "% " + escaped + "%"]
        else:
            raise _bad(
                where,
                "is not a filterable field; filter on activity_type, feed, id, "
                "user_id, created_at, popularity, expires_at, filter_tags, "
                "interest_tags, custom, search_data or text",
            )


@dataclass(frozen=True)
class Sort:
    keys: tuple[tuple[str, int], ...]  # (column, direction) ending with ("rid", d)

    @classmethod
    def parse(cls, sort: Any) -> Sort:
        keys: list[tuple[str, int]] = []
        for i, item in enumerate(sort or []):
            where = f"sort[{i}]"
            if not isinstance(item, Mapping) or item.get("field") not in SORT_COLUMNS:
                raise Problem.invalid(
                    {where: "sort on created_at or popularity"},
                    f"invalid {where}: sort on created_at or popularity",
                )
            direction = item.get("direction", -1)
            if direction not in (1, -1):
                raise Problem.invalid(
                    {where: "direction must be 1 or -1"},
                    f"invalid {where}: direction must be 1 or -1",
                )
            keys.append((SORT_COLUMNS[item["field"]], direction))
        if not keys or keys[-1][0] != "created_at":
            keys.append(("created_at", keys[-1][1] if keys else -1))
        keys.append(("rid", keys[-1][1]))
        return cls(tuple(dict.fromkeys(keys)))

    @property
    def drivable(self) -> bool:
        return [k for k, _ in self.keys] == ["created_at", "rid"]


def _cursor_sig(compiled: Compiled, sort: Sort, scope: str) -> str:
    text = orjson.dumps(
        [compiled.sql, [str(p) for p in compiled.params], compiled.drive_keys, sort.keys, scope]
    )
    return hashlib.sha256(text).hexdigest()[:16]


def encode_cursor(values: Sequence[Any], sig: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": list(values), "s": sig})).decode()


def decode_cursor(name: str, cursor: str, sig: str, width: int) -> list[Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        values = data["v"]
        ok = data["s"] == sig and isinstance(values, list) and len(values) == width
        # The signature is no secret: a forged cursor may carry anything, but sort values
        # are int64s (created_at, popularity, rid).
        ok = ok and all(type(v) is int and -(2**63) <= v < 2**63 for v in values)
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise Problem.invalid(
            {name: "is not a cursor issued for this query"},
            f"invalid {name} cursor: not issued by this server for this "
            "query; start from the first page",
        )
    return list(values)


def _keyset(
    cols: Sequence[str], dirs: Sequence[int], values: Sequence[Any], forward: bool
) -> tuple[str, list[Any]]:
    """Rows strictly after ``values`` in the order (reversed when not ``forward``)."""
    if len(set(dirs)) == 1:
        # One direction: a row-value comparison, which SQLite answers with an index range
        # (the OR form below makes it scan the index from the start: deep pages get slow).
        after = (dirs[0] == 1) == forward
        marks = ", ".join("?" * len(cols))
        return f"(({', '.join(cols)}) {'>' if after else '<'} ({marks}))", list(values)
    # Mixed directions: the OR form, behind a bound on the first column that lets the
    # planner seek instead of scanning from the start.
    lead = (dirs[0] == 1) == forward
    ors, params = [], [values[0]]
    for i in range(len(cols)):
        eq = [f"{cols[j]} = ?" for j in range(i)]
        after = (dirs[i] == 1) == forward
        ors.append("(" + " AND ".join([*eq, f"{cols[i]} {'>' if after else '<'} ?"]) + ")")
        params += [*values[:i], values[i]]
    bound = f"{cols[0]} {'>=' if lead else '<='} ?"
    return "(" + bound + " AND (" + " OR ".join(ors) + "))", params


@dataclass
class PageRequest:
    limit: int
    next: str | None
    prev: str | None


def run_page(
    db: Any,
    compiled: Compiled,
    sort: Sort,
    page: PageRequest,
    base_sql: list[str],
    base_params: list[Any],
    scope: str,
) -> tuple[list[Any], str | None, str | None]:
    """Rows of one page (``SELECT_ACTIVITY`` rows), and the next and prev cursors.

    With drive keys and a created_at sort, each key's index range is read in order, at most
    one page of it, and the ranges are merged (an activity in two of them counts once): the
    cost follows the page size and the number of keys, not the size of the store.
    """
    sig = _cursor_sig(compiled, sort, scope)
    keys = compiled.drive_keys
    drive = bool(keys) and len(keys or ()) <= MAX_DRIVE_KEYS and sort.drivable
    drive = drive and not compiled.selective
    names = [c for c, _ in sort.keys]
    dirs = [d for _, d in sort.keys]
    cols = [(f"ak.{c}" if drive else f"a.{c}") for c in names]
    where = [*base_sql, *compiled.sql]
    params = [*base_params, *compiled.params]
    if keys and not drive:
        sql, ps = _key_exists(keys)
        where.append(sql)
        params += ps
    forward = page.prev is None
    cursor = page.next if forward else page.prev
    if cursor is not None:
        values = decode_cursor("next" if forward else "prev", cursor, sig, len(names))
        sql, ps = _keyset(cols, dirs, values, forward)
        # First: of two bounds on the sort column (the cursor, and a filter's such as
        # created_at < t) SQLite seeks on the first one written and checks the other row by
        # row, so a cursor written last made every page of a filtered range skip the pages
        # before it.
        where.insert(0, sql)
        params[:0] = ps
    directions = ["ASC" if (d == 1) == forward else "DESC" for d in dirs]
    order = ", ".join(f"{c} {d}" for c, d in zip(cols, directions, strict=True))
    extra = ", ".join(cols)
    limit = page.limit + 1
    condition = " AND ".join(where) or "1"
    if drive and keys:
        branch = (
            f"SELECT {SELECT_ACTIVITY}, {extra} FROM activity_keys ak "
            f"JOIN activities a ON a.rid = ak.rid WHERE ak.k = ? AND {condition} "
            f"ORDER BY {order} LIMIT ?"
        )
        if len(keys) == 1:
            sql, args = branch, [keys[0], *params, limit]
        else:
            first = len(SELECT_ACTIVITY.split(",")) + 1  # 1-based position of the sort values
            outer = ", ".join(f"{first + i} {d}" for i, d in enumerate(directions))
            sql = (
                " UNION ".join(f"SELECT * FROM ({branch})" for _ in keys)
                + f" ORDER BY {outer} LIMIT ?"
            )
            args = [x for k in keys for x in (k, *params, limit)] + [limit]
    else:
        sql = (
            f"SELECT {SELECT_ACTIVITY}, {extra} FROM activities a "
            f"WHERE {condition} ORDER BY {order} LIMIT ?"
        )
        args = [*params, limit]
    rows = list(db.execute(sql, args))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not forward:
        rows.reverse()
    width = len(names)
    nxt = prv = None
    if rows:
        first_row, last_row = rows[0][-width:], rows[-1][-width:]
        if more if forward else cursor is not None:
            nxt = encode_cursor(last_row, sig)
        if cursor is not None if forward else more:
            prv = encode_cursor(first_row, sig)
    return [r[:-width] for r in rows], nxt, prv
