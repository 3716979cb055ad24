"""Tables -> validated activities and a table of every failure, column by column.

Each source batch is mapped field by field into Arrow arrays, checked against
:mod:`feedkit.schema` with vectorised masks (lengths, counts, choices, feed ids, ranges,
times), and the valid rows are written as request-ready JSON by :mod:`feedkit.arrowjson`.
Python touches only the failures: each becomes one row of the error table
(``row, column, field, code, message, value``). Valid + invalid always equals rows read::

    >>> import pandas as pd, feedkit
    >>> df = pd.DataFrame({"pid": ["a", "b"], "who": ["ann", "bob"], "lat": [1.0, 95.0]})
    >>> m = feedkit.Mapping.build({"id": "{pid}", "type": "post", "feeds": ["user:{who}"],
    ...                            "location": {"lat": "lat", "lng": "lat"}})
    >>> result = feedkit.to_activities(df, m)
    >>> [a["id"] for a in result.activities]
    ['a']
    >>> result.errors[["row", "field", "code"]].values.tolist()
    [[1, 'location.lat', 'range']]
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feedkit import keypath
from feedkit.arrowjson import (
    Fragment,
    Wrapped,
    is_json_field,
    json_array_of,
    json_fragment,
    json_key,
    json_object,
    json_string,
    json_value,
    list_from_columns,
    quoted,
    rfc3339,
    with_validity,
)
from feedkit.mapping import (
    EXTRA_FIELDS,
    URL_FIELDS,
    Location,
    Mapping,
    ObjectSpec,
    SplitColumn,
    Template,
    WholeColumn,
    spec_columns,
)
from feedkit.resources import Resource
from feedkit.schema import (
    FEED_ID_RE2,
    LOCATION_BOUNDS,
    MAX_ACTIVITY_BYTES,
    MAX_ACTIVITY_DEPTH,
    MAX_TIME_NS,
    MIN_TIME_NS,
    OUT_OF_TIME,
    Field,
    FieldError,
    Kind,
    Reason,
    json_depth,
    parse_time,
)
from feedkit.sources import RowError, Source, SourceBatch, open_source

__all__ = ["ERROR_COLUMNS", "Conversion", "ConvertedBatch", "convert", "convert_keys",
           "line_ends", "to_activities"]  # fmt: skip

ERROR_COLUMNS = ["row", "column", "field", "code", "message", "value"]
VALUE_SHOWN = 300  # characters of an offending value the error table shows, at most
_NULL = pa.scalar(None, pa.string())
_INT = r"^\s*[+-]?(0|[1-9]\d{0,17})\s*$"  # no leading zeros: "007" stays text
_FLOAT = r"^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|[iI]nf(inity)?|[nN]a[nN])\s*$"
_BOOL = r"^\s*(true|false|True|False|TRUE|FALSE)\s*$"
_ISO = r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*"
_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})\s*$"
KEY_SEPARATOR = "\x1f"  # joins the fields of a composite key (follows, reactions, ...)
IMPORT_USER_ID = r"^[@A-Za-z0-9_-]*$"  # the import format's user ids (ASCII \w, -, @)
IMPORT_URL_FIELDS = ("asset_url", "image_url", "thumb_url")  # https only in an import file


@dataclass
class ConvertedBatch:
    """The valid activities of one source batch, as JSON text, and its failures."""

    json: pa.Array  # one JSON object per valid row; an import file's: the row's line (line_ends)
    rows: np.ndarray  # record index of each valid row
    errors: list[RowError]
    rows_read: int
    ids: pa.Array  # the key of each valid row: its id (mapped or derived), or its key fields
    refs: dict[str, pa.Array] = dataclasses.field(default_factory=dict)  # referring fields

    def activities(self) -> list[dict[str, Any]]:
        return [orjson.loads(text) for text in self.json.to_pylist()]


@dataclass
class Conversion:
    """What :func:`to_activities` found: the valid activities and every failure."""

    activities: list[dict[str, Any]]
    rows: list[int]
    errors: pd.DataFrame
    rows_read: int

    @property
    def valid(self) -> int:
        return len(self.activities)

    @property
    def invalid(self) -> int:
        return invalid_rows(self.errors)

    def __repr__(self) -> str:
        return (
            f"Conversion(rows_read={self.rows_read}, valid={self.valid}, "
            f"invalid={self.invalid}, errors={len(self.errors)})"
        )

    def _repr_html_(self) -> str:
        from feedkit.display import errors_html, verdict_html

        verdict = verdict_html(not self.invalid, f"{self.invalid:,} invalid")
        head = f"<p><b>{self.rows_read:,}</b> rows read: <b>{self.valid:,}</b> valid, {verdict}</p>"
        return head + errors_html(self.errors)


def invalid_rows(errors: pd.DataFrame) -> int:
    """How many source rows an error table names (a row may fail several ways)."""
    return int(errors["row"].nunique()) if len(errors) else 0


def errors_frame(errors: Sequence[RowError]) -> pd.DataFrame:
    """The error table: one row per failure, sorted by source row."""
    frame = pd.DataFrame(
        [(e.row, e.column, e.field, e.code, e.message, _show(e.value)) for e in errors],
        columns=ERROR_COLUMNS,
    )
    frame["row"] = frame["row"].astype("int64")
    return frame.sort_values(["row", "field"], kind="stable").reset_index(drop=True)


def _show(value: Any) -> str | None:
    """The offending value as text; a long one is cut, saying so and how long it was (a
    row's value may be megabytes; the source has it whole)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= VALUE_SHOWN:
        return text
    said = f" [cut: {len(text):,} characters in all]"
    return text[: VALUE_SHOWN - len(said)] + said


def to_activities(
    source: Any, mapping: Mapping, *, batch_rows: int = 10_000, history: bool = False
) -> Conversion:
    """Map and validate a whole source: the valid activities (dicts) and the error table.

    ``source`` is anything :func:`feedkit.sources.open_source` reads: a DataFrame, an Arrow
    table, reader or stream, or a path or URL of CSV, TSV, JSON lines or Parquet files (a
    directory, a glob). For sources too big for memory, iterate :func:`convert` instead.
    """
    activities: list[dict[str, Any]] = []
    rows: list[int] = []
    errors: list[RowError] = []
    read = 0
    _, batches = convert(source, mapping, batch_rows=batch_rows, history=history)
    for converted in batches:
        activities += converted.activities()
        rows += converted.rows.tolist()
        errors += converted.errors
        read += converted.rows_read
    return Conversion(activities, rows, errors_frame(errors), read)


def convert(
    source: Any,
    mapping: Mapping,
    *,
    batch_rows: int = 10_000,
    history: bool = False,
    workers: int = 2,
    import_file: bool = False,
) -> tuple[Source, Iterator[ConvertedBatch]]:
    """The opened source and a lazy iterator of its converted batches (memory stays flat).

    ``history`` keeps a mapped ``created_at``/``updated_at`` in the output: bulk import files
    can set them, the API cannot (they are validated either way). ``import_file`` writes the
    data of the vendor's import lines instead of request JSON (history kept, the import
    format's names, defaults and checks: :class:`feedkit.resources.Resource`); keys and
    derived ids are the same either way. ``workers`` batches convert at once.
    """
    opened = open_source(source, mapping.columns, batch_rows=batch_rows)
    types = ColumnTypes(dict(mapping.column_types))
    text_source = opened.text  # CSV: numbers and times are inferred from the text

    def one(sb: SourceBatch) -> ConvertedBatch:
        converted = convert_batch(sb, mapping, types, text_source, history, import_file)
        converted.errors = sb.locate(converted.errors)  # a source of several files: name it
        return converted

    return opened, _in_order(iter(opened), one, workers)


def _in_order(
    batches: Iterator[SourceBatch], work: Callable[[SourceBatch], ConvertedBatch], workers: int
) -> Iterator[ConvertedBatch]:
    """``work`` over the batches on ``workers`` threads (Arrow's kernels release the GIL),
    yielding in source order with at most ``workers`` batches in flight. The first batch is
    converted alone: text columns take their types from it."""
    first = next(batches, None)
    if first is None:
        return
    yield work(first)
    if workers <= 1:
        yield from (work(b) for b in batches)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feedkit-convert") as pool:
        pending: deque[Future[ConvertedBatch]] = deque()
        for sb in batches:
            pending.append(pool.submit(work, sb))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class ColumnTypes:
    """The type of each text (CSV) column: declared in the mapping, else inferred from the
    first values seen, then held for the rest of the file."""

    def __init__(self, declared: dict[str, str]) -> None:
        self.types = declared
        self._lock = threading.Lock()

    def of(self, name: str, arr: pa.Array) -> str:
        with self._lock:  # batches convert on several threads; the first to see values wins
            return self._of(name, arr)

    def _of(self, name: str, arr: pa.Array) -> str:
        if name not in self.types:
            values = arr.drop_null()
            if len(values) == 0:
                return "string"
            for kind, pattern in (("int", _INT), ("float", _FLOAT), ("bool", _BOOL)):
                if pc.all(pc.match_substring_regex(values, pattern)).as_py():
                    self.types[name] = kind
                    break
            else:
                self.types[name] = "string"
        return self.types[name]


class _Batch:
    """One source batch being converted: columns, masks of bad rows, and their errors."""

    def __init__(self, sb: SourceBatch, mapping: Mapping, types: ColumnTypes, text: bool) -> None:
        self.sb = sb
        self.n = sb.batch.num_rows
        self.mapping = mapping
        self.types = types
        self.text = text
        self.bad = np.zeros(self.n, dtype=bool)
        self.errors: list[RowError] = list(sb.errors)
        position = {int(r): i for i, r in enumerate(sb.rows)} if sb.errors else {}
        users = _fields_by_column(mapping)
        for k, e in enumerate(self.errors):  # unreadable bytes: the row is there but unusable
            if e.row in position:
                self.bad[position[e.row]] = True
                if not e.field and e.column in users:
                    self.errors[k] = replace(e, field=users[e.column])

    # -- columns ----------------------------------------------------------------------------

    def column(self, name: str) -> pa.Array:
        arr = self.sb.batch.column(name)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        return arr

    def text_of(self, name: str, path: str | None = None) -> pa.Array:
        """A column as strings; empty strings become null. A column of lists or objects
        is refused (a type error at ``path``) where a field needs text."""
        arr = self.column(name)
        nested = (
            pa.types.is_list(arr.type)
            or pa.types.is_large_list(arr.type)
            or pa.types.is_struct(arr.type)
        )
        if nested and path is not None:
            self.fail(
                pc.is_valid(arr),
                arr,
                name,
                path,
                Reason.TYPE,
                f"needs text, but column {name!r} holds {arr.type}",
            )
            return pa.nulls(self.n, pa.string())
        if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
            arr = (
                rfc3339(arr)
                if getattr(arr.type, "tz", None) or pa.types.is_date(arr.type)
                else pc.strftime(arr, "%Y-%m-%dT%H:%M:%S")
            )
        elif pa.types.is_list(arr.type) or pa.types.is_struct(arr.type):
            arr = json_value(arr)
        elif not pa.types.is_string(arr.type):
            arr = pc.cast(arr, pa.string())
        return arr if self.mapping.keep_empty else _empty_as_null(arr)

    def typed(self, name: str, field_path: str) -> pa.Array:
        """A column with its own type; text columns take their declared or inferred type."""
        arr = self.column(name)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return arr
        if not self.mapping.keep_empty:
            arr = _empty_as_null(arr)
        if not self.text and name not in self.mapping.column_types:
            return arr
        kind = self.types.of(name, arr)
        if kind == "string":
            return arr
        if kind == "timestamp":
            return self.times(arr, name, field_path)
        return self.numbers(arr, name, field_path, kind)

    def numbers(self, arr: pa.Array, column: str, path: str, kind: str) -> pa.Array:
        pattern, target = {"int": (_INT, pa.int64()), "float": (_FLOAT, pa.float64()),
                           "bool": (_BOOL, pa.bool_())}[kind]  # fmt: skip
        ok = pc.match_substring_regex(arr, pattern)
        self.fail(
            pc.and_(pc.is_valid(arr), pc.invert(ok)),
            arr,
            column,
            path,
            Reason.TYPE,
            f"is not {'an' if kind == 'int' else 'a'} {kind}, like the rest of column {column!r}",
        )
        clean = pc.utf8_trim_whitespace(pc.if_else(ok, arr, _NULL))
        if kind == "bool":
            return pc.equal(pc.utf8_lower(clean), "true")
        return pc.cast(clean, target)

    def times(self, arr: pa.Array, column: str, path: str) -> pa.Array:
        """Timezone-aware timestamps (ns, UTC) from a text or timestamp column."""
        if pa.types.is_timestamp(arr.type):
            if arr.type.tz is None:
                self.fail(
                    pc.is_valid(arr),
                    arr,
                    column,
                    path,
                    Reason.TIMEZONE,
                    "has no timezone; give the column a timezone (e.g. "
                    "series.dt.tz_localize('UTC'))",
                )
                return pa.nulls(self.n, pa.timestamp("ns", tz="UTC"))
            return pc.cast(self._in_range(arr, column, path), pa.timestamp("ns", tz="UTC"))
        if pa.types.is_date(arr.type):
            days = self._in_range(arr, column, path)
            return pc.cast(pc.cast(days, pa.timestamp("s")), pa.timestamp("ns", tz="UTC"))
        arr = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
        arr = _empty_as_null(arr)  # empty: the field is unset
        iso = pc.match_substring_regex(arr, _ISO)
        offset = pc.match_substring_regex(arr, _OFFSET)
        present = pc.is_valid(arr)
        self.fail(
            pc.and_(present, pc.invert(iso)),
            arr,
            column,
            path,
            Reason.TIME_FORMAT,
            "is not an ISO 8601 time; write e.g. 2030-01-01T00:00:00Z",
        )
        self.fail(
            pc.and_(pc.and_(present, iso), pc.invert(offset)),
            arr,
            column,
            path,
            Reason.TIMEZONE,
            "has no timezone offset; write e.g. 2030-01-01T00:00:00Z",
        )
        candidates = pc.if_else(pc.and_(iso, offset), arr, _NULL)
        candidates = pc.replace_substring_regex(candidates, "z$", "Z")
        try:
            return pc.cast(candidates, pa.timestamp("ns", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return self._times_one_by_one(candidates, column, path)

    def _in_range(self, arr: pa.Array, column: str, path: str) -> pa.Array:
        """A timestamp or date column with the values nanoseconds cannot hold (before 1677,
        after 2262: a "never" of 9999-12-31) refused as row errors and nulled."""
        if pa.types.is_date32(arr.type) or pa.types.is_date64(arr.type):
            unit = "D" if pa.types.is_date32(arr.type) else "ms"
        else:
            unit = arr.type.unit
        if unit == "ns":
            return arr
        per = {"D": 86_400 * 10**9, "s": 10**9, "ms": 10**6, "us": 10**3}[unit]
        storage = arr.cast(pa.int64() if unit != "D" else pa.int32()).cast(pa.int64())
        outside = pc.or_(
            pc.less(storage, -(2**63) // per + 1), pc.greater(storage, MAX_TIME_NS // per)
        )
        self.fail(outside, arr, column, path, Reason.RANGE, OUT_OF_TIME)
        return pc.if_else(pc.fill_null(outside, False), pa.scalar(None, arr.type), arr)

    def _times_one_by_one(self, arr: pa.Array, column: str, path: str) -> pa.Array:
        # Only a batch holding an impossible time (month 13) or one out of range comes here.
        out: list[int | None] = []
        for i, value in enumerate(arr.to_pylist()):
            try:
                ns = None if value is None else parse_time(value)
                if ns is not None and not MIN_TIME_NS <= ns <= MAX_TIME_NS:
                    raise ValueError(OUT_OF_TIME, Reason.RANGE)
                out.append(ns)
            except ValueError as exc:
                out.append(None)
                reason = exc.args[1] if len(exc.args) > 1 else Reason.TIME_FORMAT
                message = exc.args[0] if reason is Reason.RANGE else "is not a valid time"
                self.error(i, column, path, reason, message, value)
        return pa.array(out, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))

    def is_json(self, name: str) -> bool:
        """Whether a column holds JSON text: declared so, or marked by feedkit's export."""
        if self.mapping.column_types.get(name) == "json":
            return True
        return is_json_field(self.sb.batch.schema.field(name))

    def json_column(
        self, name: str, path: str, depth: int, kind: Kind = Kind.ATTACHMENTS
    ) -> pa.Array:
        """JSON fragments of a column of whole values (lists, structs, or JSON text) for a
        field of ``kind``: an object field takes objects, a list field lists."""
        arr = self.column(name)
        want = dict if kind in (Kind.OBJECT, Kind.STRING_MAP) else list
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return self.json_text(name, path, depth, want)
        nested = pa.types.is_struct(arr.type) or pa.types.is_map(arr.type)
        if nested != (want is dict) or not (nested or pa.types.is_list(arr.type)):
            what = "objects" if want is dict else "lists"
            self.fail(pc.is_valid(arr), arr, name, path, Reason.TYPE,
                      f"needs {what}, but column {name!r} holds {arr.type}")  # fmt: skip
            return pa.nulls(self.n, pa.string())
        fragments = json_value(arr)
        return pc.if_else(pc.equal(fragments, "[]"), _NULL, fragments)

    def boolean(self, t: Template, path: str, column: str) -> pa.Array:
        """True or false from a boolean column, or text that says so."""
        if t.whole is not None and pa.types.is_boolean(self.column(t.whole).type):
            return self.column(t.whole)
        arr = self.template(t, path)
        ok = pc.match_substring_regex(arr, _BOOL)
        message = "must be true or false"
        self.fail(pc.and_(pc.is_valid(arr), pc.invert(ok)), arr, column, path, Reason.TYPE, message)
        return pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(pc.if_else(ok, arr, _NULL))), "true")

    def json_text(self, name: str, path: str, depth: int, want: type | None = None) -> pa.Array:
        """A column of JSON text, each cell checked: valid JSON (``want``: a list, or an
        object; ``str``: a list of strings), nested no deeper than ``depth``; a cell that is
        not is a row error at ``path`` and null."""
        text = self.text_of(name)
        out: list[str | None] = []
        for i, cell in enumerate(text.to_pylist()):
            if cell is None:
                out.append(None)
                continue
            problem = _json_problem(cell, depth, want)
            if problem is None:
                out.append(cell)
            else:
                out.append(None)
                self.error(i, name, path, *problem, cell if len(cell) <= 200 else cell[:200])
        return pa.array(out, pa.string())

    # -- failures ---------------------------------------------------------------------------

    def error(self, i: int, column: str, path: str, code: Reason, message: str, value: Any) -> None:
        self.bad[i] = True
        self.errors.append(RowError(int(self.sb.rows[i]), column, path, code.value, message, value))

    def fail(
        self, mask: Any, values: pa.Array | None, column: str, path: str, code: Reason, message: str
    ) -> None:
        """Record ``code`` for every row where ``mask`` is true."""
        if isinstance(mask, pa.BooleanArray) and not mask.true_count:
            return  # (mostly no row fails a check: a count of set bits says so)
        hits = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        if not len(hits):
            return
        shown = (
            values.take(pa.array(hits)).to_pylist() if values is not None else [None] * len(hits)
        )
        for i, value in zip(hits.tolist(), shown, strict=True):
            self.error(i, column, path, code, message, value)

    # -- fields -----------------------------------------------------------------------------

    def template(self, t: Template, path: str) -> pa.Array:
        """Strings from a template; null where a referenced value is null or empty."""
        if t.literal is not None:
            return pa.repeat(pa.scalar(t.literal or None, pa.string()), self.n)
        parts = [self.text_of(p[0], path) if isinstance(p, tuple) else p for p in t.parts]
        if len(parts) == 1:
            return parts[0]
        return pc.binary_join_element_wise(*parts, "", null_handling="emit_null")

    def string_list(self, spec: SplitColumn | tuple[Template, ...], path: str) -> pa.Array:
        if isinstance(spec, tuple):
            lists = list_from_columns(
                [self.template(t, f"{path}[{i}]") for i, t in enumerate(spec)]
            )
        else:
            arr = self.column(spec.column)
            if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
                lists = pc.cast(arr, pa.list_(pa.string()))
            elif self.is_json(spec.column):
                lists = _parse_json_lists(self.json_text(spec.column, path, 2, str))
            else:
                text = self.text_of(spec.column)
                lists = (
                    pc.split_pattern(text, spec.split)
                    if spec.split
                    else pa.ListArray.from_arrays(
                        pa.array(np.arange(self.n + 1, dtype=np.int32)), text
                    )
                )
        return _clean_list(lists)

    def location(self, spec: Location) -> pa.Array:
        arrays = []
        given = []  # where the source has a value at all (a bad one is reported once)
        for key, col in (("lat", spec.lat), ("lng", spec.lng)):
            arr = self.column(col)
            path = f"location.{key}"
            text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
            if text:
                arr = _empty_as_null(arr)
            given.append(pc.is_valid(arr))
            if text:
                arr = self.numbers(arr, col, path, "float")
            if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
                self.fail(pc.is_valid(arr), arr, col, path, Reason.TYPE, "must be a number")
                arr = pa.nulls(self.n, pa.float64())
            arrays.append(pc.cast(arr, pa.float64()))
        lat, lng = arrays
        both = pc.and_(pc.is_valid(lat), pc.is_valid(lng))
        pairs = (
            ("lat", lat, given[0], given[1], spec.lat),
            ("lng", lng, given[1], given[0], spec.lng),
        )
        for key, arr, mine, other, col in pairs:
            self.fail(
                pc.and_(pc.invert(mine), other),
                None,
                col,
                f"location.{key}",
                Reason.REQUIRED,
                f"is required when location.{'lng' if key == 'lat' else 'lat'} is given",
            )
            bound = LOCATION_BOUNDS[key]
            finite = pc.is_finite(arr)
            self.fail(
                pc.and_(pc.is_valid(arr), pc.invert(finite)),
                arr,
                col,
                f"location.{key}",
                Reason.TYPE,
                "must be a finite number",
            )
            out = pc.or_(pc.less(arr, -bound), pc.greater(arr, bound))
            self.fail(
                pc.and_(finite, out),
                arr,
                col,
                f"location.{key}",
                Reason.RANGE,
                f"must be within [-{bound:g}, {bound:g}]",
            )
        members = [("lat", json_value(lat)), ("lng", json_value(lng))]
        # Both members are there wherever the location is: no row looks for its first one.
        return with_validity(json_object(members, first_present=True), both)

    def obj(self, spec: ObjectSpec, path: str, level: int = 2) -> pa.Array:
        """A JSON object per row (null when it would be empty); dotted keys nest. The object
        sits ``level`` levels down in the activity (a field's is 2)."""
        tree: dict[str, Any] = {}
        for key, t in spec.members:
            where = f"{path}.{key}"
            value: Fragment
            if t.whole is not None and self.is_json(t.whole):
                # JSON text, checked and written as it is; it sits below the activity, the
                # object and each segment of its key
                below = MAX_ACTIVITY_DEPTH - level - len(keypath.split(key))
                value = self.json_text(t.whole, where, below)
            elif t.whole is not None:
                value = json_fragment(self.typed(t.whole, where))
            else:
                value = quoted(self.template(t, where))
            node = tree
            parts = keypath.split(key)  # checked when the mapping was built
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return self._tree(tree)

    def _tree(self, tree: dict[str, Any]) -> pa.Array:
        members = [(k, self._tree(v) if isinstance(v, dict) else v) for k, v in tree.items()]
        return json_object(members, empty_as_null=True)

    def attachments(self, specs: Sequence[ObjectSpec]) -> Fragment:
        fragments = []
        for i, spec in enumerate(specs):
            where = f"attachments[{i}]"
            urls = [self.template(t, f"{where}.{k}") for k, t in spec.members if k in URL_FIELDS]
            present = pc.is_valid(urls[0])
            for url in urls[1:]:
                present = pc.or_(present, pc.is_valid(url))
            members = [(k, t) for k, t in spec.members if not k.startswith("custom.")]
            custom = [(k[7:], t) for k, t in spec.members if k.startswith("custom.")]
            obj: list[tuple[str, Fragment]] = [
                (k, quoted(self.template(t, f"{where}.{k}"))) for k, t in members
            ]
            obj.append(
                (
                    "custom",
                    pc.fill_null(
                        self.obj(ObjectSpec(tuple(custom)), f"attachments[{i}].custom", 4), "{}"
                    )
                    if custom
                    else pa.repeat(pa.scalar("{}"), self.n),
                )
            )
            fragments.append(with_validity(json_object(obj), present))
        return json_array_of(fragments, self.n)


def _empty_as_null(arr: pa.Array) -> pa.Array:
    """Strings with the empty ones null; mostly none is empty: then ``arr`` itself, not a copy."""
    empty = pc.equal(arr, "")
    return pc.if_else(empty, _NULL, arr) if pc.any(empty).as_py() else arr


def _fields_by_column(mapping: Mapping) -> dict[str, str]:
    """For each source column, the fields that read it (for errors about the column)."""
    out: dict[str, list[str]] = {}
    for name, spec in mapping.fields.items():
        for col in spec_columns(spec):
            out.setdefault(col, []).append(name)
    for i, attachment in enumerate(mapping.attachments):
        for col in spec_columns(attachment):
            out.setdefault(col, []).append(f"attachments[{i}]")
    return {col: ",".join(dict.fromkeys(names)) for col, names in out.items()}


def _json_problem(cell: str, depth: int, want: type | None) -> tuple[Reason, str] | None:
    """Why one cell of JSON text cannot be written as it is, or None."""
    try:
        value = orjson.loads(cell)
    except orjson.JSONDecodeError as exc:
        return Reason.FORMAT, f"is not valid JSON: {exc}"
    if want is str and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return Reason.TYPE, "must be a JSON array of strings"
    if want in (list, dict) and not isinstance(value, want):
        return Reason.TYPE, f"must be a JSON {'array' if want is list else 'object'}"
    # (no deeper than its text has brackets: the levels are walked only when it has more)
    deep = cell.count("{") + cell.count("[") > depth
    if deep and isinstance(value, (dict, list)) and json_depth(value, depth) > depth:
        return Reason.TOO_DEEP, f"is nested more than {depth} levels deep here"
    return None


def _parse_json_lists(text: pa.Array) -> pa.Array:
    """list<string> from JSON array text, parsed in C++ (one JSON document per row)."""
    import io

    import pyarrow.json as pajson

    lines = pc.binary_join_element_wise('{"v":', pc.fill_null(text, "null"), "}", "")
    data = "\n".join(lines.to_pylist()).encode()
    schema = pa.schema([("v", pa.list_(pa.string()))])
    table = pajson.read_json(
        io.BytesIO(data),
        parse_options=pajson.ParseOptions(explicit_schema=schema, newlines_in_values=False),
    )
    return table.column("v").combine_chunks()


def _clean_list(lists: pa.Array) -> pa.Array:
    """Trim list items, drop empty ones; an empty list becomes null (the field is unset)."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    values = pc.utf8_trim_whitespace(lists.flatten())
    keep = pc.fill_null(pc.not_equal(values, ""), False)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep_np = keep.to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep_np], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    empty = pc.or_(lists.is_null(), pc.equal(pa.array(counts), 0))
    return pa.ListArray.from_arrays(pa.array(offsets), values.filter(keep), mask=empty)


def _check_strings(b: _Batch, f: Field, arr: pa.Array, column: str) -> None:
    if f.feed_id:
        b.fail(
            pc.invert(pc.match_substring_regex(arr, FEED_ID_RE2)),
            arr,
            column,
            f.name,
            Reason.FEED_FORMAT,
            "is not a feed id of the form 'group:id'",
        )
    if f.max_length is not None:
        b.fail(
            pc.greater(pc.utf8_length(arr), f.max_length),
            arr,
            column,
            f.name,
            Reason.TOO_LONG,
            f"is longer than {f.max_length} characters",
        )
    if f.choices:
        b.fail(
            pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(f.choices)))),
            arr,
            column,
            f.name,
            Reason.CHOICE,
            f"must be one of {', '.join(f.choices)}",
        )


def _check_list(b: _Batch, f: Field, lists: pa.Array, column: str) -> None:
    lengths = pc.list_value_length(lists)
    if f.max_items is not None:
        b.fail(
            pc.greater(lengths, f.max_items),
            lists,
            column,
            f.name,
            Reason.TOO_MANY,
            f"has more than {f.max_items} items",
        )
    if f.min_items is not None:
        b.fail(
            pc.less(lengths, f.min_items),
            lists,
            column,
            f.name,
            Reason.TOO_FEW,
            f"needs at least {f.min_items} item(s)",
        )
    values = lists.flatten()
    checks = []
    if f.feed_id:
        checks.append(
            (
                pc.invert(pc.match_substring_regex(values, FEED_ID_RE2)),
                Reason.FEED_FORMAT,
                "is not a feed id of the form 'group:id'",
            )
        )
    if f.item_max_length is not None:
        checks.append(
            (
                pc.greater(pc.utf8_length(values), f.item_max_length),
                Reason.TOO_LONG,
                f"is longer than {f.item_max_length} characters",
            )
        )
    if not checks:
        return
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    offsets = lists.offsets.to_numpy(zero_copy_only=False)
    for mask, code, message in checks:
        hits = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
        for k in hits.tolist():
            row = int(parents[k])
            b.error(
                row, column, f"{f.name}[{k - int(offsets[row])}]", code, message, values[k].as_py()
            )


def _columns_of(mapping: Mapping, name: str) -> str:
    return ",".join(dict.fromkeys(spec_columns(mapping.fields[name])))


def convert_batch(
    sb: SourceBatch,
    mapping: Mapping,
    types: ColumnTypes,
    text: bool = False,
    history: bool = False,
    import_file: bool = False,
) -> ConvertedBatch:
    """Map, validate and write one source batch (as :func:`convert` says)."""
    b = _Batch(sb, mapping, types, text)
    res = mapping.resource
    fragments: dict[str, Fragment] = {}
    values: dict[str, pa.Array] = {}
    deep: list[Field] = []  # mapped fields whose values are checked one by one, in Python
    for name, spec in mapping.fields.items():
        column = _columns_of(mapping, name)
        f = res.fields.get(name)
        kind = f.kind if f is not None else Kind.TIME
        if isinstance(spec, WholeColumn):
            assert f is not None
            fragments[name] = b.json_column(spec.column, name, MAX_ACTIVITY_DEPTH - 1, kind)
            deep += [f] if f.members or kind is Kind.STRING_MAP else []
        elif kind in (Kind.STRING, Kind.CHOICE):
            arr = b.template(spec, name)  # type: ignore[arg-type]
            assert f is not None
            _check_strings(b, f, arr, column)
            values[name], fragments[name] = arr, quoted(arr)
        elif kind is Kind.BOOL:
            arr = b.boolean(spec, name, column)  # type: ignore[arg-type]
            values[name], fragments[name] = arr, json_fragment(arr)
        elif kind is Kind.TIME:
            t: Template = spec  # type: ignore[assignment]
            source = b.column(t.whole) if t.whole is not None else b.template(t, name)
            times = b.times(source, column, name)
            values[name], fragments[name] = times, json_fragment(times)
        elif kind is Kind.STRING_LIST:
            assert f is not None
            lists = b.string_list(spec, name)  # type: ignore[arg-type]
            _check_list(b, f, lists, column)
            values[name], fragments[name] = lists, json_fragment(lists)
        elif kind is Kind.LOCATION:
            fragments[name] = b.location(spec)  # type: ignore[arg-type]
        elif kind in (Kind.OBJECT, Kind.STRING_MAP):
            fragments[name] = b.obj(spec, name)  # type: ignore[arg-type]
            assert f is not None
            deep += [f] if f.members or kind is Kind.STRING_MAP else []
    if mapping.attachments:
        fragments["attachments"] = b.attachments(mapping.attachments)
    elif mapping.attachments_column:
        column = mapping.attachments_column
        fragments["attachments"] = b.json_column(column, "attachments", MAX_ACTIVITY_DEPTH - 1)
    if not history and not import_file:
        for name in EXTRA_FIELDS:
            fragments.pop(name, None)
    _check_presence(b, mapping, values, import_file)
    if import_file:
        _check_import(b, mapping, values)
    if "visibility" in values:
        tag = values.get("visibility_tag", pa.nulls(b.n, pa.string()))
        b.fail(
            pc.and_(pc.equal(values["visibility"], "tag"), pc.is_null(tag)),
            None,
            _columns_of(mapping, "visibility"),
            "visibility_tag",
            Reason.DEPENDENCY,
            "is required when visibility is 'tag'",
        )
    # Kept rows always carry the first member of the order (an id, a type, ...): it leads.
    members = [(k, _kept(fragments[k], b.bad)) for k in res.order if k in fragments]
    keep = pa.array(~b.bad)
    keys: pa.Array
    if not res.derivable or "id" in fragments:
        keys = _keys(res, values).filter(keep)
    else:
        keys = pa.array(_derived_ids(json_object(members, first_present=True)), pa.string())
        members.insert(0, ("id", json_string(keys)))
    rows = sb.rows[~b.bad]
    named = (*res.references, "user_id") if import_file else res.references  # user lines too
    refs = {k: values[k].filter(keep) for k in named if k in values}
    written = import_file and bool(members)  # the import format's names and defaults
    line = line_ends(mapping.kind)  # an import file's rows are written as whole lines
    if written and not deep and res.validate is None:
        # Only the import format's lines are built whole; the API's JSON only for rows that
        # may be too large by its names (mostly none), refused as the API path would.
        imported = _import_members(res, members, len(keys))
        text_json = json_object(imported, first_present=True, wrap=line)
        refused = _too_large_by_api(mapping, rows, members, text_json, len("".join(line)))
    else:
        text_json = (
            json_object(members, first_present=True) if members else pa.array([], pa.string())
        )
        refused = _refused(mapping, rows, text_json, deep)  # whole rows, by the API's names
        if written:
            imported = _import_members(res, members, len(keys))
            text_json = json_object(imported, first_present=True, wrap=line)
    if written:
        refused += _insecure_urls(rows, text_json, fragments.get("attachments"), b.bad,
                                  bool(mapping.attachments))  # fmt: skip
    if refused:  # each refused by the field that made it so, and left out
        b.errors += refused
        bad = {e.row for e in refused}
        ok = pa.array([r not in bad for r in rows.tolist()])
        text_json, keys, rows = (
            text_json.filter(ok),
            keys.filter(ok),
            rows[ok.to_numpy(zero_copy_only=False)],
        )
        refs = {k: v.filter(ok) for k, v in refs.items()}
    return ConvertedBatch(text_json, rows, b.errors, sb.rows_read, keys, refs)


def line_ends(kind: str) -> tuple[str, str]:
    """The text of an import file's line before and after its data:
    ``{"type":KIND,"data":`` + data + ``}\n``."""
    return '{"type":"' + kind + '","data":', "}\n"


def _keys(res: Resource, values: dict[str, pa.Array]) -> pa.Array:
    """Each row's key from its fields' values: its id, or its key fields joined."""
    if res.derivable:
        return values["id"]
    parts = [pc.fill_null(values[k], "") if k in values else "" for k in res.key]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def convert_keys(
    source: Any, mapping: Mapping, *, batch_rows: int = 10_000
) -> tuple[Source, Iterator[tuple[pa.Array, SourceBatch]]] | None:
    """The opened source and, batch by batch, every row's key as :func:`convert` would give
    it (null where a row has none: such a row is invalid), computed from the key columns
    alone, without converting the rows; None when a key needs the whole row (derived ids) or
    a value that is not text. Every valid row of :func:`convert` has this key; an invalid
    row may have one too. A columnar source is read for its key columns only; a text source
    (CSV, JSON lines) for every mapped column, so that its records split as they do there."""
    res = mapping.resource
    names = ["id"] if res.derivable else list(res.key)
    specs: dict[str, Template] = {}
    for name in (n for n in names if n in mapping.fields):
        spec, f = mapping.fields[name], res.fields.get(name)
        if f is None or f.kind not in (Kind.STRING, Kind.CHOICE) or not isinstance(spec, Template):
            return None
        specs[name] = spec
    if res.derivable and "id" not in specs:
        return None
    columns = list(dict.fromkeys(c for spec in specs.values() for c in spec_columns(spec)))
    opened = open_source(source, columns, batch_rows=batch_rows)
    if opened.text or opened.size is not None:
        opened = open_source(source, mapping.columns, batch_rows=batch_rows)
    types = ColumnTypes(dict(mapping.column_types))

    def keys(sb: SourceBatch) -> tuple[pa.Array, SourceBatch]:
        b = _Batch(sb, mapping, types, opened.text)
        return _keys(res, {n: b.template(spec, n) for n, spec in specs.items()}), sb

    return opened, map(keys, opened)


def _check_presence(
    b: _Batch, mapping: Mapping, values: dict[str, pa.Array], import_file: bool = False
) -> None:
    """Required fields, ids, and the fields of which a row needs one (or exactly one)."""
    res = mapping.resource
    # (a field the migration derives is looked for once the rows are checked: feedkit.bulk)
    extra = tuple(f for f in res.import_required if f not in res.import_derived) \
        if import_file else ()  # fmt: skip
    for name in (*res.required, *extra):
        arr = values.get(name)
        column = _columns_of(mapping, name) if name in mapping.fields else ""
        b.fail(
            pc.is_null(arr) if arr is not None else pa.repeat(True, b.n),
            None,
            column,
            name,
            Reason.REQUIRED,
            ("is required in an import file" if name in extra else "is required")
            + (f"; column {column!r} is empty here" if column else "; map it in the mapping"),
        )
    if res.derivable and "id" in mapping.fields:
        b.fail(
            pc.is_null(values["id"]),
            None,
            _columns_of(mapping, "id"),
            "id",
            Reason.REQUIRED,
            "is mapped but empty here; a rerun could not recognise this row",
        )
    if not res.one_of:
        return
    given = [pc.is_valid(values[k]) for k in res.one_of if k in values]
    count = pa.array(np.sum([g.to_numpy(zero_copy_only=False) for g in given], axis=0)
                     if given else np.zeros(b.n, dtype=np.int64))  # fmt: skip
    mapped = [k for k in res.one_of if k in mapping.fields]
    columns = ",".join(_columns_of(mapping, k) for k in mapped)
    names = " or ".join(res.one_of)
    b.fail(pc.equal(count, 0), None, columns, res.one_of[0], Reason.REQUIRED,
           f"is required: a {res.kind} needs {names}")  # fmt: skip
    if res.only_one:
        b.fail(pc.greater(count, 1), None, columns, res.one_of[1], Reason.DEPENDENCY,
               f"a {res.kind} is on one object: give {names}, not both")  # fmt: skip


def _refused(
    mapping: Mapping, rows: np.ndarray, text_json: pa.Array, deep: list[Field]
) -> list[RowError]:
    """Rows the vectorised checks cannot judge: larger than a row may be, or failing the
    shape of an object field (members, string maps) or the kind's own whole-row checks."""
    res = mapping.resource
    errors: list[RowError] = []
    big = np.flatnonzero(
        pc.greater(pc.binary_length(text_json), MAX_ACTIVITY_BYTES).to_numpy(zero_copy_only=False)
    )
    for i in big.tolist():
        errors.append(_too_large(mapping, int(rows[i]), text_json[i].as_py()))
    if not deep and res.validate is None:
        return errors
    skip = set(big.tolist())
    for i, text in enumerate(text_json.to_pylist()):
        if i in skip:
            continue
        data = orjson.loads(text)
        found: list[FieldError] = []
        for f in deep:
            if data.get(f.name) is not None:
                found += f.errors(data[f.name])
        if res.validate is not None and not found:
            found = res.validate(data)
        for e in found:
            name = e.field.partition(".")[0].partition("[")[0]
            column = _columns_of(mapping, name) if name in mapping.fields else ""
            errors.append(RowError(int(rows[i]), column, e.field, e.code.value, e.message,
                                   _show(e.value)))  # fmt: skip
    return errors


def _too_large(mapping: Mapping, row: int, text: str) -> RowError:
    """A row whose JSON is larger than one row may be, named by its largest field."""
    data = orjson.loads(text)
    name = max(data, key=lambda k: len(orjson.dumps(data[k])))
    column = _columns_of(mapping, name) if name in mapping.fields else ""
    kind = mapping.kind.replace("_", " ")
    message = (
        f"the {kind} is {len(text.encode()):,} bytes of JSON, {name} "
        f"{len(orjson.dumps(data[name])):,} of them; at most {MAX_ACTIVITY_BYTES:,} bytes"
        f" per {kind}"
    )
    return RowError(row, column, name, Reason.TOO_LARGE.value, message, None)


def _check_import(b: _Batch, mapping: Mapping, values: dict[str, pa.Array]) -> None:
    """What the import format refuses beyond the API: user ids of other characters."""
    names = ["user_id", *(["id"] if mapping.kind == "user" else [])]
    for name in (n for n in names if n in values):
        b.fail(
            pc.invert(pc.match_substring_regex(values[name], IMPORT_USER_ID)),
            values[name],
            _columns_of(mapping, name),
            name,
            Reason.FORMAT,
            "an import file's user ids use only letters, digits, _, - and @",
        )


def _import_members(
    res: Resource, members: list[tuple[str, Fragment]], n: int
) -> list[tuple[str, Fragment]]:
    """The members of an import line's data: the format's names, then its defaults."""
    named = [(res.import_names.get(k, k), f) for k, f in members]
    given = {k for k, _ in members}
    return named + [
        (k, quoted(pa.repeat(pa.scalar(v, pa.string()), n)))
        for k, v in res.import_defaults.items()
        if k not in given
    ]


def _too_large_by_api(
    mapping: Mapping,
    rows: np.ndarray,
    members: list[tuple[str, Fragment]],
    import_lines: pa.Array,
    around: int,
) -> list[RowError]:
    """The rows whose API JSON (``members`` by the API's names) is larger than a row may be,
    from the same rows' import lines (``around`` bytes each besides the data): only rows
    within reach of the limit (the API's names may be longer than the format's) have their
    API JSON built and measured."""
    res = mapping.resource
    slack = sum(max(0, len(json_key(k)) - len(json_key(res.import_names[k])))
                for k, _ in members if k in res.import_names)  # fmt: skip
    lengths = pc.binary_length(import_lines).to_numpy(zero_copy_only=False) - around
    near = lengths + slack > MAX_ACTIVITY_BYTES
    if not near.any():
        return []
    api_json = json_object([(k, _kept(f, ~near)) for k, f in members], first_present=True)
    return _refused(mapping, rows[near], api_json, [])


def _insecure_urls(
    rows: np.ndarray,
    lines: pa.Array,
    attachments: Fragment | None,
    bad: np.ndarray,
    from_templates: bool,
) -> list[RowError]:
    """Attachment URLs an import file refuses (not https://), from the rows' import lines.
    Rows whose every ``_url`` member is https are passed in one vectorised count; only the
    others are parsed. The count looks at the attachments alone where the mapping writes
    them from templates (every URL a JSON string there), else at the whole line."""
    if attachments is None:
        return []  # no attachments: nothing to refuse
    kept = _kept(attachments, bad)
    scanned = (kept.inner if isinstance(kept, Wrapped) else kept) if from_templates else lines
    urls = pc.count_substring(scanned, '_url":"')
    safe = pc.count_substring(scanned, '_url":"https://')
    unsafe = pc.fill_null(pc.not_equal(urls, safe), False).to_numpy(zero_copy_only=False)
    errors: list[RowError] = []
    for i in np.flatnonzero(unsafe).tolist():
        data = orjson.loads(lines[i].as_py())["data"]
        for j, attachment in enumerate(data.get("attachments") or []):
            for key in IMPORT_URL_FIELDS:
                url = attachment.get(key)
                if url is not None and not str(url).startswith("https://"):
                    errors.append(RowError(int(rows[i]), "", f"attachments[{j}].{key}",
                                           Reason.FORMAT.value,
                                           "must be an https:// URL in an import file",
                                           url))  # fmt: skip
    return errors


def _kept(fragment: Fragment, bad: np.ndarray) -> Fragment:
    """The fragment's rows that are not bad."""
    if not bad.any():
        return fragment
    keep = pa.array(~bad)
    if isinstance(fragment, Wrapped):
        return fragment._replace(inner=fragment.inner.filter(keep))
    return fragment.filter(keep)


def _derived_ids(body: pa.Array) -> list[str]:
    """Ids from each activity's content: the same row always gets the same id."""
    return [
        "fk-" + hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
        for text in body.to_pylist()
    ]
