"""Answered activities -> one typed table: the Arrow-read path equals the value-by-value one,
and a table built page by page equals the table of all its rows at once."""

from __future__ import annotations

import gc
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feedkit import activity_table
from feedkit.activity_table import TableBuilder, activities_to_table, read_activities, read_answer

_KEYS = st.sampled_from(["a", "b", "a.b", "ünï", "x y"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.integers(2**62, 2**64 - 1),
    st.floats(-10, 10, allow_nan=False), st.text(max_size=3),
)  # fmt: skip
_VALUES = st.recursive(
    st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)),
    lambda inner: st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=6,
)
_WIRE_ACTIVITY = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=4), "created_at": st.integers(0, 2**62)},
    optional={
        "custom": st.dictionaries(_KEYS, _VALUES, max_size=4),
        "search_data": st.dictionaries(_KEYS, _VALUES, max_size=2),
        "feeds": st.lists(st.text(max_size=3), max_size=2),
        "user": st.fixed_dictionaries({"id": st.text(max_size=3)}),
        "mentioned_users": st.lists(st.fixed_dictionaries({"id": st.text(max_size=3)}), max_size=2),
        "location": st.one_of(
            st.none(),
            st.fixed_dictionaries({"lat": st.floats(-90, 90), "lng": st.floats(-180, 180)}),
        ),
        "share_count": st.integers(0, 9),
        "filter_tags": st.one_of(st.lists(st.text(max_size=2), max_size=2), st.just([1])),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_WIRE_ACTIVITY, max_size=6))
@example([{"id": "x", "created_at": 0, "custom": {"a.b": True, "a": {"b": {"a": True}}}}])
def test_arrow_read_columns_equal_the_value_by_value_path(items: list[dict[str, Any]]) -> None:
    """Arrow reads the fixed columns and the custom/search_data columns in C++ where it can;
    whatever the values (mixed types, empty objects, dotted keys, wrong types from a foreign
    server), the table is exactly the one the value-by-value path builds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(activity_table, "_struct_columns", lambda *a: None)
        mp.setattr(activity_table, "_arrow_wire", lambda *a: None)
        try:
            slow = activities_to_table(items)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # values a feeds server never sends
            slow = None
    if slow is None:
        with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
            activities_to_table(items)
        return
    fast = activities_to_table(items)
    assert fast.schema.equals(slow.schema, check_metadata=True), (fast.schema, slow.schema)
    assert fast.equals(slow)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_WIRE_ACTIVITY, max_size=12),
    st.lists(st.integers(0, 4), max_size=6),
    st.integers(1, 6),
)
@example([{"id": "a", "created_at": 0, "custom": {"k": 1}},
          {"id": "b", "created_at": 0, "custom": {"k": 2**63}}], [1], 1)  # fmt: skip
@example([{"id": "a", "created_at": 0, "custom": {"k": {"x": 1}}},
          {"id": "b", "created_at": 0}], [1], 1)  # fmt: skip
def test_pages_build_the_table_of_all_their_rows(
    items: list[dict[str, Any]], sizes: list[int], chunk_rows: int
) -> None:
    """However the rows are split into pages (some read by Arrow, some value by value, empty
    ones) and into chunks whose objects Arrow infers apart, the table is the one all the rows
    make together."""
    try:
        whole = activities_to_table(items)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return
    builder, start = TableBuilder(chunk_rows), 0
    for size in [*sizes, len(items)]:
        builder.add(items[start : start + size])
        start += size
    paged = builder.table()
    assert builder.rows == len(items)
    assert paged.schema.equals(whole.schema, check_metadata=True)
    assert paged.equals(whole)


def test_pages_do_not_outlive_their_dicts() -> None:
    """Only Arrow buffers and bytes are kept between pages: nothing for the collector."""
    page = [{"id": f"a{i}", "created_at": i, "custom": {"k": {"n": i}}} for i in range(100)]
    builder = TableBuilder()
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20):
        builder.add([dict(a) for a in page])
    assert len(gc.get_objects()) - before < 50
    assert builder.table().column("custom.k.n").to_pylist() == list(range(100)) * 20


@settings(max_examples=300, deadline=None)
@given(st.lists(_WIRE_ACTIVITY, max_size=8), st.none() | st.text(min_size=1, max_size=5))
@example([{"id": "x", "created_at": 0, "custom": None, "attachments": [{"type": "i",
          "custom": {"w": 1}}]}], None)  # fmt: skip
@example([{"id": "x", "created_at": 2**63}], "c")  # past int64: read as dicts, then refused
def test_an_answer_read_from_its_bytes_equals_its_dicts(
    items: list[dict[str, Any]], cursor: str | None
) -> None:
    """msgspec reads the kept members of an answer's bytes (and falls back to dicts where a
    member has an unexpected type): the same table, and the same cursor."""
    body = orjson.dumps({"activities": items, "next": cursor, "duration": "1.00ms"})
    refused = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError)  # values no server sends
    try:
        want = activities_to_table(items)
    except refused:
        with pytest.raises(refused):
            builder = TableBuilder()
            builder.add(read_answer(body)[0])
            builder.table()
        return
    page, got_cursor = read_answer(body)
    assert got_cursor == cursor
    builder = TableBuilder()
    builder.add(page)
    got = builder.table()
    assert got.schema.equals(want.schema, check_metadata=True)
    assert got.equals(want)


@given(st.lists(_WIRE_ACTIVITY, min_size=1, max_size=6), st.integers(0, 6))
@settings(max_examples=100, deadline=None)
def test_the_head_of_a_read_page_is_the_page_of_its_first_rows(
    items: list[dict[str, Any]], n: int
) -> None:
    try:
        activities_to_table(items)
        want = activities_to_table(items[:n])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return
    for page in (read_activities(items), read_answer(orjson.dumps({"activities": items}))[0]):
        builder = TableBuilder()
        builder.add(page.head(n))
        assert builder.rows == min(n, len(items))
        assert builder.table().equals(want)


def test_bytes_that_are_not_an_answer_are_refused() -> None:
    for body in (b'{"activities": [', b"[1, 2]", b"\xff"):
        with pytest.raises(ValueError):
            read_answer(body)
