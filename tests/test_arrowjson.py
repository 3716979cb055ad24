"""The vectorised JSON writer agrees with a real JSON parser on any value."""

from __future__ import annotations

import math

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.arrowjson import json_object, json_string, json_value, list_from_columns

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=20), st.integers(0, 5))
def test_strings_parse_back_exactly(values: list[str | None], offset: int) -> None:
    arr = pa.array(values, pa.string()).slice(min(offset, len(values)))
    out = json_string(arr).to_pylist()
    assert [None if o is None else orjson.loads(o) for o in out] == arr.to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
                max_size=20))  # fmt: skip
def test_floats_stay_floats(values: list[float | None]) -> None:
    out = json_value(pa.array(values, pa.float64())).to_pylist()
    for value, text in zip(values, out, strict=True):
        if value is None or not math.isfinite(value):
            assert text is None  # JSON has no NaN or infinity: the value is left out
        else:
            parsed = orjson.loads(text)
            assert isinstance(parsed, float) and parsed == value
            assert math.copysign(1, parsed) == math.copysign(1, value)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.one_of(st.none(), TEXT), max_size=4)),
                max_size=10))  # fmt: skip
def test_lists_and_objects(values: list[list[str | None] | None]) -> None:
    lists = pa.array(values, pa.list_(pa.string()))
    fragments = json_value(lists).to_pylist()
    assert [None if f is None else orjson.loads(f) for f in fragments] == values
    obj = json_object([("k\"ey", json_value(lists)), ("n", json_value(pa.array(
        list(range(len(values))))))]).to_pylist()  # fmt: skip
    for i, (text, value) in enumerate(zip(obj, values, strict=True)):
        expected = {"n": i} if value is None else {'k"ey': value, "n": i}
        assert orjson.loads(text) == expected


def test_list_from_columns_skips_nulls() -> None:
    got = list_from_columns([pa.array(["a", None, "c"]), pa.array(["d", "e", None])])
    assert got.to_pylist() == [["a", "d"], ["e"], ["c"]]
