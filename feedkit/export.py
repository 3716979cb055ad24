"""Feeds and queries -> typed DataFrames and Parquet files, page by page.

``feed_to_dataframe(client, "user:alice")`` and ``query_to_dataframe(client, filter=...)``
follow the cursors through every page and return one row per activity with a stable,
Arrow-backed schema: the activity's fields (times as timezone-aware timestamps, lists as
lists, ``location.lat``/``location.lng``, attachments as a list of structs) and ``custom.*`` /
``search_data.*`` flattened with '.' (nested objects become dotted columns, types are kept).
``to_parquet`` streams to a file without holding the export in memory.
``Mapping.identity()`` reads such a table back, so export -> import -> export is the identity.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedkit.arrowjson import JSON_METADATA, is_json_field, json_value, rfc3339
from feedkit.client import Client
from feedkit.mapping import JSON_COLUMNS_ATTR
from feedkit.paging import iter_pages

__all__ = [
    "ACTIVITY_COLUMNS",
    "activities_to_table",
    "feed_to_dataframe",
    "iter_pages",
    "query_to_dataframe",
    "text_table",
    "to_csv",
    "to_jsonl",
    "to_parquet",
]

TS = pa.timestamp("ns", tz="UTC")
STRINGS = pa.list_(pa.string())
ATTACHMENT = pa.struct([
    ("type", pa.string()), ("asset_url", pa.string()), ("image_url", pa.string()),
    ("thumb_url", pa.string()), ("title", pa.string()), ("text", pa.string()),
    pa.field("custom", pa.string(), metadata=JSON_METADATA),
])  # fmt: skip
ACTIVITY_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()), ("type", pa.string()), ("user_id", pa.string()), ("feeds", STRINGS),
    ("text", pa.string()), ("created_at", TS), ("updated_at", TS), ("expires_at", TS),
    ("visibility", pa.string()), ("visibility_tag", pa.string()),
    ("restrict_replies", pa.string()), ("location.lat", pa.float64()),
    ("location.lng", pa.float64()), ("parent_id", pa.string()), ("poll_id", pa.string()),
    ("mentioned_user_ids", STRINGS), ("filter_tags", STRINGS), ("interest_tags", STRINGS),
    ("attachments", pa.list_(ATTACHMENT)), ("share_count", pa.int64()),
    ("popularity", pa.int64()),
)  # fmt: skip
_OBJECTS = ("custom", "search_data")


def _flatten(
    obj: Mapping[str, Any], prefix: str, out: dict[str, Any], whole: frozenset[str] = frozenset()
) -> None:
    """Nested objects to dotted keys; a path in ``whole`` keeps its value unflattened."""
    for key, value in obj.items():
        path = f"{prefix}.{key}"
        if isinstance(value, dict) and value and path not in whole:
            _flatten(value, path, out, whole)
        else:
            out[path] = value


def conflicts(keys: Iterable[str]) -> frozenset[str]:
    """Paths that are a value in some rows and an object in others (custom.a and
    custom.a.b): they stay whole, as JSON, so that the table folds back unambiguously."""
    ordered = sorted(set(keys))
    found: set[str] = set()
    for i, key in enumerate(ordered):
        nested = i + 1 < len(ordered) and ordered[i + 1].startswith(key + ".")
        if nested and not any(key.startswith(f + ".") for f in found):
            found.add(key)
    return frozenset(found)


def _fixed(activities: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    if name == "user_id":
        return [(a.get("user") or {}).get("id") for a in activities]
    if name == "mentioned_user_ids":
        return [[u["id"] for u in a.get("mentioned_users") or []] or None for a in activities]
    if name.startswith("location."):
        key = name[9:]
        return [(a.get("location") or {}).get(key) for a in activities]
    if name == "attachments":
        return [[_attachment(x) for x in a.get("attachments") or []] or None
                for a in activities]  # fmt: skip
    if name in ("feeds", "filter_tags", "interest_tags"):
        return [a.get(name) or None for a in activities]
    return [a.get(name) for a in activities]


def _attachment(x: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: x.get(k) for k in ("type", "asset_url", "image_url", "thumb_url", "title", "text")}
    out["custom"] = orjson.dumps(x["custom"]).decode() if x.get("custom") else None
    return out


def _column(values: list[Any]) -> tuple[pa.Array, bool]:
    """Values of one flattened key: typed when they agree, else JSON text (and True)."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool} or kinds <= {int} or kinds <= {float, int} or kinds <= {str}:
        if kinds == {float, int}:
            values = [float(v) if v is not None else None for v in values]
        try:
            return pa.array(values), False
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    if kinds <= {list} and all(_scalar_list(v) for v in values if v is not None):
        try:
            return pa.array(values), False
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    text = [None if v is None else orjson.dumps(v).decode() for v in values]
    return pa.array(text, pa.string()), True


def _scalar_list(value: list[Any]) -> bool:
    kinds = {type(v) for v in value}
    return len(kinds) <= 1 and not kinds & {dict, list, type(None)}


def activities_to_table(
    activities: Iterable[Mapping[str, Any]], whole: frozenset[str] = frozenset()
) -> pa.Table:
    """A table of activities as the server returns them (read-side names, ns times).

    ``whole`` names custom/search_data paths to keep unflattened (see :func:`conflicts`);
    conflicts within these activities are found and added to it.
    """
    items = activities if isinstance(activities, list) else list(activities)
    arrays = _fixed_arrays(items)
    fields = [pa.field(name, typ) for name, typ in ACTIVITY_COLUMNS]
    for root in _OBJECTS:
        typed = None if whole else _object_columns(items, root)
        if typed is not None:
            for key, column in typed:
                arrays.append(column)
                fields.append(pa.field(key, column.type))
            continue
        flat = _flat_rows(items, root, whole)
        found = conflicts(k for row in flat for k in row)
        if found:
            flat = _flat_rows(items, root, whole | found)
        keys = sorted({k for row in flat for k in row})
        for key in keys:
            column, as_json = _column([row.get(key) for row in flat])
            arrays.append(column)
            fields.append(pa.field(key, column.type, metadata=JSON_METADATA if as_json else None))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


_LEAVES = (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null())
# Items of a list column read as a typed list. Not floats: [1, 2.5] reads as list<double>
# but is JSON text value by value; nor null items, objects or lists.
_LIST_ITEMS = (pa.bool_(), pa.int64(), pa.string())


def _object_columns(
    items: Sequence[Mapping[str, Any]], root: str
) -> list[tuple[str, pa.Array]] | None:
    """``root``'s flattened columns, inferred by Arrow in C++, when that gives exactly what the
    value-by-value path gives: None (use that path) for anything it would write as JSON text
    or could read differently (mixed types, an empty object, a member that is an object in one
    row and null or absent in another, lists of floats, of objects or holding nulls)."""
    try:
        arr = pa.array([a.get(root) or {} for a in items])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return None
    out: list[tuple[str, pa.Array]] = []
    if not pa.types.is_struct(arr.type) or not _leaves(arr, root, out):
        return None
    names = [name for name, _ in out]
    # Dotted keys can meet nested objects ({"a.b": 1} beside {"a": {"b": ...}}): one column
    # reached two ways, or a path that is a value and an object; the value-by-value path
    # keeps those whole.
    if len(set(names)) != len(names) or conflicts(names):
        return None
    return sorted(out, key=lambda item: item[0])


def _leaves(arr: pa.StructArray, prefix: str, out: list[tuple[str, pa.Array]]) -> bool:
    """Collect the dotted leaf columns of a struct with no null rows; False if unsure."""
    for i, f in enumerate(arr.type):
        child, path, t = arr.field(i), f"{prefix}.{f.name}", f.type
        if pa.types.is_struct(t):
            if t.num_fields == 0 or child.null_count:
                return False
            present = np.zeros(len(child), bool)
            for k in range(t.num_fields):
                present |= child.field(k).is_valid().to_numpy(zero_copy_only=False)
            if not present.all() or not _leaves(child, path, out):
                return False  # a row whose members are all null may have been {}
        elif t in _LEAVES:
            out.append((path, child))
        elif pa.types.is_list(t) and t.value_type in _LIST_ITEMS:
            if child.values.null_count:
                return False
            out.append((path, child))
        else:
            return False
    return True


# What the fixed columns read from an answer's activity: Arrow takes these members out of the
# dicts in C++ (other members are not looked at).
_ID = pa.struct([("id", pa.string())])
_WIRE = pa.struct(
    [(name, pa.int64() if typ == TS else typ) for name, typ in ACTIVITY_COLUMNS
     if name not in ("user_id", "mentioned_user_ids", "location.lat", "location.lng",
                     "attachments")]
    + [("user", _ID), ("mentioned_users", pa.list_(_ID)),
       ("location", pa.struct([("lat", pa.float64()), ("lng", pa.float64())]))]
)  # fmt: skip


def _fixed_arrays(items: Sequence[Mapping[str, Any]]) -> list[pa.Array]:
    """The ``ACTIVITY_COLUMNS`` of ``items``: read by Arrow in one pass when every value has
    its expected type, else value by value (the same result, slower)."""
    arrays = _arrow_fixed(items)
    if arrays is None:
        arrays = [_typed(_fixed(items, name), typ) for name, typ in ACTIVITY_COLUMNS]
    return arrays


def _arrow_fixed(items: Sequence[Mapping[str, Any]]) -> list[pa.Array] | None:
    try:
        wire = pa.array(items, type=_WIRE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return None
    arrays = []
    for name, typ in ACTIVITY_COLUMNS:
        if name == "attachments":
            arr = pa.array(_fixed(items, name), typ)
        elif name == "user_id":
            arr = pc.struct_field(wire.field("user"), [0])
        elif name == "mentioned_user_ids":
            mentioned = wire.field("mentioned_users")
            arr = _empty_as_null(pa.ListArray.from_arrays(
                mentioned.offsets, pc.struct_field(mentioned.values, [0]),
                mask=mentioned.is_null()))  # fmt: skip
        elif name.startswith("location."):
            arr = pc.struct_field(wire.field("location"), [0 if name.endswith("lat") else 1])
        else:
            arr = wire.field(name)
            if typ == TS:
                arr = arr.cast(TS)
            elif typ == STRINGS:
                arr = _empty_as_null(arr)
        arrays.append(arr)
    return arrays


def _typed(values: list[Any], typ: pa.DataType) -> pa.Array:
    return pa.array(values, pa.int64()).cast(typ) if typ == TS else pa.array(values, typ)


def _empty_as_null(lists: pa.ListArray) -> pa.Array:
    """Empty lists as nulls (an activity's empty list is an unset field)."""
    lengths = pc.list_value_length(lists)
    empty = pc.fill_null(pc.equal(lengths, 0), True)
    if not pc.any(empty).as_py():
        return lists
    return pa.ListArray.from_arrays(
        pc.subtract(lists.offsets, lists.offsets[0]),
        lists.values.slice(lists.offsets[0].as_py()),
        mask=empty,
    )


def _flat_rows(
    items: Sequence[Mapping[str, Any]], root: str, whole: frozenset[str]
) -> list[dict[str, Any]]:
    rows = []
    for a in items:
        row: dict[str, Any] = {}
        _flatten(a.get(root) or {}, root, row, whole)
        rows.append(row)
    return rows


@contextmanager
def gc_settled() -> Iterator[Callable[[], None]]:
    """A ``settle()`` to call after each page while an export's activities pile up.

    CPython's cyclic collector would otherwise walk every retained dict again on each full
    collection, which costs more than decoding them (2.2 s vs 0.5 s for 100k activities).
    ``settle()`` collects the young generations (a page's cyclic garbage, such as the HTTP
    answer, is freed at once) and freezes what survives, so it is never walked again; the
    frozen objects are handed back to the collector when the export ends.
    """

    def settle() -> None:
        gc.collect(1)
        gc.freeze()

    try:
        yield settle
    finally:
        gc.unfreeze()


def _frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    # pandas keeps no field metadata: name the JSON text columns for Mapping.identity.
    frame.attrs[JSON_COLUMNS_ATTR] = [f.name for f in table.schema if is_json_field(f)]
    return frame


def _collect(
    pages: Iterator[list[dict[str, Any]]], limit: int | None, progress: bool, what: str
) -> pd.DataFrame:
    from tqdm.auto import tqdm

    items: list[dict[str, Any]] = []
    with (
        gc_settled() as settle,
        tqdm(unit=" activities", desc=f"export {what}", disable=not progress) as bar,
    ):
        for page in pages:
            take = page if limit is None else page[: max(0, limit - len(items))]
            items += take
            settle()
            bar.update(len(take))
            if limit is not None and len(items) >= limit:
                break
        return _frame(activities_to_table(items))


def feed_to_dataframe(
    client: Client,
    feed: str,
    *,
    limit: int | None = None,
    page_size: int = 100,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """Every activity of ``feed`` (e.g. "user:alice"), newest first, as a DataFrame."""
    pages = iter_pages(client, feed=feed, page_size=page_size, **options)
    return _collect(pages, limit, progress, feed)


def query_to_dataframe(
    client: Client,
    filter: Mapping[str, Any] | None = None,
    *,
    sort: list[dict[str, Any]] | None = None,
    limit: int | None = None,
    page_size: int = 100,
    progress: bool = True,
    concurrency: int | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Every activity a query matches, following the cursors, as a DataFrame.

    A query sorted by ``created_at`` (the default) is read in time ranges on ``concurrency``
    threads (see :mod:`feedkit.paging`): the same rows in the same order, sooner when round
    trips are long. The default is 4 for a server on another machine (the hosted service) and
    1 for the embedded server or one on this machine: there the server's work and ours share the
    same cores, and concurrent pages only cost it more (measured: 20-35% slower on 2 cores).
    With a ``limit`` the pages are read one after another.
    """
    if concurrency is None:
        concurrency = default_concurrency(client)
    pages = iter_pages(
        client,
        filter=filter,
        sort=sort,
        page_size=page_size,
        concurrency=1 if limit is not None else concurrency,
        **options,
    )
    return _collect(pages, limit, progress, "query")


def default_concurrency(client: Client) -> int:
    """Concurrent page reads worth having from ``client``'s server (see query_to_dataframe)."""
    if client.db_path is not None:
        return 1
    host = urlsplit(client.base_url).hostname or ""
    local = host == "localhost" or host.endswith(".localhost")
    with contextlib.suppress(ValueError):
        local = local or ipaddress.ip_address(host).is_loopback
    return 1 if local else 4


def to_parquet(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    page_size: int = 100,
    rows_per_group: int = 10_000,
    progress: bool = True,
    **options: Any,
) -> int:
    """Stream a feed or a query to a Parquet file; returns the number of activities.

    Pages are spooled to a temporary file first, so the file's schema covers every custom
    key of every page while memory holds one row group at a time.
    """
    from tqdm.auto import tqdm

    keys: dict[str, pa.Field] = {}
    whole: frozenset[str] = frozenset()
    count = 0
    with tempfile.TemporaryFile() as spool:
        with tqdm(unit=" activities", desc="export", disable=not progress) as bar:
            for page in iter_pages(client, feed=feed, filter=filter, sort=sort,
                                   page_size=page_size, **options):  # fmt: skip
                if not page:
                    continue
                for f in activities_to_table(page, whole).schema:
                    keys[f.name] = _widen(keys.get(f.name), f)
                found = conflicts(keys)
                if found - whole:
                    whole = whole | found
                    keys = {k: f for k, f in keys.items()
                            if not any(k.startswith(c + ".") for c in whole)}  # fmt: skip
                    for c in found:
                        keys[c] = pa.field(c, pa.string(), metadata=JSON_METADATA)
                for a in page:
                    spool.write(orjson.dumps(a) + b"\n")
                count += len(page)
                bar.update(len(page))
        spool.seek(0)
        schema = _schema(keys)
        with pq.ParquetWriter(path, schema) as writer:
            chunk: list[dict[str, Any]] = []
            for line in spool:
                chunk.append(orjson.loads(line))
                if len(chunk) >= rows_per_group:
                    writer.write_table(_conform(activities_to_table(chunk, whole), schema))
                    chunk = []
            if chunk or not count:
                writer.write_table(_conform(activities_to_table(chunk, whole), schema))
    return count


def _widen(old: pa.Field | None, new: pa.Field) -> pa.Field:
    if old is None or old.type == new.type or pa.types.is_null(new.type):
        return old if old is not None and pa.types.is_null(new.type) else new
    if pa.types.is_null(old.type):
        return new
    numeric = {pa.int64(), pa.float64()}
    if old.type in numeric and new.type in numeric:
        return pa.field(old.name, pa.float64())
    return pa.field(old.name, pa.string(), metadata=JSON_METADATA)


def _schema(keys: dict[str, pa.Field]) -> pa.Schema:
    fixed = [pa.field(n, t) for n, t in ACTIVITY_COLUMNS]
    extra = [keys[k] for k in sorted(keys) if k.split(".")[0] in _OBJECTS]
    extra = [f if not pa.types.is_null(f.type) else pa.field(f.name, pa.string()) for f in extra]
    return pa.schema(fixed + extra)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A page table in the file's schema: missing columns null, types widened."""
    arrays = []
    for f in schema:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if col.type == f.type:
            arrays.append(col)
        elif f.metadata == JSON_METADATA and not (
            f.name in table.schema.names and table.schema.field(f.name).metadata
        ):
            arrays.append(pa.array([None if v is None else orjson.dumps(v).decode()
                                    for v in col.to_pylist()], pa.string()))  # fmt: skip
        else:
            arrays.append(col.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def text_table(table: pa.Table) -> tuple[pa.Table, dict[str, str]]:
    """A table for text formats (CSV): nested values as JSON text, times as RFC 3339, plus
    the ``[columns]`` types that read it back exactly."""
    arrays, types = [], {}
    for f, col in zip(table.schema, table.columns, strict=True):
        arr = col.combine_chunks()
        t = f.type
        if pa.types.is_list(t) or pa.types.is_struct(t) or is_json_field(f):
            arrays.append(json_value(arr) if not is_json_field(f) else arr)
            types[f.name] = "json"
        elif pa.types.is_timestamp(t):
            arrays.append(rfc3339(arr))
        else:
            arrays.append(arr)
            kind = {pa.int64(): "int", pa.float64(): "float", pa.bool_(): "bool"}.get(t)
            if kind and f.name.split(".")[0] in _OBJECTS:
                types[f.name] = kind
    return pa.Table.from_arrays(arrays, names=table.column_names), types


def to_csv(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    progress: bool = True,
    **options: Any,
) -> tuple[int, str]:
    """Write a feed or a query to CSV, and beside it the mapping that imports it back
    (``OUT.mapping.toml``); returns the number of activities and the mapping's path."""
    import pyarrow.csv as pcsv

    from feedkit.mapping import Mapping as ActivityMapping

    pages = iter_pages(client, feed=feed, filter=filter, sort=sort, **options)
    frame = _collect(pages, None, progress, feed or "query")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    text, types = text_table(table)
    pcsv.write_csv(text, path)
    identity = ActivityMapping.identity(table)
    mapping = replace(identity, column_types={**identity.column_types, **types})
    mapping_path = f"{os.fspath(path).rsplit('.', 1)[0]}.mapping.toml"
    with open(mapping_path, "w", encoding="utf-8") as f:
        f.write(mapping.to_toml())
    return len(frame), mapping_path


def to_jsonl(
    client: Client,
    path: str | os.PathLike[str],
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    progress: bool = True,
    **options: Any,
) -> int:
    """Stream a feed or a query into a bulk import file (JSON lines that keep history)."""
    from tqdm.auto import tqdm

    from feedkit.importfile import exported_lines

    count = 0
    with open(path, "wb") as out, tqdm(unit=" activities", desc="export",
                                       disable=not progress) as bar:  # fmt: skip
        for page in iter_pages(client, feed=feed, filter=filter, sort=sort, **options):
            for line in exported_lines(page):
                out.write(orjson.dumps(line) + b"\n")
            count += len(page)
            bar.update(len(page))
    return count
