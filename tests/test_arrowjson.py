"""The vectorised JSON writer agrees with a real JSON parser on any value."""

from __future__ import annotations

import math

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.arrowjson import (
    json_array_of,
    json_fragment,
    json_object,
    json_string,
    json_value,
    list_from_columns,
    rfc3339,
    with_validity,
    written,
)

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=20), st.integers(0, 5))
def test_strings_parse_back_exactly(values: list[str | None], offset: int) -> None:
    arr = pa.array(values, pa.string()).slice(min(offset, len(values)))
    out = json_string(arr).to_pylist()
    assert [None if o is None else orjson.loads(o) for o in out] == arr.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=20), st.integers(0, 60), st.integers(0, 5))
def test_strings_escaped_as_orjson_escapes_them(
    values: list[str | None], plain: int, offset: int
) -> None:
    """Byte for byte, whether few rows need escapes (only those are rewritten) or most."""
    values = values + [f"plain {i}" for i in range(plain)]
    arr = pa.array(values, pa.string()).slice(min(offset, len(values)))
    expected = [None if v is None else orjson.dumps(v).decode() for v in arr.to_pylist()]
    assert json_string(arr).to_pylist() == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**63) + 1, 2**63 - 1)), max_size=20),
       st.integers(0, 3))  # fmt: skip
def test_nanosecond_times_written_as_strftime_writes_them(
    values: list[int | None], offset: int
) -> None:
    stamps = pa.array(values, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    stamps = stamps.slice(min(offset, len(values)))
    expected = pc.strftime(stamps, "%Y-%m-%dT%H:%M:%SZ")
    assert rfc3339(stamps).to_pylist() == expected.to_pylist()


def test_objects_wrapped_in_the_same_pass() -> None:
    ids = json_string(pa.array(["a", "b"]))
    lines = json_object([("id", ids)], first_present=True, wrap=('{"type":"x","data":', "}\n"))
    assert lines.to_pylist() == [
        '{"type":"x","data":{"id":"a"}}\n',
        '{"type":"x","data":{"id":"b"}}\n',
    ]
    arrays = written(json_array_of([json_object([("id", ids)])], 2))
    assert arrays.to_pylist() == ['[{"id":"a"}]', '[{"id":"b"}]']
    absent = written(json_array_of([pa.array(["1", None])], 2))
    assert absent.to_pylist() == ["[1]", None]


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


def _column(kind: str, item: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.tuples(st.just(kind), st.lists(st.one_of(st.none(), item), min_size=6, max_size=6))


MEMBER = st.one_of(
    _column("s", TEXT), _column("i", st.integers(-9, 9)), _column("l", st.lists(TEXT, max_size=3))
)
INT64 = st.integers(-(2**63), 2**63 - 1)
TYPES = {"s": pa.string(), "i": pa.int64(), "l": pa.list_(pa.string())}


@settings(max_examples=300, deadline=None)
@given(st.lists(MEMBER, min_size=1, max_size=5), st.booleans(), st.integers(0, 3))
def test_objects_written_in_one_pass_parse_back(
    members: list[tuple[str, list[object]]], empty_as_null: bool, offset: int
) -> None:
    """Any pattern of absent members, in sliced arrays, with keys needing escapes: the one-pass
    object writer (keys, commas, quotes of unwrapped strings) agrees with a JSON parser."""
    arrays = [pa.array(values, TYPES[kind]).slice(offset) for kind, values in members]
    keys = [f'k{i}"\\' for i in range(len(members))]
    out = json_object(
        [(k, json_fragment(a)) for k, a in zip(keys, arrays, strict=True)],
        empty_as_null=empty_as_null,
    ).to_pylist()
    for row, text in enumerate(out):
        expected = {k: a[row].as_py() for k, a in zip(keys, arrays, strict=True) if a[row].is_valid}
        if not expected and empty_as_null:
            assert text is None
        else:
            assert orjson.loads(text) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(TEXT, st.one_of(st.none(), INT64))), max_size=8))
def test_structs_and_arrays_of_fragments(values: list[tuple[str, int | None] | None]) -> None:
    structs = pa.array(
        [None if v is None else {"a": v[0], "b": v[1]} for v in values],
        pa.struct([("a", pa.string()), ("b", pa.int64())]),
    )
    written = json_value(structs).to_pylist()
    for v, text in zip(values, written, strict=True):
        expected = None if v is None else {"a": v[0]} if v[1] is None else {"a": v[0], "b": v[1]}
        assert (None if text is None else orjson.loads(text)) == expected
    arrays = json_array_of([json_value(structs), json_value(structs)], len(values)).to_pylist()
    for v, text in zip(values, arrays, strict=True):
        assert (text is None) if v is None else len(orjson.loads(text)) == 2


def test_with_validity_nulls_rows_without_copying_values() -> None:
    arr = pa.array(["a", "bb", None, "d"]).slice(1)
    assert with_validity(arr, [True, True, False]).to_pylist() == ["bb", None, None]
    assert with_validity(arr, [True, True, True]).to_pylist() == ["bb", None, "d"]
