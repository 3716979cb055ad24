"""feedkit.display: values written one way, tables escaped and themed, DataFrames shown whole
without their dtypes changing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import feedkit
from feedkit.display import (
    FRAME_ROWS_SHOWN,
    errors_html,
    frame_text,
    report_html,
    show,
    table_html,
    time_text,
    value_text,
)

HOSTILE = "<script>alert('x')</script> & \"quoted\" </td></table>"
LONG = "a long message that must never be cut: " + "word " * 120
STRINGS = pd.ArrowDtype(pa.list_(pa.string()))
UTC_NS = pd.ArrowDtype(pa.timestamp("ns", tz="UTC"))


def unthemed(markup: str) -> str:
    """The markup with every JupyterLab CSS variable (and its fallback) taken out."""
    return re.sub(r"var\(--jp-[a-z0-9-]+, [^)]*\)", "", markup)


def assert_themed(markup: str) -> None:
    """Colours and borders only through JupyterLab's variables, each with a fallback."""
    rest = unthemed(markup)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", rest), rest
    assert not re.search(r"color:\s*[a-z]", rest), rest
    assert "border=" not in rest
    for rule in re.findall(r"border(?:-[a-z]+)?:[^;']*", markup):
        assert rule == "border-collapse:collapse" or "var(--jp-" in rule, rule
    assert "var(--jp-" in markup


def test_values_are_written_one_way() -> None:
    assert value_text(["a", "b"]) == '["a", "b"]'
    assert value_text([]) == "[]"
    assert value_text(None, is_list=True) == "[]"
    assert value_text({"café": [1, 2.5, None]}) == '{"café": [1, 2.5, null]}'
    assert value_text(None) == value_text(float("nan")) == value_text(pd.NA) == ""
    assert value_text(pd.NaT) == ""
    assert value_text(1_766_311_387_123_456_789, time=True) == "2025-12-21 10:03:07Z"
    assert value_text(1_766_311_387) == "1766311387"  # an int is a time only when told
    assert value_text(datetime(2025, 12, 21, 10, 3, 7, 999999)) == "2025-12-21 10:03:07"
    assert time_text(pd.Timestamp("2025-12-21 11:03:07+01:00")) == "2025-12-21 10:03:07Z"
    assert time_text(datetime(2025, 12, 21, tzinfo=UTC), date_only=True) == "2025-12-21"


@given(st.lists(st.one_of(st.text(), st.integers(), st.booleans(), st.none())))
def test_a_list_reads_back_as_itself(items: list[object]) -> None:
    assert json.loads(value_text(items)) == items


def test_table_cells_are_text_not_markup() -> None:
    markup = table_html([HOSTILE], [[HOSTILE]], caption=HOSTILE, index=[HOSTILE])
    assert "<script" not in markup and "</td></table>" not in markup.replace(
        "</td></tr></table>", ""
    )
    assert markup.count("&lt;script&gt;") == 4
    assert_themed(markup)


def test_reports_and_error_tables_are_themed_and_whole() -> None:
    errors = pd.DataFrame(
        {"row": [3], "column": ["a"], "field": ["text"], "code": ["x"], "message": [LONG],
         "value": [HOSTILE]}
    )  # fmt: skip
    markup = report_html("Import", False, "incomplete", [("rows read", 1, "")], ["n"], errors)
    assert LONG.strip() in markup and "&lt;script&gt;" in markup and "<script" not in markup
    assert_themed(markup)
    assert errors_html(errors.iloc[:0]) == ""


def activity_frame() -> pd.DataFrame:
    client = feedkit.connect(":memory:")
    client.upsert_users([{"id": "alice"}])
    client.add_activity(
        id="a1", type="post", feeds=["user:alice", "topic:x"], user_id="alice", text=LONG,
        filter_tags=["news", "tips"], custom={"n": 1, "tags": ["x"]},
        attachments=[{"type": "image", "image_url": "https://e.x/i.png", "custom": {"w": 2}}],
    )  # fmt: skip
    client.add_activity(id="a2", type="post", feeds=["user:alice"], user_id="alice", text=HOSTILE)
    frame = feedkit.query_to_dataframe(client, sort=[{"field": "created_at", "direction": 1}])
    client.close()
    return frame


def test_a_feedkit_frame_shows_lists_times_and_whole_texts() -> None:
    frame = activity_frame()
    dtypes, before = frame.dtypes.copy(), frame.copy()
    view = show(frame)
    pd.testing.assert_series_equal(frame.dtypes, dtypes)  # the frame is not touched
    pd.testing.assert_frame_equal(frame, before)
    text = frame_text(frame)
    assert list(text["feeds"]) == ['["user:alice", "topic:x"]', '["user:alice"]']
    assert list(text["filter_tags"]) == ['["news", "tips"]', "[]"]  # empty lists, not <NA>
    assert list(text["custom.tags"]) == ['["x"]', "[]"]
    assert list(text["custom.n"]) == ["1", ""]
    assert json.loads(text["attachments"].iloc[0]) == [
        {"type": "image", "image_url": "https://e.x/i.png", "custom": {"w": 2}}
    ]  # JSON-text members decoded, missing members left out
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", t) for t in text["created_at"])
    assert list(text["expires_at"]) == ["", ""]
    for shown in (view._repr_html_(), repr(view)):
        assert LONG.strip() in shown and "..." not in shown
        assert "<NA>" not in shown and "&lt;NA&gt;" not in shown and "+00:00" not in shown
        assert not re.search(r"\['[^']*'\s+'", shown)  # no numpy-style lists
    markup = view._repr_html_()
    assert "<script" not in markup and "&lt;script&gt;" in markup
    assert_themed(markup)


def test_midnights_show_as_dates_and_the_index_is_formatted_too() -> None:
    days = pd.DatetimeIndex(["2025-12-21", "2025-12-22"], tz="UTC", name="day")
    frame = pd.DataFrame(
        {"posts": [14, 13], "at": pd.Series(["2025-12-21 10:03:07Z", None], dtype=UTC_NS).array},
        index=days,
    )
    text = frame_text(frame)
    assert list(text.index) == ["2025-12-21", "2025-12-22"] and text.index.name == "day"
    assert list(text["at"]) == ["2025-12-21 10:03:07Z", ""]
    assert list(frame_text(frame["posts"]).index) == ["2025-12-21", "2025-12-22"]
    assert "day" in repr(show(frame["posts"]))


def test_numpy_backed_lists_and_numbers() -> None:
    frame = pd.DataFrame({"tags": [["a", "b"], [], None], "lat": [53.36292, None, 1.0]})
    text = frame_text(frame)
    assert list(text["tags"]) == ['["a", "b"]', "[]", ""]
    assert list(text["lat"]) == ["53.36292", "", "1.0"]
    assert "text-align:right" in show(frame)._repr_html_()


def test_rows_shown_and_said() -> None:
    frame = pd.DataFrame({"n": range(FRAME_ROWS_SHOWN + 5)})
    view = show(frame)
    assert len(view.text) == FRAME_ROWS_SHOWN
    assert f"{FRAME_ROWS_SHOWN + 5:,} rows, the first {FRAME_ROWS_SHOWN} shown" in repr(view)
    assert "the first 3 shown" in show(frame, rows=3)._repr_html_()
    assert "shown" not in repr(show(frame.head(2)))


@pytest.mark.parametrize(
    "empty", [pd.DataFrame(), pd.DataFrame({"a": pd.Series([], dtype=STRINGS)})]
)
def test_empty_frames_show(empty: pd.DataFrame) -> None:
    assert "<table" in show(empty)._repr_html_()
    assert isinstance(repr(show(empty)), str)
