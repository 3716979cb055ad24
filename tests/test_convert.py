"""Tables -> activities: a corpus of bad input, exact round trips, derived ids, and properties.

The corpus holds one tiny source per kind of bad input. Each case says exactly which rows fail,
on which field, with which :class:`Reason` code (and from which column), and which rows still
convert; every case also checks that each row is either valid or in the error table, never
both, never neither, and that every valid activity passes :func:`validate_activity`.
"""

from __future__ import annotations

import calendar
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.convert import ERROR_COLUMNS, Conversion, convert
from feedkit.mapping import Mapping, MappingError
from feedkit.schema import Reason, parse_time, validate_activity

BASE: dict[str, Any] = {"id": {"derive": True}, "type": "post", "feeds": ["user:{u}"]}
LOC: dict[str, Any] = {**BASE, "location": {"lat": "lat", "lng": "lng"}}
LONG = "x" * 256
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")


def _ns(year: int, month: int, day: int, h: int = 0, m: int = 0, s: int = 0, frac: int = 0) -> int:
    """Nanoseconds since the epoch of a UTC time, computed without feedkit."""
    return calendar.timegm((year, month, day, h, m, s)) * 1_000_000_000 + frac


def _check_invariants(conv: Conversion, rows_read: int | None = None) -> None:
    """Every row valid xor in the error table; counts agree; valid activities pass the schema."""
    assert list(conv.errors.columns) == ERROR_COLUMNS
    valid = conv.rows
    failed = set(conv.errors["row"].tolist())
    assert len(valid) == len(set(valid)), "a row is converted twice"
    assert len(valid) == len(conv.activities)
    assert not set(valid) & failed, f"rows both valid and failed: {set(valid) & failed}"
    assert conv.valid + conv.invalid == conv.rows_read
    assert len(set(valid) | failed) == conv.rows_read, "a row is neither valid nor failed"
    if rows_read is not None:
        assert conv.rows_read == rows_read
        assert set(valid) | failed == set(range(rows_read))
    for activity in conv.activities:
        assert validate_activity(activity) == [], activity


def _run(source: Any, activity: dict[str, Any], **kwargs: Any) -> Conversion:
    """Convert with a mapping; one that maps no id derives them (the ids are not the point)."""
    columns = kwargs.pop("columns", None)
    activity = {"id": {"derive": True}, **activity}
    return feedkit.to_activities(source, Mapping.build(activity, columns), **kwargs)


# -- source builders -------------------------------------------------------------------------

Make = Callable[[Path], Any]


def frame(**columns: Any) -> Make:
    return lambda tmp: pd.DataFrame(columns)


def csv(text: str | bytes, name: str = "bad.csv") -> Make:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    return make


def parquet(table: pa.Table) -> Make:
    def make(tmp: Path) -> Path:
        pq.write_table(table, tmp / "bad.parquet")
        return tmp / "bad.parquet"

    return make


# -- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """One kind of bad input: the source, the mapping, the failures and the rows that pass.

    ``errors`` holds (row, field, code, column); a column of None is not checked.
    """

    id: str
    make: Make
    activity: dict[str, Any]
    errors: set[tuple[int, str, str, str | None]]
    valid: list[int]
    read: int
    columns: dict[str, str] = field(default_factory=dict)
    batch_rows: int = 10_000


def _feed(bad_feed: str, case_id: str) -> Bad:
    return Bad(
        case_id,
        frame(f=["user:ok", bad_feed, "topic:also-ok"]),
        {"type": "post", "feeds": ["{f}"]},
        {(1, "feeds[0]", "feed_format", "f")},
        [0, 2],
        3,
    )


def _too_long(name: str) -> Bad:
    return Bad(
        f"{name}_too_long",
        frame(u=["a", "b", "c"], v=["ok", LONG, "x" * 255]),
        {**BASE, name: "{v}"},
        {(1, name, "too_long", "v")},
        [0, 2],
        3,
    )


CORPUS: list[Bad] = [
    # wrong types
    Bad(
        "csv_lat_not_a_number",
        csv("u,lat,lng\na,1.5,2\nb,abc,2\nc,-3,4\n"),
        LOC,
        {(1, "location.lat", "type", "lat")},
        [0, 2],
        3,
    ),
    Bad(
        "frame_object_lat_string",
        frame(u=["a", "b", "c"], lat=[1.0, "abc", 2.5], lng=[1.0, 1.0, 1.0]),
        LOC,
        {(1, "location.lat", "type", "lat")},
        [0, 2],
        3,
    ),
    Bad(
        "bool_lat",
        frame(u=["a", "b"], lat=pd.array([True, None], dtype="boolean"), lng=[1.0, float("nan")]),
        LOC,
        {(0, "location.lat", "type", "lat")},
        [1],
        2,
    ),
    Bad(
        "list_in_string_field",
        frame(u=["a", "b", "c"], tags=[["x", "y"], None, ["z"]]),
        {**BASE, "text": "{tags}"},
        {(0, "text", "type", "tags"), (2, "text", "type", "tags")},
        [1],
        3,
    ),
    Bad(
        "csv_declared_int_not_an_int",
        csv("u,likes\na,1\nb,many\nc,3\n"),
        {**BASE, "custom": ["likes"]},
        {(1, "custom.likes", "type", "likes")},
        [0, 2],
        3,
        columns={"likes": "int"},
    ),
    Bad(
        "csv_inferred_int_then_text_in_a_later_batch",
        csv("u,likes\na,1\nb,2\nc,3\nd,lots\ne,5\n"),
        {**BASE, "custom": ["likes"]},
        {(3, "custom.likes", "type", "likes")},
        [0, 1, 2, 4],
        5,
        batch_rows=2,
    ),
    Bad(
        "csv_declared_bool_not_a_bool",
        csv("u,flag\na,true\nb,maybe\nc,FALSE\n"),
        {**BASE, "custom": ["flag"]},
        {(1, "custom.flag", "type", "flag")},
        [0, 2],
        3,
        columns={"flag": "bool"},
    ),
    Bad(
        "csv_declared_timestamp_not_a_time",
        csv("u,when\na,2030-01-01T00:00:00Z\nb,soon\nc,\n"),
        {**BASE, "custom": ["when"]},
        {(1, "custom.when", "time_format", "when")},
        [0, 2],
        3,
        columns={"when": "timestamp"},
    ),
    # nulls and empties in required fields
    Bad(
        "type_null",
        frame(u=["a", "b", "c"], t=["post", None, "video"]),
        {"type": "{t}", "feeds": ["user:{u}"]},
        {(1, "type", "required", "t")},
        [0, 2],
        3,
    ),
    Bad(
        "csv_type_empty",
        csv("u,t\na,post\nb,\nc,video\n"),
        {"type": "{t}", "feeds": ["user:{u}"]},
        {(1, "type", "required", "t")},
        [0, 2],
        3,
    ),
    Bad(
        "feeds_all_empty",
        frame(u=["a", "", None, "d"], t=["x", None, "", None]),
        {"type": "post", "feeds": ["user:{u}", "topic:{t}"]},
        {(1, "feeds", "required", "u,t"), (2, "feeds", "required", "u,t")},
        [0, 3],
        4,
    ),
    Bad(
        "id_empty",
        frame(u=["a", "b", "c", "d"], i=["x", "", None, "y"]),
        {**BASE, "id": "{i}"},
        {(1, "id", "required", "i"), (2, "id", "required", "i")},
        [0, 3],
        4,
    ),
    # too long
    _too_long("id"),
    _too_long("type"),
    _too_long("user_id"),
    _too_long("parent_id"),
    # bad feed ids
    _feed("nocolon", "feed_no_colon"),
    _feed("user:with space", "feed_with_space"),
    _feed("user:a:b", "feed_two_colons"),
    _feed(":alice", "feed_empty_group"),
    _feed("user:", "feed_empty_id"),
    _feed("us er:alice", "feed_space_in_group"),
    Bad(
        "feeds_too_many",
        frame(u=["a", "b"], fs=[",".join(f"g:{i}" for i in range(25)), "g:x," * 26]),
        {"type": "post", "feeds": {"column": "fs", "split": ","}},
        {(1, "feeds", "too_many", "fs")},
        [0],
        2,
    ),
    # locations
    Bad(
        "lat_out_of_range",
        frame(u=["a", "b", "c", "d"], lat=[0.0, 90.5, -90.0, -91.0], lng=[0.0, 0.0, 0.0, 0.0]),
        LOC,
        {(1, "location.lat", "range", "lat"), (3, "location.lat", "range", "lat")},
        [0, 2],
        4,
    ),
    Bad(
        "lng_out_of_range",
        frame(u=["a", "b", "c"], lat=[0.0, 0.0, 0.0], lng=[180.0, -180.01, 999.0]),
        LOC,
        {(1, "location.lng", "range", "lng"), (2, "location.lng", "range", "lng")},
        [0],
        3,
    ),
    Bad(
        "lat_infinite",
        frame(u=["a", "b", "c"], lat=[1.0, np.inf, -np.inf], lng=[1.0, 1.0, 1.0]),
        LOC,
        {(1, "location.lat", "type", "lat"), (2, "location.lat", "type", "lat")},
        [0],
        3,
    ),
    Bad(
        "csv_lng_inf",
        csv("u,lat,lng\na,1,2\nb,1,inf\nc,,\n"),
        LOC,
        {(1, "location.lng", "type", "lng")},
        [0, 2],
        3,
    ),
    Bad(
        "lat_nan_with_lng",  # NaN is pandas' missing value: lat is missing, lng is given
        frame(u=["a", "b", "c"], lat=[1.0, np.nan, np.nan], lng=[1.0, 2.0, np.nan]),
        LOC,
        {(1, "location.lat", "required", "lat")},
        [0, 2],
        3,
    ),
    Bad(
        "lng_missing",
        frame(u=["a", "b"], lat=[1.0, 2.0], lng=[1.0, None]),
        LOC,
        {(1, "location.lng", "required", "lng")},
        [0],
        2,
    ),
    # lists
    Bad(
        "filter_tags_51",
        frame(u=["a", "b"], tags=[[f"t{i}" for i in range(50)], [f"t{i}" for i in range(51)]]),
        {**BASE, "filter_tags": "{tags}"},
        {(1, "filter_tags", "too_many", "tags")},
        [0],
        2,
    ),
    Bad(
        "mentions_26",
        frame(u=["a", "b"], m=[" ".join(["m"] * 25), " ".join(["m"] * 26)]),
        {**BASE, "mentioned_user_ids": {"column": "m", "split": " "}},
        {(1, "mentioned_user_ids", "too_many", "m")},
        [0],
        2,
    ),
    Bad(
        "mention_too_long",
        frame(u=["a", "b"], m=["bob " + "x" * 255, "bob " + LONG]),
        {**BASE, "mentioned_user_ids": {"column": "m", "split": " "}},
        {(1, "mentioned_user_ids[1]", "too_long", "m")},
        [0],
        2,
    ),
    # choices and dependencies
    Bad(
        "visibility_not_a_choice",
        frame(u=["a", "b", "c", "d"], v=["public", "secret", "PRIVATE", "private"]),
        {**BASE, "visibility": "{v}"},
        {(1, "visibility", "choice", "v"), (2, "visibility", "choice", "v")},
        [0, 3],
        4,
    ),
    Bad(
        "visibility_tag_missing",
        frame(u=["a", "b", "c"], v=["tag", "tag", "public"], vt=["staff", None, None]),
        {**BASE, "visibility": "{v}", "visibility_tag": "{vt}"},
        {(1, "visibility_tag", "dependency", None)},
        [0, 2],
        3,
    ),
    Bad(
        "visibility_tag_33",
        frame(u=["a", "b"], vt=["x" * 32, "x" * 33]),
        {**BASE, "visibility": "tag", "visibility_tag": "{vt}"},
        {(1, "visibility_tag", "too_long", "vt")},
        [0],
        2,
    ),
    Bad(
        "restrict_replies_not_a_choice",
        frame(u=["a", "b", "c"], r=["nobody", "friends", "people_i_follow"]),
        {**BASE, "restrict_replies": "{r}"},
        {(1, "restrict_replies", "choice", "r")},
        [0, 2],
        3,
    ),
    # times
    Bad(
        "expires_at_unparseable",
        frame(u=["a", "b", "c"], e=["2030-01-01T00:00:00Z", "next tuesday", None]),
        {**BASE, "expires_at": "{e}"},
        {(1, "expires_at", "time_format", "e")},
        [0, 2],
        3,
    ),
    Bad(
        "expires_at_without_offset",
        frame(u=["a", "b"], e=["2030-01-01T00:00:00+01:00", "2030-01-01T00:00:00"]),
        {**BASE, "expires_at": "{e}"},
        {(1, "expires_at", "timezone", "e")},
        [0],
        2,
    ),
    Bad(
        "expires_at_impossible_date",
        frame(u=["a", "b", "c"], e=["2030-12-31T23:59:59Z", "2030-13-45T00:00:00Z", None]),
        {**BASE, "expires_at": "{e}"},
        {(1, "expires_at", "time_format", "e")},
        [0, 2],
        3,
    ),
    Bad(
        "expires_at_naive_datetime64",
        frame(u=["a", "b"], e=pd.to_datetime(["2030-01-01", None])),
        {**BASE, "expires_at": "{e}"},
        {(0, "expires_at", "timezone", "e")},
        [1],
        2,
    ),
    Bad(
        "expires_at_naive_parquet_timestamp",
        parquet(
            pa.table(
                {
                    "u": ["a", "b"],
                    "e": pa.array([1_900_000_000_000_000, None], pa.timestamp("us")),
                }
            )
        ),
        {**BASE, "expires_at": "{e}"},
        {(0, "expires_at", "timezone", "e")},
        [1],
        2,
    ),
    # rows that cannot be read
    Bad(
        "csv_too_few_fields",
        csv("u,t\na,x\nb\nc,z\n"),
        {**BASE, "text": "{t}"},
        {(1, "", "malformed_row", "")},
        [0, 2],
        3,
    ),
    Bad(
        "csv_too_many_fields",
        csv("u,t\na,x\nb,y,surplus\nc,z\n"),
        {**BASE, "text": "{t}"},
        {(1, "", "malformed_row", "")},
        [0, 2],
        3,
    ),
    Bad(
        "csv_invalid_utf8",
        csv(b"u,t\na,x\nb,caf\xe9\nc,z\n"),
        {**BASE, "text": "{t}"},
        {(1, "text", "encoding", "t")},
        [0, 2],
        3,
    ),
    Bad(
        "tsv_ragged_and_invalid_utf8",
        csv(b"u\tt\na\tx\nb\nc\t\xff\nd\tw\n", name="bad.tsv"),
        {**BASE, "text": "{t}"},
        {(1, "", "malformed_row", ""), (2, "text", "encoding", "t")},
        [0, 3],
        4,
    ),
]


def test_corpus_is_large_enough() -> None:
    assert len({case.id for case in CORPUS}) == len(CORPUS) >= 30


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_bad_input(case: Bad, tmp_path: Path) -> None:
    conv = _run(
        case.make(tmp_path), case.activity, columns=case.columns, batch_rows=case.batch_rows
    )
    found = sorted(
        conv.errors[["row", "field", "code", "column"]].itertuples(index=False, name=None)
    )
    expected = sorted(case.errors, key=lambda e: e[:3])
    assert [e[:3] for e in found] == [e[:3] for e in expected], found
    for (*_, column), (*_, want) in zip(found, expected, strict=True):
        assert want is None or column == want, (found, expected)
    assert conv.rows == case.valid
    assert conv.rows_read == case.read
    assert conv.invalid == len({r for r, *_ in case.errors})
    assert conv.valid == len(case.valid)
    _check_invariants(conv, case.read)
    assert all(isinstance(m, str) and m for m in conv.errors["message"])


def test_list_column_in_a_string_field_never_becomes_bracket_text() -> None:
    # An empty list is an empty value: the field is left unset (or the row refused), never
    # filled with the text "[]".
    conv = _run(pd.DataFrame({"u": ["a"], "tags": [[]]}), {**BASE, "text": "{tags}"})
    _check_invariants(conv, 1)
    assert all("text" not in a for a in conv.activities), conv.activities


def test_empty_time_string_leaves_the_field_unset(tmp_path: Path) -> None:
    # An empty referenced value leaves the field unset, for times as for every other field.
    mapping = {**BASE, "expires_at": "{e}"}
    df = pd.DataFrame({"u": ["a", "b", "c"], "e": ["2030-01-01T00:00:00Z", "", None]})
    path = tmp_path / "e.csv"
    path.write_text('u,e\na,2030-01-01T00:00:00Z\nb,""\nc,\n')
    for source in (df, path):
        conv = _run(source, mapping)
        assert conv.errors.empty, conv.errors.to_dict("records")
        assert conv.rows == [0, 1, 2]
        assert ["expires_at" in a for a in conv.activities] == [True, False, False]


def test_type_error_in_location_is_reported_once() -> None:
    # A latitude that is there but not a number is a type error, not also "required".
    df = pd.DataFrame({"u": ["a"], "lat": ["north"], "lng": [4.5]})
    conv = _run(df, LOC)
    assert conv.errors[["row", "field", "code"]].values.tolist() == [[0, "location.lat", "type"]]


# -- empty and unreadable sources ----------------------------------------------------------------


def test_empty_file_has_no_rows_and_no_errors(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    conv = _run(path, {**BASE, "text": "{t}"})
    assert (conv.rows_read, conv.valid, conv.invalid, conv.activities) == (0, 0, 0, [])
    assert conv.errors.empty and list(conv.errors.columns) == ERROR_COLUMNS


@pytest.mark.parametrize("text", ["u,t\n", "u,t"])
def test_header_only_csv(tmp_path: Path, text: str) -> None:
    path = tmp_path / "header.csv"
    path.write_text(text)
    conv = _run(path, {**BASE, "text": "{t}"})
    assert (conv.rows_read, conv.valid, conv.invalid) == (0, 0, 0)
    assert conv.errors.empty


def test_empty_dataframe() -> None:
    conv = _run(pd.DataFrame({"u": pd.Series([], dtype=object)}), BASE)
    assert (conv.rows_read, conv.valid, conv.invalid) == (0, 0, 0)


def _one_row_sources(tmp_path: Path) -> dict[str, Any]:
    table = pa.table({"u": ["a"], "t": ["x"]})
    pq.write_table(table, tmp_path / "s.parquet")
    (tmp_path / "s.csv").write_text("u,t\na,x\n")
    return {
        "DataFrame": table.to_pandas(),
        "Table": table,
        "RecordBatchReader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "Parquet": tmp_path / "s.parquet",
        "CSV": tmp_path / "s.csv",
    }


@pytest.mark.parametrize("kind", ["DataFrame", "Table", "RecordBatchReader", "Parquet", "CSV"])
def test_missing_mapped_column_is_a_mapping_error(tmp_path: Path, kind: str) -> None:
    source = _one_row_sources(tmp_path)[kind]
    with pytest.raises(MappingError, match="body") as caught:
        _run(source, {**BASE, "text": "{t}", "search_data": {"b": "{body}"}})
    assert caught.value.columns == ["body"]


@pytest.mark.parametrize("kind", ["DataFrame", "Table", "RecordBatchReader", "Parquet", "CSV"])
def test_convert_refuses_a_missing_column_before_reading(tmp_path: Path, kind: str) -> None:
    # The lazy API fails when called, not at the first batch: an import must not start.
    source = _one_row_sources(tmp_path)[kind]
    with pytest.raises(MappingError, match="body"):
        convert(source, Mapping.build({**BASE, "text": "{body}"}))


# -- text fidelity -----------------------------------------------------------------------------

UNICODE = [
    "emoji 😀👩‍👩‍👧 ✨",
    "中文 日本語 한국어",
    "שלום עולם مرحبا",  # right to left
    "e\u0301 combining, \u200b zero width, \ufeff bom",
    "quotes \"double\" 'single', comma, back\\slash",
    "  leading and trailing spaces  ",
]
CONTROL = (
    "nul\x00 soh\x01 bs\b tab\t nl\n vt\x0b ff\x0c cr\r esc\x1b us\x1f del\x7f ls\u2028 ps\u2029"
)


def test_unicode_round_trips_through_csv(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    body = "".join(f'u{i},"{t.replace(chr(34), chr(34) * 2)}"\n' for i, t in enumerate(UNICODE))
    path.write_text("u,t\n" + body, encoding="utf-8")
    conv = _run(path, {**BASE, "text": "{t}", "custom": {"t": "{t}"}})
    _check_invariants(conv, len(UNICODE))
    assert [a["text"] for a in conv.activities] == UNICODE
    assert [a["custom"]["t"] for a in conv.activities] == UNICODE


def test_unicode_and_control_characters_round_trip_through_json() -> None:
    texts = [*UNICODE, CONTROL, "".join(chr(i) for i in range(1, 0x20))]
    df = pd.DataFrame({"u": [f"u{i}" for i in range(len(texts))], "t": texts})
    mapping = Mapping.build(
        {**BASE, "text": "{t}", "custom": {"t": "{t}", "k.x": "<{{{t}}}>"}, "search_data": ["t"]}
    )
    _, batches = convert(df, mapping)
    payloads = [text for cb in batches for text in cb.json.to_pylist()]
    # Strict JSON: the standard parser refuses raw control characters inside strings.
    decoded = [json.loads(p) for p in payloads]
    assert [a["text"] for a in decoded] == texts
    assert [a["custom"] for a in decoded] == [{"t": t, "k": {"x": f"<{{{t}}}>"}} for t in texts]
    assert [a["search_data"]["t"] for a in decoded] == texts
    assert decoded == feedkit.to_activities(df, mapping).activities


def test_quoted_newlines_and_quotes_in_csv_values(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('u,t\na,"line 1\nline 2\n"\nb,"say ""hi"", then go"\nc,"a\r\nb"\nd,plain\n')
    conv = _run(path, {**BASE, "text": "{t}"})
    _check_invariants(conv, 4)
    assert [a["text"] for a in conv.activities] == [
        "line 1\nline 2\n",
        'say "hi", then go',
        "a\r\nb",
        "plain",
    ]


def test_csv_text_that_looks_like_a_null_marker_is_kept(tmp_path: Path) -> None:
    # In a CSV only an empty cell is missing: "NA", "null", "N/A" are text someone wrote.
    words = ["NA", "null", "N/A", "nan", "NULL", "#N/A", "None"]
    path = tmp_path / "n.csv"
    path.write_text("u,t\n" + "".join(f"{w},{w}\n" for w in words))
    conv = _run(path, {"type": "post", "feeds": ["user:u{u}"], "user_id": "{u}", "text": "{t}"})
    _check_invariants(conv, len(words))
    assert [(a["user_id"], a["text"]) for a in conv.activities] == [(w, w) for w in words]


# -- types -----------------------------------------------------------------------------------


def test_custom_keeps_int_and_float_types() -> None:
    df = pd.DataFrame(
        {
            "u": ["a", "b", "c"],
            "n": [3, 0, -7],
            "f": [2.0, 1.5, -0.0],
            "big": [2**53 + 1, 1, 2],
            "flag": [True, False, True],
        }
    )
    conv = _run(df, {**BASE, "custom": ["n", "f", "big", "flag"]})
    customs = [a["custom"] for a in conv.activities]
    assert [c["n"] for c in customs] == [3, 0, -7]
    assert all(type(c["n"]) is int for c in customs)
    assert [c["f"] for c in customs] == [2.0, 1.5, -0.0]
    assert [type(c["f"]) for c in customs] == [float, float, float], customs
    assert [c["big"] for c in customs] == [2**53 + 1, 1, 2]
    assert [c["flag"] for c in customs] == [True, False, True]


def test_csv_inferred_and_declared_types(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("u,n,f,b,s,z\na,1,1.5,true,007,10\nb,-2,3.25,FALSE,x,20\nc,,,,,\n")
    conv = _run(path, {**BASE, "custom": ["n", "f", "b", "s", "z"]}, columns={"z": "string"})
    _check_invariants(conv, 3)
    assert [a.get("custom") for a in conv.activities] == [
        {"n": 1, "f": 1.5, "b": True, "s": "007", "z": "10"},
        {"n": -2, "f": 3.25, "b": False, "s": "x", "z": "20"},
        None,
    ]
    assert type(conv.activities[1]["custom"]["f"]) is float


def test_csv_inferred_type_is_held_for_the_whole_file(tmp_path: Path) -> None:
    # Types are inferred from the first batch that has values, then held: within one
    # conversion a column never mixes ints and strings. When the first batch already shows
    # a non-int, the column is text; when a later batch does, that row is a type error
    # (the corpus case csv_inferred_int_then_text_in_a_later_batch).
    path = tmp_path / "likes.csv"
    path.write_text("u,likes\na,1\nb,2\nc,3\nd,lots\ne,5\n")
    for batch_rows in (2, 10_000):
        conv = _run(path, {**BASE, "custom": ["likes"]}, batch_rows=batch_rows)
        _check_invariants(conv, 5)
        kinds = {type(a["custom"]["likes"]) for a in conv.activities}
        assert len(kinds) == 1, (batch_rows, conv.activities)
    whole = _run(path, {**BASE, "custom": ["likes"]})
    assert [a["custom"]["likes"] for a in whole.activities] == ["1", "2", "3", "lots", "5"]
    late = _run(path, {**BASE, "custom": ["likes"]}, batch_rows=1)
    assert late.errors[["row", "code"]].values.tolist() == [[3, "type"]]


def test_template_with_text_around_makes_a_string() -> None:
    df = pd.DataFrame({"u": ["a"], "n": [5], "f": [0.25]})
    conv = _run(df, {**BASE, "custom": {"label": "n={n}", "n": "{n}"}, "text": "{f}"})
    (activity,) = conv.activities
    assert activity["custom"] == {"label": "n=5", "n": 5}
    assert activity["text"] == "0.25"


def test_int_column_in_string_fields_becomes_text() -> None:
    df = pd.DataFrame({"author": [42, 7], "post": [1001, 1002]})
    conv = _run(
        df, {"id": "{post}", "type": "post", "feeds": ["user:{author}"], "user_id": "{author}"}
    )
    assert [(a["id"], a["user_id"], a["feeds"]) for a in conv.activities] == [
        ("1001", "42", ["user:42"]),
        ("1002", "7", ["user:7"]),
    ]


# -- Arrow-backed pandas, Arrow tables and readers, Parquet ------------------------------------


def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "u": ["a", "b", None],
            "n": [1, 2, 3],
            "f": [1.5, None, 2.5],
            "ok": [True, False, None],
            "lat": [10.0, None, -20.5],
            "lng": [20.0, None, 30.25],
        }
    )


def test_arrow_backed_pandas_dtypes() -> None:
    df = _typed_frame().convert_dtypes(dtype_backend="pyarrow")
    assert all(isinstance(t, pd.ArrowDtype) for t in df.dtypes)
    mapping = {**LOC, "custom": ["n", "f", "ok"], "user_id": "{u}"}
    conv = _run(df, mapping)
    _check_invariants(conv, 3)
    assert conv.rows == [0, 1]
    assert conv.errors[["row", "field", "code"]].values.tolist() == [[2, "feeds", "required"]]
    first, second = conv.activities
    assert first["custom"] == {"n": 1, "f": 1.5, "ok": True}
    assert first["location"] == {"lat": 10.0, "lng": 20.0}
    assert second["custom"] == {"n": 2, "ok": False}
    assert "location" not in second
    assert conv.activities == _run(_typed_frame(), mapping).activities


def test_arrow_list_dtype_column_for_filter_tags() -> None:
    tags = pd.array(
        [["x", "y"], None, [], [" padded ", "", "z"]], dtype=pd.ArrowDtype(pa.list_(pa.string()))
    )
    df = pd.DataFrame({"u": ["a", "b", "c", "d"], "tags": tags})
    conv = _run(df, {**BASE, "filter_tags": "{tags}"})
    _check_invariants(conv, 4)
    assert [a.get("filter_tags") for a in conv.activities] == [
        ["x", "y"],
        None,
        None,
        ["padded", "z"],
    ]


def test_pyarrow_table_and_record_batch_reader() -> None:
    table = pa.table({"u": [f"u{i}" for i in range(7)], "n": list(range(7))})
    mapping = {**BASE, "custom": ["n"]}
    from_table = _run(table, mapping, batch_rows=3)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=2))
    from_reader = _run(reader, mapping, batch_rows=3)
    from_frame = _run(table.to_pandas(), mapping)
    for conv in (from_table, from_reader, from_frame):
        _check_invariants(conv, 7)
        assert conv.rows == list(range(7))
    assert from_table.activities == from_reader.activities == from_frame.activities
    assert [a["custom"]["n"] for a in from_table.activities] == list(range(7))


def test_parquet_with_list_tags_and_utc_timestamps(tmp_path: Path) -> None:
    expires = [_ns(2030, 3, 17, 17, 46, 40, 123_456_000), None, _ns(1999, 12, 31, 23, 59, 59)]
    table = pa.table(
        {
            "u": ["a", "b", "c"],
            "tags": pa.array([["x", "y"], [], None], pa.list_(pa.string())),
            "topics": pa.array([["t1"], ["t2", "t3"], None], pa.large_list(pa.string())),
            "expires": pa.array(
                [None if e is None else e // 1000 for e in expires], pa.timestamp("us", tz="UTC")
            ),
            "created": pa.array([1, 2, 3], pa.timestamp("s", tz="Europe/Paris")),
        }
    )
    path = tmp_path / "posts.parquet"
    pq.write_table(table, path)
    mapping = {
        **BASE,
        "filter_tags": "{tags}",
        "interest_tags": {"column": "topics", "split": "|"},  # split ignored for lists
        "expires_at": "{expires}",
        "created_at": "{created}",
        "custom": ["expires"],
    }
    conv = _run(path, mapping, batch_rows=2)
    assert conv.rows == [0, 1, 2] and conv.errors.empty
    acts = conv.activities
    assert [a.get("filter_tags") for a in acts] == [["x", "y"], None, None]
    assert [a.get("interest_tags") for a in acts] == [["t1"], ["t2", "t3"], None]
    for activity, want in zip(acts, expires, strict=True):
        assert validate_activity(activity) == []
        if want is None:
            assert "expires_at" not in activity
            continue
        assert RFC3339_Z.match(activity["expires_at"]), activity["expires_at"]
        assert parse_time(activity["expires_at"]) == want
        assert parse_time(activity["custom"]["expires"]) == want
    # created_at is for bulk import files (history); the API's activities do not carry it.
    assert all("created_at" not in a for a in acts)
    kept = _run(path, mapping, batch_rows=2, history=True).activities
    assert [parse_time(a["created_at"]) for a in kept] == [s * 10**9 for s in (1, 2, 3)]
    assert all(RFC3339_Z.match(a["created_at"]) for a in kept)
    drop = ("id", "created_at")  # derived ids follow the content, created_at included
    assert [{k: v for k, v in a.items() if k not in drop} for a in kept] == [
        {k: v for k, v in a.items() if k != "id"} for a in acts
    ]


# -- exact round trip ----------------------------------------------------------------------------

ROUND_TRIP_MAPPING: dict[str, Any] = {
    "id": "{pid}",
    "type": "{kind}",
    "user_id": "{author}",
    "feeds": ["user:{author}", "topic:{topic}"],
    "text": "{body}",
    "visibility": "{vis}",
    "visibility_tag": "{vtag}",
    "restrict_replies": "{rr}",
    "parent_id": "{parent}",
    "poll_id": "{poll}",
    "expires_at": "{expires}",
    "location": {"lat": "lat", "lng": "lng"},
    "mentioned_user_ids": {"column": "mentions", "split": " "},
    "filter_tags": "{tags}",
    "interest_tags": {"column": "interests", "split": "|"},
    "custom": {
        "likes": "{likes}",
        "score": "{score}",
        "lang": "{lang}",
        "meta.source": "legacy",
        "meta.label": "by {author}",
    },
    "search_data": {"title": "{title}"},
    "attachments": [{"type": "image", "image_url": "{image}", "title": "{title}"}],
}


def _round_trip_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": ["p1", "p2", "p3"],
            "kind": ["post", "video", "like"],
            "author": ["alice", "bob", "carol"],
            "topic": ["python", "cycling", "books"],
            "body": ['Hello 👋 "quoted", comma', "second\nline", None],
            "vis": ["public", "tag", None],
            "vtag": [None, "staff", None],
            "rr": ["everyone", "nobody", "people_i_follow"],
            "parent": [None, "p1", "p2"],
            "poll": ["poll1", None, None],
            "expires": [
                "2030-01-01T00:00:00Z",
                "2031-06-15T12:30:45.123456789+02:00",
                None,
            ],
            "lat": [52.37, -33.87, None],
            "lng": [4.89, 151.21, None],
            "mentions": ["bob carol", "", None],
            "tags": [["a", "b"], ["c"], None],
            "interests": ["x|y", "z", ""],
            "likes": [10, 0, 2],
            "score": [0.5, 1.25, -3.75],
            "lang": ["en", "fr", "日本語"],
            "title": ["T1", None, None],
            "image": ["https://img.example/1.png", None, "https://img.example/3.png"],
        }
    )


EXPECTED_ROUND_TRIP: list[dict[str, Any]] = [
    {
        "id": "p1",
        "type": "post",
        "user_id": "alice",
        "feeds": ["user:alice", "topic:python"],
        "text": 'Hello 👋 "quoted", comma',
        "visibility": "public",
        "restrict_replies": "everyone",
        "poll_id": "poll1",
        "location": {"lat": 52.37, "lng": 4.89},
        "mentioned_user_ids": ["bob", "carol"],
        "filter_tags": ["a", "b"],
        "interest_tags": ["x", "y"],
        "attachments": [
            {"type": "image", "image_url": "https://img.example/1.png", "title": "T1", "custom": {}}
        ],
        "custom": {
            "likes": 10,
            "score": 0.5,
            "lang": "en",
            "meta": {"source": "legacy", "label": "by alice"},
        },
        "search_data": {"title": "T1"},
    },
    {
        "id": "p2",
        "type": "video",
        "user_id": "bob",
        "feeds": ["user:bob", "topic:cycling"],
        "text": "second\nline",
        "visibility": "tag",
        "visibility_tag": "staff",
        "restrict_replies": "nobody",
        "parent_id": "p1",
        "location": {"lat": -33.87, "lng": 151.21},
        "filter_tags": ["c"],
        "interest_tags": ["z"],
        "custom": {
            "likes": 0,
            "score": 1.25,
            "lang": "fr",
            "meta": {"source": "legacy", "label": "by bob"},
        },
    },
    {
        "id": "p3",
        "type": "like",
        "user_id": "carol",
        "feeds": ["user:carol", "topic:books"],
        "restrict_replies": "people_i_follow",
        "parent_id": "p2",
        "attachments": [{"type": "image", "image_url": "https://img.example/3.png", "custom": {}}],
        "custom": {
            "likes": 2,
            "score": -3.75,
            "lang": "日本語",
            "meta": {"source": "legacy", "label": "by carol"},
        },
    },
]
EXPECTED_EXPIRES = [_ns(2030, 1, 1), _ns(2031, 6, 15, 10, 30, 45, 123_456_789), None]


def test_exact_round_trip() -> None:
    conv = _run(_round_trip_frame(), ROUND_TRIP_MAPPING)
    assert conv.errors.empty, conv.errors.to_dict("records")
    assert conv.rows == [0, 1, 2]
    for activity, expected, expires in zip(
        conv.activities, EXPECTED_ROUND_TRIP, EXPECTED_EXPIRES, strict=True
    ):
        activity = dict(activity)
        stamp = activity.pop("expires_at", None)
        if expires is None:
            assert stamp is None
        else:
            assert isinstance(stamp, str) and RFC3339_Z.match(stamp), stamp
            assert parse_time(stamp) == expires
        assert activity == expected
        for key in expected["custom"]:
            assert type(activity["custom"][key]) is type(expected["custom"][key]), key
    for activity in conv.activities:
        assert validate_activity(activity) == []


def test_round_trip_is_the_same_from_every_source_kind(tmp_path: Path) -> None:
    df = _round_trip_frame()
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, tmp_path / "rt.parquet")
    expected = _run(df, ROUND_TRIP_MAPPING).activities
    for source in (
        table,
        pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        tmp_path / "rt.parquet",
        df.convert_dtypes(dtype_backend="pyarrow"),
    ):
        assert _run(source, ROUND_TRIP_MAPPING, batch_rows=2).activities == expected


# -- derived ids -------------------------------------------------------------------------------


def test_derived_ids_are_stable_and_distinct() -> None:
    df = pd.DataFrame(
        {"u": ["a", "b", "a", "a"], "t": ["hello", "hello", "bye", "hello "], "n": [1, 1, 1, 1]}
    )
    mapping = {**BASE, "text": "{t}", "custom": ["n"]}
    first = _run(df, mapping)
    second = _run(df.copy(), mapping, batch_rows=1)
    ids = [a["id"] for a in first.activities]
    assert all(re.fullmatch(r"fk-[0-9a-f]+", i) for i in ids), ids
    assert ids == [a["id"] for a in second.activities]
    assert len(set(ids)) == len(ids)
    # The id follows the content: the same row elsewhere in another source has the same id.
    moved = _run(df.iloc[[3, 0]].reset_index(drop=True), mapping)
    assert [a["id"] for a in moved.activities] == [ids[3], ids[0]]


def test_derived_ids_from_csv_and_frame_agree(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("u,t\na,hello\nb,bye\n")
    mapping = {**BASE, "text": "{t}"}
    from_csv = [a["id"] for a in _run(path, mapping).activities]
    from_frame = [a["id"] for a in _run(pd.read_csv(path), mapping).activities]
    assert from_csv == from_frame
    assert all(i.startswith("fk-") for i in from_csv)


def test_mapped_ids_are_kept() -> None:
    conv = _run(pd.DataFrame({"u": ["a"], "i": ["my-id"]}), {**BASE, "id": "post-{i}"})
    assert [a["id"] for a in conv.activities] == ["post-my-id"]


# -- sources read in several blocks ---------------------------------------------------------


def test_big_csv_with_ragged_lines_keeps_every_row_once(tmp_path: Path) -> None:
    # A few MB of CSV are read in several blocks; ragged lines in later blocks must not shift
    # the record index of other rows (or a valid row would carry a failed row's index).
    bad = {5000, 9000, 14000}
    pad = "y" * 200
    path = tmp_path / "big.csv"
    path.write_text(
        "u,t\n" + "".join(f"u{i}\n" if i in bad else f"u{i},{pad}\n" for i in range(16_000))
    )
    conv = _run(path, {**BASE, "text": "{t}", "search_data": {"u": "{u}"}})
    _check_invariants(conv, 16_000)
    assert sorted(conv.errors["row"]) == sorted(bad)
    wrong = [
        (row, a["search_data"]["u"])
        for row, a in zip(conv.rows, conv.activities, strict=True)
        if a["search_data"]["u"] != f"u{row}"
    ]
    assert wrong == [], f"{len(wrong)} activities carry another record's index: {wrong[:3]}"


# -- agreement with the schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    "feed",
    [
        "user:a\u00a0b",  # no-break space
        "user:a\u3000b",  # ideographic space
        "user:a\u2028b",  # line separator
        "user:a\x0bb",  # vertical tab
        "user:a\x1fb",  # unit separator
        "user:a\x85b",  # next line
    ],
)
def test_feed_ids_the_schema_refuses_are_refused(feed: str) -> None:
    conv = _run(pd.DataFrame({"f": ["user:ok", feed]}), {"type": "post", "feeds": ["{f}"]})
    assert validate_activity({"type": "post", "feeds": [feed]}) != []
    _check_invariants(conv, 2)
    assert conv.errors[["row", "field", "code"]].values.tolist() == [[1, "feeds[0]", "feed_format"]]


# -- properties --------------------------------------------------------------------------------

WORDS = [
    "alice",
    "user:bob",
    "topic:x",
    "public",
    "private",
    "tag",
    "nobody",
    "everyone",
    "a b",
    "x:y:z",
    " padded ",
    "a,b,c",
    "2030-01-01T00:00:00Z",
    "😀",
    "中文",
    "שלום",
]
TEXTS = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.text(alphabet="ab,: |", max_size=10),
    st.text(alphabet="xy", min_size=250, max_size=260),
)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 45.5, 90.0, -90.0, 180.0, -180.0, 90.000001, 181.0, 1e300]),
)
LISTS = st.one_of(
    st.none(),
    st.lists(st.one_of(st.none(), st.sampled_from(WORDS), st.text(max_size=6)), max_size=55),
)
TIMES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            "2030-01-01T00:00:00Z",
            "2030-06-01T12:00:00.5+02:00",
            "2030-01-01T00:00:00",
            "2030-13-45T00:00:00Z",
            "tomorrow",
            "1969-12-31T23:59:59.999999999Z",
        ]
    ),
)
MAPPINGS = {
    "ids-location-tags": {
        "id": "{s1}",
        "type": "post",
        "feeds": ["user:{s2}"],
        "user_id": "{s2}",
        "text": "{s1} / {i}",
        "location": {"lat": "f1", "lng": "f2"},
        "filter_tags": "{tags}",
        "custom": ["i", "f1", "s1", "tags"],
    },
    "choices-times": {
        "id": {"derive": True},
        "type": "{s1}",
        "feeds": {"column": "s2", "split": ","},
        "visibility": "{s2}",
        "visibility_tag": "{s1}",
        "restrict_replies": "{s2}",
        "mentioned_user_ids": "{tags}",
        "expires_at": "{t}",
        "parent_id": "{s1}",
    },
    "objects-attachments": {
        "id": {"derive": True},
        "type": "post",
        "feeds": ["user:{i}", "{s1}"],
        "interest_tags": {"column": "s2", "split": " "},
        "search_data": {"a.b": "{s1}", "a.c": "{f1}", "n": "{i}"},
        "attachments": [{"type": "image", "image_url": "{s2}", "title": "{s1}"}],
        "poll_id": "{s2}",
    },
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 8))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    return pd.DataFrame(
        {
            "s1": pd.Series(column(TEXTS), dtype=object),
            "s2": pd.Series(column(TEXTS), dtype=object),
            "i": pd.Series(column(st.integers(-(2**53), 2**53)), dtype="int64"),
            "f1": pd.Series(column(FLOATS), dtype="float64"),
            "f2": pd.Series(column(FLOATS), dtype="float64"),
            "tags": pd.Series(column(LISTS), dtype=object),
            "t": pd.Series(column(TIMES), dtype=object),
        }
    )


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _same(a: Conversion, b: Conversion) -> None:
    assert a.activities == b.activities
    assert a.rows == b.rows
    assert a.rows_read == b.rows_read
    pd.testing.assert_frame_equal(a.errors, b.errors)


@PROPERTY_SETTINGS
@given(df=frames(), name=st.sampled_from(sorted(MAPPINGS)))
def test_every_row_is_valid_or_failed_and_batches_do_not_matter(
    df: pd.DataFrame, name: str
) -> None:
    mapping = Mapping.build(MAPPINGS[name])
    conv = feedkit.to_activities(df, mapping, batch_rows=1000)
    _check_invariants(conv, len(df))
    for batch_rows in (1, 3):
        _same(feedkit.to_activities(df, mapping, batch_rows=batch_rows), conv)


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text()), max_size=6))
def test_any_text_round_trips_exactly(texts: list[str | None]) -> None:
    df = pd.DataFrame(
        {"u": [f"u{i}" for i in range(len(texts))], "t": pd.Series(texts, dtype=object)}
    )
    conv = _run(df, {**BASE, "text": "{t}", "custom": {"t": "{t}"}})
    _check_invariants(conv, len(texts))
    assert conv.rows == list(range(len(texts)))
    for activity, text in zip(conv.activities, texts, strict=True):
        if text:
            assert activity["text"] == text
            assert activity["custom"] == {"t": text}
        else:
            assert "text" not in activity and "custom" not in activity


@PROPERTY_SETTINGS
@given(
    pairs=st.lists(
        st.tuples(
            st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_custom_numbers_round_trip(pairs: list[tuple[int, float]]) -> None:
    ints, floats = [p[0] for p in pairs], [p[1] for p in pairs]
    df = pd.DataFrame({"u": ["a"] * len(pairs), "n": ints, "f": floats})
    conv = _run(df, {**BASE, "custom": ["n", "f"]})
    _check_invariants(conv, len(pairs))
    assert [a["custom"]["n"] for a in conv.activities] == ints
    got = [a["custom"]["f"] for a in conv.activities]
    assert got == floats
    assert all(type(v) is float for v in got), got


@PROPERTY_SETTINGS
@given(lats=st.lists(FLOATS, min_size=1, max_size=6))
def test_location_validity_matches_the_schema(lats: list[float]) -> None:
    df = pd.DataFrame({"u": ["a"] * len(lats), "lat": lats, "lng": [0.0] * len(lats)})
    conv = _run(df, LOC)
    _check_invariants(conv, len(lats))
    for row, lat in enumerate(lats):
        # NaN is a missing latitude: with a longitude given, that is an error too.
        expected_ok = math.isfinite(lat) and -90 <= lat <= 90
        assert (row in conv.rows) is expected_ok, (row, lat)


def test_error_values_are_shown_and_bounded() -> None:
    conv = _run(pd.DataFrame({"u": ["a"], "v": ["y" * 1000]}), {**BASE, "text": "{v}", "id": "{v}"})
    (value,) = conv.errors["value"].tolist()
    assert isinstance(value, str) and len(value) <= 300 and value.startswith("yyy")


def test_conversion_repr() -> None:
    conv = _run(pd.DataFrame({"u": ["a", ""]}), BASE)
    assert repr(conv) == "Conversion(rows_read=2, valid=1, invalid=1, errors=1)"
    assert "<b>2</b> rows read" in conv._repr_html_()


def test_time_helpers_agree() -> None:
    assert RFC3339_Z.match("2030-01-01T00:00:00Z")
    assert parse_time("2031-06-15T12:30:45.123456789+02:00") == EXPECTED_EXPIRES[1]
    stamp = datetime.fromisoformat("2031-06-15T10:30:45+00:00").timestamp()
    assert _ns(2031, 6, 15, 10, 30, 45) == int(stamp) * 10**9


# -- keys alone ---------------------------------------------------------------------------------

KEYED = {
    "activity": {"id": "{a}", "type": "post", "feeds": ["user:{b}"]},
    "follow": {"source": "timeline:{a}", "target": "user:{b}"},
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(sorted(KEYED)),
    cells=st.lists(st.tuples(st.sampled_from(["", " ", "p1", "p2", "x y", "é"]),
                             st.sampled_from(["", "ann", "b:c", "bob"])), max_size=30),
    csv=st.booleans(),
)  # fmt: skip
def test_keys_alone_are_the_keys_convert_gives_valid_rows(
    tmp_path: Path, kind: str, cells: list[tuple[str, str]], csv: bool
) -> None:
    frame = pd.DataFrame(cells, columns=["a", "b"], dtype=object)
    frame["c"] = "unused"
    source: Any = frame
    if csv:
        source = tmp_path / "keys.csv"
        frame.to_csv(source, index=False)
    mapping = Mapping.from_dict({kind: KEYED[kind]})
    found = feedkit.convert.convert_keys(source, mapping, batch_rows=7)
    assert found is not None
    keys: dict[int, str | None] = {}
    for arr, sb in found[1]:
        keys.update(zip(sb.rows.tolist(), arr.to_pylist(), strict=True))
    assert len(keys) == len(cells)
    for cb in convert(source, mapping, batch_rows=7)[1]:
        for row, key in zip(cb.rows.tolist(), cb.ids.to_pylist(), strict=True):
            assert keys[row] == key


def test_keys_that_need_the_whole_row_are_not_read_alone() -> None:
    derived = Mapping.build({"id": {"derive": True}, "type": "post", "feeds": ["user:{u}"]})
    assert feedkit.convert.convert_keys(pd.DataFrame({"u": ["a"]}), derived) is None


@pytest.mark.parametrize(
    ("cell", "refused"),
    [("[[[[[]]]]]", True), ("[[[[]]]]", False), ('{"a": "[[[[[[[["}', False),
     ('[{"a": [{"b": [1]}]}]', True), ('{"a": {"b": {"c": {"d": 1}}}, "e": "{{{{"}', False)],
)  # fmt: skip
def test_a_json_cell_is_judged_by_its_levels_however_its_brackets_read(
    cell: str, refused: bool
) -> None:
    """A cell's text is walked for its levels only when it holds more brackets than the
    depth allowed (4 here): brackets inside strings never make it too deep."""
    from feedkit.convert import _json_problem

    problem = _json_problem(cell, 4, None)
    assert (problem is not None and problem[0] is Reason.TOO_DEEP) is refused
