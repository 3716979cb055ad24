"""Activities as the server answers them -> one typed Arrow table, read a page at a time.

The table has the stable columns of ``ACTIVITY_COLUMNS`` (read-side names turned back into
the request's: ``user`` -> ``user_id``, ``mentioned_users`` -> ``mentioned_user_ids``; times
as timezone-aware timestamps; ``location.lat``/``location.lng``; attachments as a list of
structs; on request the engagement counts of ``COUNT_COLUMNS``) and ``custom.*`` /
``search_data.*`` flattened into :mod:`feedkit.keypath` paths (a key holding '.' is quoted:
``custom."a.b"``), their types kept; values that cannot share one typed column are JSON text,
marked so in the field's metadata. :func:`object_columns` flattens any kind's objects so.

:class:`TableBuilder` takes pages as they arrive, each first read into a :class:`ReadPage`:
its fixed members in Arrow, its custom and search_data objects as JSON bytes, so no page's
Python objects outlive it (the cyclic collector never walks an export's worth of them, and
memory holds Arrow buffers instead). :func:`read_answer` reads an answer's bytes straight into
a ReadPage: msgspec decodes only the members the table keeps, typed, and skips the rest (the
user objects, the empty reaction lists) without making them; custom and search_data stay the
bytes they arrived as. The flattened columns are made when the table is asked for, over every
page at once, so their keys and types are those of the whole set.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from feedkit import keypath
from feedkit.arrowjson import JSON_METADATA
from feedkit.results import answer_activities

__all__ = [
    "ACTIVITY_COLUMNS",
    "ATTACHMENT",
    "COUNT_COLUMNS",
    "OBJECT_ROOTS",
    "STRINGS",
    "TS",
    "ReadPage",
    "TableBuilder",
    "activities_to_table",
    "attachment_value",
    "conflicts",
    "object_columns",
    "read_activities",
    "read_answer",
    "typed_array",
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
# What an answered activity counts of its engagement: columns a table adds when asked.
COUNT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("reaction_count", pa.int64()), ("comment_count", pa.int64()), ("bookmark_count", pa.int64()),
)  # fmt: skip
_READ_COLUMNS = ACTIVITY_COLUMNS + COUNT_COLUMNS  # what a page reads: a table keeps a prefix
OBJECT_ROOTS = ("custom", "search_data")  # the objects flattened into dotted columns


def _flatten(
    obj: Mapping[str, Any], prefix: str, out: dict[str, Any], whole: frozenset[str] = frozenset()
) -> None:
    """Nested objects to dotted keys; a path in ``whole`` keeps its value unflattened."""
    for key, value in obj.items():
        path = keypath.join(prefix, key)
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
        return [[attachment_value(x) for x in a.get("attachments") or []] or None
                for a in activities]  # fmt: skip
    if name in ("feeds", "filter_tags", "interest_tags"):
        return [a.get(name) or None for a in activities]
    return [a.get(name) for a in activities]


def attachment_value(x: Mapping[str, Any]) -> dict[str, Any]:
    """An answered attachment as the ``ATTACHMENT`` struct takes it (custom as JSON text)."""
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


@dataclass(frozen=True)
class ReadPage:
    """One page of answered activities as :class:`TableBuilder` keeps it."""

    rows: int
    objects: dict[str, bytes]  # per OBJECT_ROOTS: a JSON array of the page's objects
    # The members the fixed columns are made from and the attachments, read by Arrow ...
    wire: pa.StructArray | None = None
    attachments: pa.Array | None = None
    # ... or else the fixed columns themselves, read value by value.
    fixed: list[pa.Array] | None = None

    def head(self, n: int) -> ReadPage:
        """The page's first ``n`` rows."""
        if n >= self.rows:
            return self
        objects = {k: orjson.dumps(orjson.loads(v)[:n]) for k, v in self.objects.items()}
        return ReadPage(
            n,
            objects,
            wire=None if self.wire is None else self.wire.slice(0, n),
            attachments=None if self.attachments is None else self.attachments.slice(0, n),
            fixed=None if self.fixed is None else [a.slice(0, n) for a in self.fixed],
        )


def read_activities(page: Sequence[Mapping[str, Any]]) -> ReadPage:
    """A page of activities given as plain dicts (decoded JSON)."""
    objects = {r: orjson.dumps([a.get(r) or {} for a in page]) for r in OBJECT_ROOTS}
    wire = _arrow_wire(page)
    if wire is None:  # a value of an unexpected type: this page value by value
        fixed = [typed_array(_fixed(page, n), t) for n, t in _READ_COLUMNS]
        return ReadPage(len(page), objects, fixed=fixed)
    attachments = pa.array(_fixed(page, "attachments"), _ATTACHMENTS)
    return ReadPage(len(page), objects, wire=wire, attachments=attachments)


def read_answer(body: bytes) -> tuple[ReadPage, str | None]:
    """A query or feed answer's bytes read into a page, and its ``next`` cursor.

    Raises ``ValueError`` when the bytes are not JSON. An answer with a member of an
    unexpected type is read as dicts instead (:func:`read_activities`), with the same result.
    """
    try:
        answer = _ANSWER.decode(body)
        acts = answer.activities or []
        wire = pa.array(msgspec.to_builtins(acts, enc_hook=_unread), type=_WIRE)
    except (msgspec.ValidationError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        page, cursor = answer_activities(body)
        return read_activities(page), cursor
    attachments = pa.array(
        [[attachment_value(x) for x in a.attachments] or None if a.attachments else None
         for a in acts], _ATTACHMENTS)  # fmt: skip
    objects = {r: b"[" + b",".join([getattr(a, r) for a in acts]) + b"]" for r in OBJECT_ROOTS}
    return ReadPage(len(acts), objects, wire=wire, attachments=attachments), answer.next or None


CHUNK_ROWS = 10_000  # rows whose objects are inferred together while pages still arrive


class TableBuilder:
    """Pages of answered activities in, one table out; see the module.

    Every ``chunk_rows`` rows, the pages so far become columns: the fixed ones, and Arrow's
    inference of their custom and search_data objects, so the work is done while later pages
    are still on their way. :meth:`table` merges the chunks' inferences, and infers or reads
    value by value over every row at once wherever the merge cannot stand for that (the raw
    objects are kept for it). With ``counts`` the table also has the ``COUNT_COLUMNS``.
    """

    def __init__(self, chunk_rows: int = CHUNK_ROWS, *, counts: bool = False) -> None:
        self.rows = 0
        self._columns = _READ_COLUMNS if counts else ACTIVITY_COLUMNS  # the fixed ones kept
        self._chunk_rows = chunk_rows
        self._runs: list[list[pa.Array]] = []  # fixed columns of the pages read so far
        self._wire: list[pa.StructArray] = []  # the current run of Arrow-read pages
        self._attachments: list[pa.Array] = []
        self._objects: dict[str, list[bytes]] = {root: [] for root in OBJECT_ROOTS}
        self._inferred: dict[str, list[pa.StructArray | None]] = {r: [] for r in OBJECT_ROOTS}
        self._chunk_start = 0  # the index in _objects of the current chunk's first page
        self._chunk_size = 0

    def add(self, page: Sequence[Mapping[str, Any]] | ReadPage) -> None:
        """Add a page: its activities as plain dicts, or already read."""
        read = page if isinstance(page, ReadPage) else read_activities(page)
        if not read.rows:
            return
        if read.fixed is not None:
            self._end_run()
            self._runs.append(read.fixed)
        else:
            assert read.wire is not None and read.attachments is not None
            self._wire.append(read.wire)
            self._attachments.append(read.attachments)
        for root, pages in self._objects.items():
            pages.append(read.objects[root])
        self.rows += read.rows
        self._chunk_size += read.rows
        if self._chunk_size >= self._chunk_rows:
            self._end_chunk()

    def table(self, whole: frozenset[str] = frozenset()) -> pa.Table:
        """The table of every page added. ``whole`` names custom/search_data paths to keep
        unflattened (see :func:`conflicts`); conflicts among the rows are added to it."""
        self._end_chunk()
        arrays: list[pa.Array | pa.ChunkedArray] = [
            pa.chunked_array([run[i] for run in self._runs], typ)
            for i, (_, typ) in enumerate(self._columns)
        ]
        fields = [pa.field(name, typ) for name, typ in self._columns]
        for root, pages in self._objects.items():
            typed = None if whole else _struct_columns(_merged(self._inferred[root]), root)
            if typed is not None:
                columns = list(_typed_fields(typed))
            else:
                with _collector_paused():  # a burst of dicts that all live until the end
                    columns = list(object_columns(_decoded_objects(pages), root, whole))
            for field, column in columns:
                fields.append(field)
                arrays.append(column)
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _end_chunk(self) -> None:
        self._end_run()
        if self._chunk_size:
            for root, pages in self._objects.items():
                objects = _decoded_objects(pages[self._chunk_start :])
                self._inferred[root].append(_inferred(objects))
            self._chunk_start = len(self._objects[OBJECT_ROOTS[0]])
            self._chunk_size = 0

    def _end_run(self) -> None:
        if self._wire:
            wire = pa.concat_arrays(self._wire)
            self._runs.append(_from_wire(wire, pa.concat_arrays(self._attachments)))
            self._wire, self._attachments = [], []


def _decoded_objects(pages: Sequence[bytes]) -> list[Any]:
    """The objects of pages' JSON arrays, an absent or null one as {}."""
    return [obj or {} for page in pages for obj in orjson.loads(page)]


def activities_to_table(
    activities: Iterable[Mapping[str, Any]], whole: frozenset[str] = frozenset()
) -> pa.Table:
    """A table of activities as the server returns them (read-side names, ns times); see
    :meth:`TableBuilder.table` for ``whole``."""
    builder = TableBuilder()
    builder.add(activities if isinstance(activities, list) else list(activities))
    return builder.table(whole)


@contextmanager
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _typed_fields(typed: list[tuple[str, pa.Array]]) -> Iterator[tuple[pa.Field, pa.Array]]:
    for key, column in typed:
        yield pa.field(key, column.type), column


def object_columns(
    objects: list[Any], root: str, whole: frozenset[str] = frozenset()
) -> Iterator[tuple[pa.Field, pa.Array]]:
    """The flattened columns of one root's objects (e.g. a custom per row), named
    ``root.key...``: typed where the values agree, else JSON text marked in the metadata."""
    typed = None if whole else _struct_columns(_inferred(objects), root)
    if typed is not None:
        yield from _typed_fields(typed)
        return
    flat = _flat_rows(objects, root, whole)
    found = conflicts(k for row in flat for k in row)
    if found:
        flat = _flat_rows(objects, root, whole | found)
    for key in sorted({k for row in flat for k in row}):
        column, as_json = _column([row.get(key) for row in flat])
        yield pa.field(key, column.type, metadata=JSON_METADATA if as_json else None), column


def _flat_rows(objects: list[Any], root: str, whole: frozenset[str]) -> list[dict[str, Any]]:
    rows = []
    for obj in objects:
        row: dict[str, Any] = {}
        _flatten(obj, root, row, whole)
        rows.append(row)
    return rows


_LEAVES = (pa.bool_(), pa.int64(), pa.float64(), pa.string(), pa.null())
# Items of a list column read as a typed list. Not floats: [1, 2.5] reads as list<double>
# but is JSON text value by value; nor null items, objects or lists.
_LIST_ITEMS = (pa.bool_(), pa.int64(), pa.string())


def _inferred(objects: list[Any]) -> pa.StructArray | None:
    """Objects as one struct array, their types inferred by Arrow in C++; None when Arrow
    refuses them or infers a type other than JSON's (an int past int64 reads as uint64)."""
    try:
        arr = pa.array(objects)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return None
    return arr if pa.types.is_struct(arr.type) and _plain(arr.type) else None


def _plain(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return all(_plain(f.type) for f in t)
    if pa.types.is_list(t):
        return _plain(t.value_type)
    return t in _LEAVES


def _merged(parts: list[pa.StructArray | None]) -> pa.StructArray | None:
    """Struct arrays inferred apart as one, as if inferred together: members missing from a
    part are null there, ints meeting floats become floats; None when types disagree."""
    if not parts or any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    try:
        tables = [pa.table({"o": p}) for p in parts]
        merged = pa.concat_tables(tables, promote_options="permissive").column(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return merged.combine_chunks()


def _struct_columns(arr: pa.StructArray | None, root: str) -> list[tuple[str, pa.Array]] | None:
    """``root``'s flattened columns from its objects inferred by Arrow, when that gives
    exactly what the value-by-value path gives: None (use that path) for anything it would
    write as JSON text or could read differently (mixed types, an empty object, a member that
    is an object in one row and null or absent in another, lists of floats, of objects or
    holding nulls)."""
    out: list[tuple[str, pa.Array]] = []
    if arr is None or not _leaves(arr, root, out):
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
        child, path, t = arr.field(i), keypath.join(prefix, f.name), f.type
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
    [(name, pa.int64() if typ == TS else typ) for name, typ in _READ_COLUMNS
     if name not in ("user_id", "mentioned_user_ids", "location.lat", "location.lng",
                     "attachments")]
    + [("user", _ID), ("mentioned_users", pa.list_(_ID)),
       ("location", pa.struct([("lat", pa.float64()), ("lng", pa.float64())]))]
)  # fmt: skip
_ATTACHMENTS = dict(ACTIVITY_COLUMNS)["attachments"]
_PYTHON = {pa.string(): str, pa.int64(): int, pa.float64(): float}


def _decoded(t: pa.DataType, name: str) -> Any:
    """The msgspec type that decodes a JSON value into what ``pa.array(type=t)`` takes."""
    if pa.types.is_struct(t):
        members = [(f.name, _decoded(f.type, f.name) | None, None) for f in t]
        return msgspec.defstruct(f"Answered{name.title()}", members, gc=False,
                                 omit_defaults=True)  # fmt: skip
    if pa.types.is_list(t):
        return list[_decoded(t.value_type, name)]  # type: ignore[misc]
    return _PYTHON[t]


_RAW_OBJECT = msgspec.Raw(b"{}")
_ACTIVITY: Any = msgspec.defstruct(
    "AnsweredActivity",
    [(f.name, _decoded(f.type, f.name) | None, None) for f in _WIRE]
    + [("attachments", list[dict[str, Any]] | None, None)]
    + [(root, msgspec.Raw, _RAW_OBJECT) for root in OBJECT_ROOTS],
    gc=False,
    omit_defaults=True,
)
_ANSWER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(msgspec.defstruct(
    "Answer", [("activities", list[_ACTIVITY] | None, None), ("next", str | None, None)],
    gc=False))  # fmt: skip


def _unread(value: Any) -> None:
    """to_builtins' hook for the raw custom and search_data, which the wire does not read."""
    return None


def _arrow_wire(page: Sequence[Mapping[str, Any]]) -> pa.StructArray | None:
    """The page's members that the fixed columns read, taken out of the dicts by Arrow in
    C++ (other members are not looked at); None when a value has an unexpected type."""
    try:
        return pa.array(page, type=_WIRE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return None


def _from_wire(wire: pa.StructArray, attachments: pa.Array) -> list[pa.Array]:
    """The ``ACTIVITY_COLUMNS`` and ``COUNT_COLUMNS`` of Arrow-read pages."""
    arrays = []
    for name, typ in _READ_COLUMNS:
        if name == "attachments":
            arr = attachments
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


def typed_array(values: list[Any], typ: pa.DataType) -> pa.Array:
    """Python values as an array of ``typ``; times are nanoseconds."""
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
