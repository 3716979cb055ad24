"""The import-line checks: the fast verdict agrees with the reasons, on any value."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.server.import_lines import KINDS, accepts, check_line, problems, schema

# Values near each schema's edges: empty and long strings, https and other URLs, ids with odd
# characters, numbers, booleans, nulls, and lists and objects of them.
_LEAVES = st.one_of(
    st.sampled_from(["", "a", "user:ann", "https://x.org/a.png", "http://x", "bad id!", "x" * 300,
                     "public", "tag", "activity", "comment", "2026-01-02T03:04:05Z"]),
    st.integers(-2, 2), st.floats(allow_nan=False), st.booleans(), st.none(),
)  # fmt: skip
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "id", "image_url", "lat", "x"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


# The least each line type needs (each is accepted as it is): the starting point of a line.
_LEAST: dict[str, dict[str, Any]] = {
    "user": {"id": "ann"},
    "feed": {"group_id": "user", "id": "ann", "fid": "user:ann", "created_by_id": "ann"},
    "feed_group": {"group_id": "user"},
    "feed_view": {"view_id": "v"},
    "activity": {"id": "a", "type": "post", "user_id": "ann", "fids": ["user:ann"]},
    "comment": {"id": "c", "object_type": "activity", "object_id": "a", "user_id": "ann",
                "text": "hi"},
    "reaction": {"user_id": "ann", "activity_id": "a", "type": "like"},
    "bookmark": {"user_id": "ann", "activity_id": "a"},
    "follow": {"source_fid": "user:ann", "target_fid": "user:bob"},
    "collection": {"name": "c", "id": "1", "custom": {"a": 1}},
}  # fmt: skip


@st.composite
def _data(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A line type's least data with a few members set to values of any shape (its schema's
    own names, or another), or dropped."""
    kind = draw(st.sampled_from(KINDS))
    data = dict(_LEAST[kind])
    names = [*schema(kind).get("properties", {}), "unknown"]
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=3)):
        if draw(st.booleans()):
            data[name] = draw(_VALUES)
        else:
            data.pop(name, None)
    return kind, data


def test_the_least_data_of_each_line_type_is_accepted() -> None:
    assert set(_LEAST) == set(KINDS)
    for kind, data in _LEAST.items():
        assert accepts(schema(kind))(data), kind


@settings(max_examples=600, deadline=None)
@given(_data())
def test_the_fast_verdict_is_that_of_the_reasons(line: tuple[str, dict[str, Any]]) -> None:
    kind, data = line
    assert accepts(schema(kind))(data) == (not problems(data, schema(kind))), (kind, data)


def test_a_refused_line_says_why_and_an_accepted_one_says_nothing() -> None:
    assert check_line(orjson.dumps({"type": "user", "data": {"id": "ann"}})) == (
        "user", {"id": "ann"}, None)  # fmt: skip
    _, _, why = check_line(orjson.dumps({"type": "activity", "data": {
        "id": "a", "type": "post", "user_id": "ann", "fids": [],
        "attachments": [{"image_url": "http://x"}]}}))  # fmt: skip
    assert why == (
        "data.fids: must hold at least 1 items; data.attachments[0].image_url: must match ^https://"
    )
