"""The feed group and feed view declarations (feedkit/schema/feed_group.py): what they refuse,
named by field and reason, and what a checked request is stored as."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from feedkit.schema import Reason
from feedkit.schema.feed_group import (
    ACTIVITIES_SORTS,
    DEFAULT_FEED_GROUPS,
    FEED_GROUP_FIELDS,
    FEED_VISIBILITIES,
    RANKING_TYPES,
    SELECTOR_TYPES,
    stored_settings,
    validate_feed_group,
    validate_feed_view,
)

_text = st.text(max_size=20)
_selector = st.fixed_dictionaries(
    {"type": st.sampled_from([t for t in SELECTOR_TYPES if t != "popular"])},
    optional={"cutoff_window": _text, "min_popularity": st.integers(0, 100),
              "filter": st.dictionaries(_text, _text, max_size=2)},
)  # fmt: skip
_settings = st.fixed_dictionaries(
    {},
    optional={
        "default_visibility": st.sampled_from(FEED_VISIBILITIES),
        "activity_selectors": st.lists(_selector, max_size=3),
        "ranking": st.fixed_dictionaries({"type": st.sampled_from(RANKING_TYPES)},
                                         optional={"score": _text}),
        "aggregation": st.fixed_dictionaries({}, optional={
            "format": _text, "activities_sort": st.sampled_from(ACTIVITIES_SORTS)}),
        "custom": st.dictionaries(_text, st.integers(), max_size=3),
        "stories": st.fixed_dictionaries({}, optional={"skip_watched": st.booleans()}),
    },
)  # fmt: skip


@given(_settings)
def test_valid_settings_pass_and_are_stored_as_sent(settings: dict[str, Any]) -> None:
    assert validate_feed_group({"id": "g", **settings}) == []
    assert stored_settings({"id": "g", **settings}, FEED_GROUP_FIELDS) == settings


def test_the_built_in_groups_are_valid() -> None:
    for gid, settings in DEFAULT_FEED_GROUPS.items():
        assert validate_feed_group({"id": gid, **settings}) == []


def test_refusals_name_the_field_and_the_reason() -> None:
    errors = validate_feed_group({
        "default_visibility": "everyone",
        "activity_selectors": [{"type": "popular", "min_popularity": 0},
                               {"type": "query", "cutoff_time": "2030-01-01T00:00:00Z",
                                "cutoff_window": "1h"}],
        "activity_processors": [{}],
        "ranking": {"score": 5},
    })  # fmt: skip
    assert {(e.field, e.code) for e in errors} == {
        ("id", Reason.REQUIRED),
        ("default_visibility", Reason.CHOICE),
        ("activity_selectors[0].min_popularity", Reason.RANGE),
        ("activity_selectors[1].cutoff_window", Reason.DEPENDENCY),
        ("activity_processors[0].type", Reason.REQUIRED),
        ("ranking.type", Reason.REQUIRED),
        ("ranking.score", Reason.TYPE),
    }
    assert [e.field for e in validate_feed_view({"id": "v", "custom": 5})] == []  # not a view's
    assert [e.field for e in validate_feed_view({"ranking": []}, require_id=False)] == ["ranking"]


def test_stored_settings_drop_unknown_members_and_hold_cutoffs_as_nanoseconds() -> None:
    stored = stored_settings(
        {"id": "g", "colour": "red", "stories": {"skip_watched": True, "x": 1},
         "activity_selectors": [{"type": "following", "cutoff_time": "1970-01-01T00:00:01Z"}]},
        FEED_GROUP_FIELDS,
    )  # fmt: skip
    assert stored == {"activity_selectors": [{"type": "following", "cutoff_time": 10**9}],
                      "stories": {"skip_watched": True}}  # fmt: skip
