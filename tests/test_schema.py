"""feedkit.schema: every limit, its Reason code and field path; partial updates; time round-trips.

Boundaries are tested in pairs: exactly at the limit passes, one over fails. The hypothesis
properties draw activities from the schema's own ``FIELDS`` declarations, so a field added to
the schema is covered without touching this file.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feedkit.schema import (
    ACTIVITY_FIELDS,
    FEED_ID,
    FIELDS,
    MAX_BATCH,
    MAX_FEEDS,
    MAX_FILTER_TAGS,
    MAX_ID,
    MAX_MENTIONS,
    MAX_NESTING,
    MAX_PAGE,
    MAX_VISIBILITY_TAG,
    PARTIAL_SET_FIELDS,
    PARTIAL_UNSET_FIELDS,
    FieldError,
    Kind,
    Reason,
    apply_partial,
    format_time,
    parse_time,
    validate_activity,
    validate_partial,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE: dict[str, Any] = {"type": "post", "feeds": ["user:alice"], "user_id": "alice"}
DROP = object()  # a patch value that removes the key


def act(**patch: Any) -> dict[str, Any]:
    out = dict(BASE)
    for key, value in patch.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def codes(errors: list[FieldError]) -> set[tuple[str, Reason]]:
    return {(e.field, e.code) for e in errors}


def exact_ns(dt: datetime) -> int:
    """Nanoseconds since the epoch by integer arithmetic only (no float on the way)."""
    return (dt - EPOCH) // timedelta(microseconds=1) * 1000


# --------------------------------------------------------------------------------------------
# the declared limits are the protocol's
# --------------------------------------------------------------------------------------------


def test_declared_limits_match_the_protocol() -> None:
    assert (MAX_ID, MAX_VISIBILITY_TAG, MAX_FEEDS, MAX_FILTER_TAGS, MAX_MENTIONS) == (
        255,
        32,
        25,
        50,
        25,
    )
    assert (MAX_BATCH, MAX_PAGE) == (100, 100)
    for name in ("id", "type", "user_id", "parent_id"):
        assert FIELDS[name].max_length == 255, name
    assert FIELDS["visibility_tag"].max_length == 32
    assert (FIELDS["feeds"].min_items, FIELDS["feeds"].max_items) == (1, 25)
    assert FIELDS["filter_tags"].max_items == 50
    assert FIELDS["mentioned_user_ids"].max_items == 25
    assert FIELDS["mentioned_user_ids"].item_max_length == 255
    assert FIELDS["visibility"].choices == ("public", "private", "tag")
    assert FIELDS["restrict_replies"].choices == ("everyone", "people_i_follow", "nobody")
    assert {n for n, f in FIELDS.items() if f.required} == {"type", "feeds"}


def test_partial_field_lists_match_the_protocol() -> None:
    assert set(PARTIAL_SET_FIELDS) == {
        "text", "attachments", "custom", "visibility", "visibility_tag", "restrict_replies",
        "location", "expires_at", "filter_tags", "interest_tags", "poll_id", "feeds",
        "mentioned_user_ids", "search_data",
    }  # fmt: skip
    assert set(PARTIAL_UNSET_FIELDS) == {
        "custom", "visibility_tag", "location", "expires_at", "filter_tags", "interest_tags",
        "attachments", "poll_id", "mentioned_user_ids", "search_data",
    }  # fmt: skip


def test_minimal_and_full_activities_are_valid() -> None:
    assert validate_activity({"type": "post", "feeds": ["user:alice"]}) == []
    full = act(
        id="a1",
        text="hello",
        attachments=[{"type": "image", "image_url": "https://x/y.png", "custom": {"w": 1}}],
        custom={"color": "blue", "n": [1, {"a": None}]},
        visibility="tag",
        visibility_tag="premium",
        restrict_replies="nobody",
        location={"lat": 52.37, "lng": 4.89},
        expires_at="2030-01-01T00:00:00Z",
        mentioned_user_ids=["bob"],
        parent_id="p1",
        poll_id="poll1",
        search_data={"k": "v"},
        filter_tags=["news"],
        interest_tags=["sports"],
        skip_push=True,  # a request option, not an activity field: allowed in strict mode
    )
    assert validate_activity(full) == []


# --------------------------------------------------------------------------------------------
# strings: ids, type, user_id, parent_id, poll_id, visibility_tag
# --------------------------------------------------------------------------------------------

ID_LIKE = ("id", "type", "user_id", "parent_id", "poll_id")


@pytest.mark.parametrize("name", ID_LIKE)
def test_id_like_string_at_255_passes(name: str) -> None:
    assert validate_activity(act(**{name: "x" * 255})) == []


@pytest.mark.parametrize("name", ID_LIKE)
def test_id_like_string_at_256_is_too_long(name: str) -> None:
    errors = validate_activity(act(**{name: "x" * 256}))
    assert codes(errors) == {(name, Reason.TOO_LONG)}
    assert errors[0].value == "x" * 256
    assert "256" in errors[0].message and "255" in errors[0].message


def test_length_counts_characters_not_bytes() -> None:
    assert validate_activity(act(id="é" * 255)) == []
    assert codes(validate_activity(act(id="é" * 256))) == {("id", Reason.TOO_LONG)}


@pytest.mark.parametrize("name", ["id", "type", "user_id", "parent_id"])
def test_empty_id_like_string_is_refused(name: str) -> None:
    assert codes(validate_activity(act(**{name: ""}))) == {(name, Reason.EMPTY)}


@pytest.mark.parametrize(
    "name", ["id", "type", "user_id", "parent_id", "poll_id", "text", "visibility_tag"]
)
@pytest.mark.parametrize("value", [123, 1.5, True, ["x"], {"x": 1}, b"bytes"])
def test_string_field_of_wrong_type(name: str, value: Any) -> None:
    assert codes(validate_activity(act(**{name: value}))) == {(name, Reason.TYPE)}


def test_type_is_required() -> None:
    assert codes(validate_activity(act(type=DROP))) == {("type", Reason.REQUIRED)}
    assert codes(validate_activity(act(type=None))) == {("type", Reason.REQUIRED)}


def test_visibility_tag_at_32_passes_and_33_is_too_long() -> None:
    assert validate_activity(act(visibility="tag", visibility_tag="t" * 32)) == []
    assert validate_activity(act(visibility_tag="t" * 32)) == []
    errors = validate_activity(act(visibility="tag", visibility_tag="t" * 33))
    assert codes(errors) == {("visibility_tag", Reason.TOO_LONG)}
    assert codes(validate_activity(act(visibility_tag="t" * 33))) == {
        ("visibility_tag", Reason.TOO_LONG)
    }


@pytest.mark.parametrize("tag", [DROP, None, ""])
def test_visibility_tag_is_required_when_visibility_is_tag(tag: Any) -> None:
    errors = validate_activity(act(visibility="tag", visibility_tag=tag))
    assert codes(errors) == {("visibility_tag", Reason.DEPENDENCY)}


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_visibility_tag_is_optional_otherwise(visibility: str) -> None:
    assert validate_activity(act(visibility=visibility)) == []


# --------------------------------------------------------------------------------------------
# choices
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("visibility", ("public", "private")),
        ("restrict_replies", ("everyone", "people_i_follow", "nobody")),
    ],
)
def test_every_choice_passes(name: str, choices: tuple[str, ...]) -> None:
    for choice in choices:
        assert validate_activity(act(**{name: choice})) == [], choice


@pytest.mark.parametrize("name", ["visibility", "restrict_replies"])
@pytest.mark.parametrize("value", ["secret", "PUBLIC", "Everyone", "", 1, True, ["public"]])
def test_choice_outside_the_list(name: str, value: Any) -> None:
    errors = validate_activity(act(**{name: value}))
    assert codes(errors) == {(name, Reason.CHOICE)}


# --------------------------------------------------------------------------------------------
# feeds
# --------------------------------------------------------------------------------------------


def test_feeds_are_required() -> None:
    assert codes(validate_activity(act(feeds=DROP))) == {("feeds", Reason.REQUIRED)}
    assert codes(validate_activity(act(feeds=None))) == {("feeds", Reason.REQUIRED)}


def test_feeds_need_at_least_one() -> None:
    assert codes(validate_activity(act(feeds=[]))) == {("feeds", Reason.TOO_FEW)}


def test_feeds_at_25_pass_and_26_are_too_many() -> None:
    assert validate_activity(act(feeds=[f"user:u{i}" for i in range(25)])) == []
    errors = validate_activity(act(feeds=[f"user:u{i}" for i in range(26)]))
    assert codes(errors) == {("feeds", Reason.TOO_MANY)}


@pytest.mark.parametrize(
    "feed", ["user:alice", "timeline:a-b_c", "a:b", "Team_1:x.y@z", "user:" + "x" * 200]
)
def test_feed_ids_of_the_form_group_id_pass(feed: str) -> None:
    assert validate_activity(act(feeds=[feed])) == []


@pytest.mark.parametrize(
    "feed", ["nocolon", ":alice", "user:", "user:a:b", "us er:alice", "user:al ice", "", "a b:c"]
)
def test_malformed_feed_id(feed: str) -> None:
    errors = validate_activity(act(feeds=["user:ok", feed]))
    assert codes(errors) == {("feeds[1]", Reason.FEED_FORMAT)}


@pytest.mark.parametrize("value", ["user:alice", {"user:alice": 1}, 5])
def test_feeds_not_a_list(value: Any) -> None:
    assert codes(validate_activity(act(feeds=value))) == {("feeds", Reason.TYPE)}


def test_feed_item_not_a_string() -> None:
    assert codes(validate_activity(act(feeds=["user:a", 7]))) == {("feeds[1]", Reason.TYPE)}


# --------------------------------------------------------------------------------------------
# filter_tags, interest_tags, mentioned_user_ids
# --------------------------------------------------------------------------------------------


def test_filter_tags_at_50_pass_and_51_are_too_many() -> None:
    assert validate_activity(act(filter_tags=[f"t{i}" for i in range(50)])) == []
    errors = validate_activity(act(filter_tags=[f"t{i}" for i in range(51)]))
    assert codes(errors) == {("filter_tags", Reason.TOO_MANY)}


def test_mentions_at_25_pass_and_26_are_too_many() -> None:
    assert validate_activity(act(mentioned_user_ids=[f"u{i}" for i in range(25)])) == []
    errors = validate_activity(act(mentioned_user_ids=[f"u{i}" for i in range(26)]))
    assert codes(errors) == {("mentioned_user_ids", Reason.TOO_MANY)}


def test_mentioned_user_id_at_255_passes_and_256_is_too_long() -> None:
    assert validate_activity(act(mentioned_user_ids=["a", "u" * 255])) == []
    errors = validate_activity(act(mentioned_user_ids=["a", "u" * 256]))
    assert codes(errors) == {("mentioned_user_ids[1]", Reason.TOO_LONG)}


@pytest.mark.parametrize("name", ["filter_tags", "interest_tags", "mentioned_user_ids"])
def test_string_lists_of_wrong_type(name: str) -> None:
    assert codes(validate_activity(act(**{name: "news"}))) == {(name, Reason.TYPE)}
    assert codes(validate_activity(act(**{name: {"a": 1}}))) == {(name, Reason.TYPE)}
    assert codes(validate_activity(act(**{name: ["ok", 3]}))) == {(f"{name}[1]", Reason.TYPE)}


def test_every_error_of_a_list_is_reported() -> None:
    errors = validate_activity(act(feeds=["bad", "user:ok", 3, "also bad"]))
    assert codes(errors) == {
        ("feeds[0]", Reason.FEED_FORMAT),
        ("feeds[2]", Reason.TYPE),
        ("feeds[3]", Reason.FEED_FORMAT),
    }


# --------------------------------------------------------------------------------------------
# location
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lng"), [(90, 180), (-90, -180), (90.0, -180.0), (0, 0), (52.37, 4.89)]
)
def test_location_within_bounds_passes(lat: float, lng: float) -> None:
    assert validate_activity(act(location={"lat": lat, "lng": lng})) == []


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ({"lat": 90.0001, "lng": 0}, "location.lat"),
        ({"lat": -90.0001, "lng": 0}, "location.lat"),
        ({"lat": 91, "lng": 0}, "location.lat"),
        ({"lat": 0, "lng": 180.0001}, "location.lng"),
        ({"lat": 0, "lng": -180.0001}, "location.lng"),
        ({"lat": 0, "lng": 181}, "location.lng"),
    ],
)
def test_location_out_of_range(location: dict[str, Any], path: str) -> None:
    assert codes(validate_activity(act(location=location))) == {(path, Reason.RANGE)}


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ({"lng": 0}, "location.lat"),
        ({"lat": 0}, "location.lng"),
        ({"lat": None, "lng": 0}, "location.lat"),
    ],
)
def test_location_needs_both_coordinates(location: dict[str, Any], path: str) -> None:
    assert codes(validate_activity(act(location=location))) == {(path, Reason.REQUIRED)}


def test_location_with_neither_coordinate_names_both() -> None:
    assert codes(validate_activity(act(location={}))) == {
        ("location.lat", Reason.REQUIRED),
        ("location.lng", Reason.REQUIRED),
    }


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, True, False, "1", [1]])
@pytest.mark.parametrize("key", ["lat", "lng"])
def test_location_coordinates_are_finite_numbers_not_bools(key: str, bad: Any) -> None:
    location = {"lat": 1.0, "lng": 1.0, key: bad}
    assert codes(validate_activity(act(location=location))) == {(f"location.{key}", Reason.TYPE)}


@pytest.mark.parametrize("value", ["52,4", [52, 4], 52])
def test_location_not_an_object(value: Any) -> None:
    assert codes(validate_activity(act(location=value))) == {("location", Reason.TYPE)}


# --------------------------------------------------------------------------------------------
# expires_at
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=-5))),
        pd.Timestamp("2030-01-01T00:00:00.123456789Z"),
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00.123456789+02:00",
        "2030-01-01T00:00:00z",
        1_893_456_000_000_000_000,
    ],
)
def test_timezone_aware_times_pass(value: Any) -> None:
    assert validate_activity(act(expires_at=value)) == []


@pytest.mark.parametrize(
    "value",
    [
        datetime(2030, 1, 1),
        pd.Timestamp("2030-01-01T00:00:00"),
        "2030-01-01T00:00:00",
        "2030-01-01T00:00:00.5",
        "2030-01-01",
    ],
)
def test_naive_times_are_refused_with_timezone(value: Any) -> None:
    errors = validate_activity(act(expires_at=value))
    assert codes(errors) == {("expires_at", Reason.TIMEZONE)}


@pytest.mark.parametrize(
    "value", ["garbage", "next tuesday", "2030-13-45T00:00:00Z", "not a timeZ", "soonZ"]
)
def test_unparseable_times_are_refused_with_time_format(value: str) -> None:
    errors = validate_activity(act(expires_at=value))
    assert codes(errors) == {("expires_at", Reason.TIME_FORMAT)}


@pytest.mark.parametrize("value", [True, 1.5, [2030], {"t": 1}])
def test_times_of_wrong_type(value: Any) -> None:
    assert codes(validate_activity(act(expires_at=value))) == {("expires_at", Reason.TYPE)}


# --------------------------------------------------------------------------------------------
# attachments, custom, search_data
# --------------------------------------------------------------------------------------------


def test_attachments_with_string_urls_and_object_custom_pass() -> None:
    attachment = {
        "type": "file",
        "asset_url": "https://x/f.pdf",
        "image_url": "https://x/i.png",
        "thumb_url": "https://x/t.png",
        "title": "T",
        "text": "D",
        "custom": {"size": 3},
        "unknown_key": 1,
    }
    assert validate_activity(act(attachments=[attachment, {}])) == []


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("https://x/i.png", "attachments"),
        ({"image_url": "x"}, "attachments"),
        (["https://x/i.png"], "attachments[0]"),
        ([{}, 5], "attachments[1]"),
        ([{"image_url": 5}], "attachments[0].image_url"),
        ([{"asset_url": ["x"]}], "attachments[0].asset_url"),
        ([{"thumb_url": {"u": "x"}}], "attachments[0].thumb_url"),
        ([{"type": 1}], "attachments[0].type"),
        ([{"title": True}], "attachments[0].title"),
        ([{"text": 2.5}], "attachments[0].text"),
        ([{"custom": []}], "attachments[0].custom"),
        ([{"custom": "x"}], "attachments[0].custom"),
    ],
)
def test_attachment_shapes(value: Any, path: str) -> None:
    assert codes(validate_activity(act(attachments=value))) == {(path, Reason.TYPE)}


@pytest.mark.parametrize("name", ["custom", "search_data"])
def test_json_objects_pass(name: str) -> None:
    assert validate_activity(act(**{name: {}})) == []
    assert validate_activity(act(**{name: {"a": {"b": [1, None, "x"]}, "c": 1.5}})) == []


@pytest.mark.parametrize("name", ["custom", "search_data"])
@pytest.mark.parametrize("value", [[], ["a"], "text", 1, True])
def test_json_objects_of_wrong_type(name: str, value: Any) -> None:
    assert codes(validate_activity(act(**{name: value}))) == {(name, Reason.TYPE)}


@pytest.mark.parametrize("name", ["custom", "search_data"])
def test_json_object_keys_must_be_strings(name: str) -> None:
    errors = validate_activity(act(**{name: {1: "x"}}))
    assert [(e.code, e.field.split(".")[0]) for e in errors] == [(Reason.TYPE, name)]


# --------------------------------------------------------------------------------------------
# unknown fields, whole-request shapes, collecting every error
# --------------------------------------------------------------------------------------------


def test_unknown_fields_are_refused_in_strict_mode() -> None:
    errors = validate_activity(act(txt="typo", colour="blue"))
    assert codes(errors) == {("txt", Reason.UNKNOWN_FIELD), ("colour", Reason.UNKNOWN_FIELD)}


def test_unknown_fields_are_allowed_when_not_strict() -> None:
    assert validate_activity(act(txt="typo"), strict=False) == []


def test_request_options_are_not_unknown_fields() -> None:
    assert validate_activity(act(skip_push=True, create_notification_activity=True)) == []


@pytest.mark.parametrize("value", [[], "post", None, 3])
def test_activity_must_be_an_object(value: Any) -> None:
    errors = validate_activity(value)
    assert [e.code for e in errors] == [Reason.TYPE]


def test_require_overrides_required_fields() -> None:
    assert validate_activity({"text": "x"}, require=()) == []
    assert codes(validate_activity({"type": "post"}, require=("type", "user_id"))) == {
        ("user_id", Reason.REQUIRED)
    }


def test_every_failure_is_returned_at_once() -> None:
    errors = validate_activity(
        {
            "type": "",
            "feeds": ["nocolon"],
            "visibility": "tag",
            "location": {"lat": 100, "lng": True},
            "expires_at": "2030-01-01T00:00:00",
            "filter_tags": ["x"] * 51,
            "txt": 1,
        }
    )
    assert codes(errors) == {
        ("type", Reason.EMPTY),
        ("feeds[0]", Reason.FEED_FORMAT),
        ("visibility_tag", Reason.DEPENDENCY),
        ("location.lat", Reason.RANGE),
        ("location.lng", Reason.TYPE),
        ("expires_at", Reason.TIMEZONE),
        ("filter_tags", Reason.TOO_MANY),
        ("txt", Reason.UNKNOWN_FIELD),
    }
    assert all(str(e).startswith(f"{e.field}: ") for e in errors)


# --------------------------------------------------------------------------------------------
# validate_partial and apply_partial
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["type", "id", "user_id", "parent_id", "created_at", "bogus", "location.lat", "custom."]
)
def test_partial_set_of_a_non_settable_field(name: str) -> None:
    errors = validate_partial({name: "x"}, None)
    assert codes(errors) == {(f"set.{name}", Reason.NOT_SETTABLE)}


@pytest.mark.parametrize(
    "name", ["text", "feeds", "visibility", "restrict_replies", "type", "id", "user_id"]
)
def test_partial_unset_of_a_non_unsettable_field(name: str) -> None:
    errors = validate_partial(None, [name])
    assert codes(errors) == {(f"unset.{name}", Reason.NOT_UNSETTABLE)}


def test_partial_settable_and_unsettable_fields_pass() -> None:
    sets = {
        "text": "t",
        "attachments": [{"image_url": "u"}],
        "custom": {"a": 1},
        "visibility": "private",
        "visibility_tag": "v",
        "restrict_replies": "nobody",
        "location": {"lat": 1, "lng": 2},
        "expires_at": "2030-01-01T00:00:00Z",
        "filter_tags": ["f"],
        "interest_tags": ["i"],
        "poll_id": "p",
        "feeds": ["user:a"],
        "mentioned_user_ids": ["bob"],
        "search_data": {"s": 1},
    }
    assert set(sets) == set(PARTIAL_SET_FIELDS)
    assert validate_partial(sets, sorted(PARTIAL_UNSET_FIELDS)) == []


def test_partial_dotted_custom_paths_pass() -> None:
    assert validate_partial({"custom.color": "red", "custom.a.b.c": [1]}, ["custom.x.y"]) == []


@pytest.mark.parametrize("name", ["text", "feeds", "visibility", "custom", "location"])
def test_partial_set_to_null_is_refused(name: str) -> None:
    assert codes(validate_partial({name: None}, None)) == {(f"set.{name}", Reason.TYPE)}


@pytest.mark.parametrize(
    ("set_", "path", "code"),
    [
        ({"visibility_tag": "t" * 33}, "set.visibility_tag", Reason.TOO_LONG),
        ({"feeds": []}, "set.feeds", Reason.TOO_FEW),
        ({"feeds": ["nocolon"]}, "set.feeds[0]", Reason.FEED_FORMAT),
        ({"filter_tags": ["t"] * 51}, "set.filter_tags", Reason.TOO_MANY),
        ({"location": {"lat": 91, "lng": 0}}, "set.location.lat", Reason.RANGE),
        ({"expires_at": "2030-01-01T00:00:00"}, "set.expires_at", Reason.TIMEZONE),
        ({"visibility": "secret"}, "set.visibility", Reason.CHOICE),
        ({"custom": []}, "set.custom", Reason.TYPE),
    ],
)
def test_partial_set_values_are_validated(set_: dict[str, Any], path: str, code: Reason) -> None:
    assert codes(validate_partial(set_, None)) == {(path, code)}


def test_partial_set_and_unset_shapes() -> None:
    assert codes(validate_partial(["text"], None)) == {("set", Reason.TYPE)}  # type: ignore[arg-type]
    assert codes(validate_partial(None, "custom")) == {("unset", Reason.TYPE)}


def test_partial_unset_items_that_are_not_names_are_refused() -> None:
    # Found by schemathesis: a list inside unset made the server answer 500 (unhashable).
    unset: list[Any] = ["custom.ok", ["text"], {"a": 1}, 5]
    errors = validate_partial(None, unset)
    assert codes(errors) == {(f"unset[{i}]", Reason.TYPE) for i in (1, 2, 3)}


def test_partial_dotted_paths_are_bounded_in_depth() -> None:
    # Found by the hostile tests: a path of 300 segments built an object the server could
    # store but not answer (a 500, and every later read of the activity too).
    at_limit = "custom." + ".".join(["a"] * MAX_NESTING)
    too_deep = at_limit + ".a"
    assert validate_partial({at_limit: 1}, None) == []
    assert codes(validate_partial({too_deep: 1}, None)) == {(f"set.{too_deep}", Reason.TOO_DEEP)}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2262-04-11T23:47:16Z", True),
        ("1677-09-21T00:12:44Z", True),
        (2**63 - 1, True),
        (-(2**63), True),
        ("2262-04-11T23:47:17Z", False),
        ("9999-12-31T23:59:59Z", False),
        ("0001-01-01T00:00:00Z", False),
        (2**63, False),
        (-(2**63) - 1, False),
    ],
)
def test_times_must_fit_int64_nanoseconds(value: Any, ok: bool) -> None:
    # Found by the hostile tests: expires_at 2**63 passed validation and the server answered
    # 500 (SQLite INTEGER overflow); the wire carries int64 nanoseconds.
    errors = validate_activity({"type": "post", "feeds": ["user:a"], "expires_at": value})
    assert codes(errors) == (set() if ok else {("expires_at", Reason.RANGE)})
    assert codes(validate_partial({"expires_at": value}, None)) == (
        set() if ok else {("set.expires_at", Reason.RANGE)}
    )


def test_apply_partial_dotted_set_and_unset_keep_untouched_keys() -> None:
    before = {
        "text": "t",
        "filter_tags": ["a"],
        "custom": {"a": {"b": 1, "c": 2}, "d": 3, "e": {"f": 4, "g": 5}},
    }
    after = apply_partial(
        before, {"custom.a.b": 9, "custom.new.deep": "x", "text": "u"}, ["custom.e.f", "custom.d"]
    )
    assert after == {
        "text": "u",
        "filter_tags": ["a"],
        "custom": {"a": {"b": 9, "c": 2}, "e": {"g": 5}, "new": {"deep": "x"}},
    }
    # the input is not changed
    assert before["custom"] == {"a": {"b": 1, "c": 2}, "d": 3, "e": {"f": 4, "g": 5}}
    assert before["text"] == "t"


def test_apply_partial_whole_fields() -> None:
    before = {"text": "t", "location": {"lat": 1, "lng": 2}, "custom": {"a": 1}}
    after = apply_partial(before, {"custom": {"b": 2}}, ["location"])
    assert after == {"text": "t", "custom": {"b": 2}}
    assert apply_partial(before, None, ["custom"])["custom"] == {}


def test_apply_partial_unset_of_a_missing_path_is_harmless() -> None:
    before = {"custom": {"a": 1}}
    assert apply_partial(before, None, ["custom.x.y", "custom.a.b"]) == {"custom": {"a": 1}}


# --------------------------------------------------------------------------------------------
# parse_time and format_time
# --------------------------------------------------------------------------------------------


def test_parse_time_keeps_nanoseconds_of_strings() -> None:
    ns = parse_time("2030-01-01T00:00:00.123456789Z")
    assert ns == 1_893_456_000_123_456_789
    assert format_time(ns) == "2030-01-01T00:00:00.123456789Z"


def test_parse_time_applies_offsets() -> None:
    assert parse_time("2030-01-01T02:00:00+02:00") == parse_time("2030-01-01T00:00:00Z")
    assert parse_time("2029-12-31T19:00:00-05:00") == 1_893_456_000 * 10**9


def test_parse_time_keeps_pandas_nanoseconds() -> None:
    stamp = pd.Timestamp("2030-01-01T00:00:00.123456789Z")
    assert parse_time(stamp) == 1_893_456_000_123_456_789
    assert format_time(parse_time(stamp)) == "2030-01-01T00:00:00.123456789Z"
    shifted = pd.Timestamp("2030-01-01T01:00:00.000000001+01:00")
    assert parse_time(shifted) == 1_893_456_000_000_000_001


def test_parse_time_refuses_naive_values() -> None:
    for value in (datetime(2030, 1, 1), pd.Timestamp("2030-01-01"), "2030-01-01T00:00:00"):
        with pytest.raises(ValueError) as exc:
            parse_time(value)
        assert exc.value.args[1] is Reason.TIMEZONE


def test_format_time_without_fraction() -> None:
    assert format_time(1_893_456_000 * 10**9) == "2030-01-01T00:00:00Z"
    assert format_time(0) == "1970-01-01T00:00:00Z"


@given(st.integers(min_value=-(10**18), max_value=4 * 10**18))
def test_format_then_parse_is_identity(ns: int) -> None:
    assert parse_time(format_time(ns)) == ns


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.just(UTC),
    )
)
# Float seconds cannot hold microseconds past ~year 2250; this instant rounds up a second.
@example(datetime(3000, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC))
def test_parse_time_of_a_datetime_is_exact(dt: datetime) -> None:
    assert parse_time(dt) == exact_ns(dt)
    assert parse_time(dt.isoformat()) == exact_ns(dt)
    assert parse_time(format_time(parse_time(dt))) == exact_ns(dt)


# --------------------------------------------------------------------------------------------
# properties over the schema's own declarations
# --------------------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
JSON_OBJECTS = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        JSON_SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=5,
    ),
    max_size=4,
)
FEED_IDS = st.from_regex(FEED_ID, fullmatch=True).filter(lambda s: len(s) <= 40)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


def _string(name: str, max_length: int | None) -> st.SearchStrategy[str]:
    min_size = 1 if name in ("id", "type", "user_id", "parent_id") else 0
    return st.text(min_size=min_size, max_size=max_length or 40)


def valid_value(name: str) -> st.SearchStrategy[Any]:
    """A valid value for field ``name``, drawn from its declaration."""
    f = FIELDS[name]
    if f.kind is Kind.STRING:
        return _string(name, f.max_length)
    if f.kind is Kind.STRING_LIST:
        item = FEED_IDS if name == "feeds" else _string(name, f.item_max_length)
        return st.lists(item, min_size=f.min_items or 0, max_size=f.max_items or 10)
    if f.kind is Kind.CHOICE:
        return st.sampled_from(f.choices)
    if f.kind is Kind.OBJECT:
        return JSON_OBJECTS
    if f.kind is Kind.LOCATION:
        return st.fixed_dictionaries(
            {
                "lat": st.floats(-90, 90) | st.integers(-90, 90),
                "lng": st.floats(-180, 180) | st.integers(-180, 180),
            }
        )
    if f.kind is Kind.TIME:
        return TIMES | TIMES.map(lambda d: d.isoformat()) | TIMES.map(exact_ns)
    if f.kind is Kind.ATTACHMENTS:
        url = st.text(max_size=20)
        return st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["image", "video", "file", "url"]),
                    "image_url": url,
                    "asset_url": url,
                    "thumb_url": url,
                    "title": url,
                    "text": url,
                    "custom": JSON_OBJECTS,
                },
            ),
            max_size=3,
        )
    raise AssertionError(f.kind)


@st.composite
def valid_activities(draw: st.DrawFn) -> dict[str, Any]:
    names = sorted(FIELDS)
    present = draw(st.sets(st.sampled_from(names)))
    out = {
        name: draw(valid_value(name)) for name in names if name in present or FIELDS[name].required
    }
    if out.get("visibility") == "tag" and not out.get("visibility_tag"):
        out["visibility_tag"] = draw(st.text(min_size=1, max_size=MAX_VISIBILITY_TAG))
    return out


def violations(name: str) -> list[Any]:
    """Values that break field ``name``'s declaration, derived from the declaration; DROP
    stands for leaving a required field out."""
    f = FIELDS[name]
    wrong_type = {
        Kind.STRING: 123,
        Kind.STRING_LIST: "not-a-list",
        Kind.CHOICE: 1,
        Kind.OBJECT: ["not", "an", "object"],
        Kind.LOCATION: "52,4",
        Kind.TIME: "2030-01-01T00:00:00",  # no offset
        Kind.ATTACHMENTS: "not-a-list",
    }
    out: list[Any] = [wrong_type[f.kind]]
    if f.required:
        out.append(DROP)
    if f.max_length is not None:
        out.append("x" * (f.max_length + 1))
    if name in ("id", "type", "user_id", "parent_id"):
        out.append("")
    if f.min_items:
        out.append([])
    if f.max_items is not None:
        item = "user:x" if name == "feeds" else "x"
        out.append([item] * (f.max_items + 1))
    if f.item_max_length is not None:
        out.append(["x" * (f.item_max_length + 1)])
    if name == "feeds":
        out.append(["nocolon"])
    if f.choices:
        out.append("not-a-choice")
    if f.kind is Kind.LOCATION:
        out += [{"lat": 90.5, "lng": 0}, {"lat": 0, "lng": -180.5}, {"lat": 0}, {"lat": True}]
    if f.kind is Kind.ATTACHMENTS:
        out += [[{"image_url": 5}], [{"custom": []}], ["x"]]
    return out


SINGLE_VIOLATIONS = [(name, bad) for name in sorted(FIELDS) for bad in violations(name)]


def assert_names_only(activity: dict[str, Any], name: str, bad: Any) -> None:
    """``activity`` with field ``name`` broken by ``bad`` fails, and only on that field."""
    broken = dict(activity)
    if bad is DROP:
        broken.pop(name, None)
    else:
        broken[name] = bad
    errors = validate_activity(broken)
    assert errors, f"{name}={bad!r} was accepted"
    for e in errors:
        assert e.field == name or e.field.startswith((f"{name}.", f"{name}[")), (name, errors)


def test_every_field_has_at_least_one_violation() -> None:
    assert {name for name, _ in SINGLE_VIOLATIONS} == set(FIELDS)


@settings(max_examples=100, deadline=None)
@given(valid_activities())
def test_random_valid_activities_validate(activity: dict[str, Any]) -> None:
    assert validate_activity(activity) == []


@pytest.mark.parametrize(("name", "bad"), SINGLE_VIOLATIONS)
def test_a_single_field_violation_is_named(name: str, bad: Any) -> None:
    assert_names_only(act(), name, bad)


@settings(max_examples=100, deadline=None)
@given(valid_activities(), st.sampled_from(SINGLE_VIOLATIONS))
def test_a_single_field_violation_of_a_random_activity_is_named(
    activity: dict[str, Any], violation: tuple[str, Any]
) -> None:
    assert_names_only(activity, *violation)


# -- the fast verdict -----------------------------------------------------------------------

_EDGE_VALUES = st.one_of(
    st.sampled_from(["", "a", "user:ann", "nocolon", "x" * 256, "public", "tag", "private",
                     "https://x.org/a.png", "2026-01-02T03:04:05Z", "not a time"]),
    st.integers(-3, 3), st.booleans(), st.none(), st.floats(allow_nan=True),
    st.lists(st.sampled_from(["user:ann", "nocolon", "", "x" * 300, 3]), max_size=3),
    st.dictionaries(st.sampled_from(["lat", "lng", "type", "image_url", "x", 7]),
                    st.one_of(st.integers(-200, 200), st.text(max_size=3), st.booleans(),
                              st.floats(-200, 200), st.floats(allow_nan=True), st.none()),
                    max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["type", "image_url", "title", "custom", "x"]),
                             st.one_of(st.text(max_size=2), st.integers(), st.none(),
                                       st.dictionaries(st.text(max_size=1), st.integers(),
                                                       max_size=1)),
                             max_size=3),
             max_size=2),
)  # fmt: skip
_VALID = {"id": "a1", "type": "post", "user_id": "ann", "feeds": ["user:ann"], "text": "hi"}


@settings(max_examples=500, deadline=None)
@given(
    st.dictionaries(st.sampled_from([*(f.name for f in ACTIVITY_FIELDS), "unknown"]),
                    _EDGE_VALUES, max_size=4),
    st.sets(st.sampled_from(sorted(_VALID))), st.booleans(),
)  # fmt: skip
def test_the_fast_verdict_of_an_activity_is_that_of_its_errors(
    changed: dict[str, Any], dropped: set[str], strict: bool
) -> None:
    """``validate_activity`` answers a valid activity by each field's ``accepts``; the
    verdict is the same as the full checks' (``require`` given takes the full checks)."""
    data = {k: v for k, v in {**_VALID, **changed}.items() if k not in dropped}
    required = [f.name for f in ACTIVITY_FIELDS if f.required]
    full = validate_activity(data, strict=strict, require=required)
    assert (validate_activity(data, strict=strict) == []) == (full == []), (data, full)
    if full:  # the reasons are the full checks' own
        assert validate_activity(data, strict=strict) == full


@given(
    depth=st.integers(1, 300),
    shape=st.lists(st.sampled_from(["dict", "list"]), min_size=1, max_size=4),
    text=st.sampled_from(["", "{[", "[[{{" * 40]),
)
@settings(max_examples=150, deadline=None)
def test_an_activity_too_deep_is_found_however_its_brackets_read(
    depth: int, shape: list[str], text: str
) -> None:
    """check_encoded counts brackets in the text before walking the levels: brackets inside
    strings, lists and objects mixed, and depths past what orjson encodes (254) are all
    judged by the levels themselves."""
    from feedkit.schema.fields import MAX_ACTIVITY_DEPTH, check_encoded, json_depth

    value: Any = text
    for level in range(depth - 1):
        value = {"k": value, "t": text} if shape[level % len(shape)] == "dict" else [value, text]
    activity = {"id": "a", "type": "post", "custom": value}
    deep = json_depth(activity, MAX_ACTIVITY_DEPTH) > MAX_ACTIVITY_DEPTH
    codes_found = {e.code for e in check_encoded(activity)}
    assert (Reason.TOO_DEEP in codes_found) is deep
    assert deep is (depth > MAX_ACTIVITY_DEPTH)
