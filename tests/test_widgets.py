"""The notebook forms, driven as a person would: set widget values, click, read back the store.

Every expected message is asked of ``feedkit.schema`` here too, so a test fails if a form ever
grows its own copy of a limit. Requests are counted with an ``httpx.MockTransport`` client
where the point is what is (not) sent, and read back with ``client.get_activity`` otherwise.
``feedkit.widgets`` is imported inside the fixtures, not at collection, so that it is not yet
an attribute of ``feedkit`` while the public-namespace test runs.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

import feedkit
from feedkit.schema import (
    ACTIVITY_FIELDS,
    FIELDS,
    MAX_FEEDS,
    MAX_FILTER_TAGS,
    MAX_ID,
    MAX_MENTIONS,
    MAX_VISIBILITY_TAG,
    PARTIAL_SET_FIELDS,
    parse_time,
    validate_activity,
    validate_partial,
)

VALID: dict[str, Any] = {"type": "post", "feeds": ["user:alice"], "user_id": "alice"}


@pytest.fixture
def widgets() -> ModuleType:
    import feedkit.widgets

    return feedkit.widgets


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


@pytest.fixture(params=["embedded", "remote"])
def any_client(request: pytest.FixtureRequest) -> Iterator[feedkit.Client]:
    """The embedded default, and a real ``feedkit serve`` over HTTP: the forms must not care."""
    if request.param == "embedded":
        c = feedkit.connect(":memory:")
    else:
        c = request.getfixturevalue("live_server").client()
    with c:
        yield c


class Recorder:
    """A client whose transport records every request and answers with ``reply``."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.reply = reply or self.stored
        self.client = feedkit.Client(
            "http://x", "k", "s" * 32, transport=httpx.MockTransport(self.handle)
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    @staticmethod
    def stored(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        activity = {**body, "id": body.get("id") or "a1", "created_at": 1, "updated_at": 1}
        return httpx.Response(201, json={"activity": activity, "duration": "1ms"})

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def refusal(fields: dict[str, str]) -> Callable[[httpx.Request], httpx.Response]:
    """A server that refuses every request with a 400 naming ``fields``."""
    body = {
        "code": 4,
        "message": "invalid request",
        "StatusCode": 400,
        "duration": "1ms",
        "more_info": "",
        "details": [],
        "exception_fields": fields,
    }
    return lambda _request: httpx.Response(400, json=body)


def shown(widget: Any) -> str:
    """The text an HTML widget shows (tags stripped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def row_errors(form: Any) -> dict[str, str]:
    return {name: shown(row.error) for name, row in form.rows.items() if shown(row.error)}


def schema_message(request: dict[str, Any], path: str) -> str:
    return {e.field: e.message for e in validate_activity(request)}[path]


def press_enter(control: Any) -> None:
    """What the front end sends when Enter is pressed in a tag input's box: a newline."""
    control.entry.value += "\n"


def type_tags(control: Any, *tags: str) -> None:
    """Type each tag into a tag input and press Enter."""
    for tag in tags:
        control.entry.value = tag
        press_enter(control)


def chips(control: Any) -> list[str]:
    return [chip.description.removesuffix(" ✕") for chip in control.chips.children]


def table_rows(widget: Any) -> dict[str, str]:
    """The rows of an HTML table widget: header cell -> data cell, as shown."""
    found = re.findall(r"<th[^>]*>(.*?)</th><td[^>]*>(.*?)</td>", widget.value)
    return {html.unescape(k): html.unescape(re.sub(r"<[^>]+>", "", v)) for k, v in found}


# -- ActivityForm: building and sending ---------------------------------------------------------


def test_every_schema_field_has_a_named_input_and_a_row(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    assert set(form.rows) == set(FIELDS)
    for name in FIELDS:
        assert getattr(form, f"w_{name}") is form.rows[name].control
    assert form.w_type.text.options == ("post", "video", "image", "share", "comment", "like")
    assert form.w_visibility.dropdown.options == FIELDS["visibility"].choices


def test_typed_values_are_stored_as_sent(widgets: ModuleType, any_client: Any) -> None:
    form = widgets.ActivityForm(any_client)
    form.w_id.text.value = "act-1"
    form.w_type.text.value = "video"  # free text in the combobox works too
    form.w_user_id.text.value = "alice"
    type_tags(form.w_feeds, "user:alice", "timeline:bob")
    form.w_text.text.value = "Hello from a form"
    form.w_filter_tags.entry.value = "green, blue,"  # a comma adds a tag
    form.w_mentioned_user_ids.entry.value = "bob"  # left in the box: counts (no blur event)
    form.w_interest_tags.entry.value = "cats"
    form.w_custom.text.value = '{"color": "blue", "n": {"a": 1}}'
    form.w_search_data.text.value = '{"kw": "hello"}'
    form.w_visibility.dropdown.value = "tag"
    form.w_visibility_tag.text.value = "team"
    form.w_restrict_replies.dropdown.value = "nobody"
    form.w_location.lat.value = "52.5"
    form.w_location.lng.value = "13.4"
    form.w_expires_at.text.value = "2030-01-01T09:00:00+09:00"
    form.w_parent_id.text.value = "p1"
    form.w_attachments.bn_add.click()
    attachment = form.w_attachments.items[0]
    attachment.rows["type"].control.text.value = "image"
    attachment.rows["image_url"].control.text.value = "https://x.test/a.png"
    attachment.rows["custom"].control.text.value = '{"w": 640}'
    assert form.errors == {}

    seen: list[Any] = []
    form.on_submitted(seen.append)
    form.bn_submit.click()

    stored = any_client.get_activity("act-1")
    assert form.result is not None and form.result["id"] == "act-1"
    assert seen == [form.result]
    assert stored["type"] == "video"
    assert stored.user_id == "alice"
    assert stored["feeds"] == ["user:alice", "timeline:bob"]
    assert stored["text"] == "Hello from a form"
    assert stored["filter_tags"] == ["green", "blue"]
    assert stored["interest_tags"] == ["cats"]
    assert stored.mentioned_user_ids == ["bob"]
    assert stored["custom"] == {"color": "blue", "n": {"a": 1}}
    assert stored["search_data"] == {"kw": "hello"}
    assert (stored["visibility"], stored["visibility_tag"]) == ("tag", "team")
    assert stored["restrict_replies"] == "nobody"
    assert stored["location"] == {"lat": 52.5, "lng": 13.4}
    assert stored["expires_at"] == parse_time("2030-01-01T00:00:00Z")
    assert stored["parent_id"] == "p1"
    assert stored["attachments"] == [
        {"type": "image", "image_url": "https://x.test/a.png", "custom": {"w": 640}}
    ]
    assert "act-1" in shown(form.message)
    assert table_rows(form.result_view)["id"] == "act-1"
    assert "created_at" in table_rows(form.result_view)


def test_value_fills_the_widgets_and_reads_back(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    request = {
        **VALID,
        "text": "hi",
        "custom": {"a": [1, 2]},
        "location": {"lat": 1.5, "lng": -2.0},
        "expires_at": "2030-01-01T00:00:00Z",
        "visibility": "tag",
        "visibility_tag": "team",
        "restrict_replies": "everyone",
        "attachments": [{"type": "file", "asset_url": "https://x.test/f"}],
    }
    form.value = request
    assert form.value == request
    assert form.w_text.text.value == "hi"
    assert json.loads(form.w_custom.text.value) == {"a": [1, 2]}
    assert form.w_location.lat.value == "1.5"
    assert len(form.w_attachments.items) == 1
    form.value = VALID  # setting again clears what the new value leaves out
    assert form.value == {**VALID, "visibility": "public", "restrict_replies": "everyone"}
    assert form.w_attachments.items == [] and form.w_custom.text.value == ""
    with pytest.raises(ValueError, match="txt"):
        form.value = {**VALID, "txt": "typo"}


def test_visibility_tag_is_enabled_only_for_tag(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    assert form.w_visibility_tag.disabled and form.w_visibility_tag.text.disabled
    form.w_visibility.dropdown.value = "tag"
    assert not form.w_visibility_tag.text.disabled
    form.w_visibility_tag.text.value = "team"
    form.w_visibility.dropdown.value = "private"
    assert form.w_visibility_tag.text.disabled
    assert "visibility_tag" not in form.value


def test_attachments_rows_are_added_and_removed(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    form.w_attachments.bn_add.click()
    form.w_attachments.bn_add.click()
    first, second = form.w_attachments.items
    first.rows["title"].control.text.value = "one"
    second.rows["thumb_url"].control.text.value = "https://x.test/t.png"
    assert form.value["attachments"] == [{"title": "one"}, {"thumb_url": "https://x.test/t.png"}]
    first.bn_remove.click()
    assert form.value["attachments"] == [{"thumb_url": "https://x.test/t.png"}]
    assert "attachment 1" in shown(second.title)


# -- ActivityForm: one test per schema limit, the error shown next to its own field ---------------

LIMIT_CASES = [
    ("id-too-long", {"id": "i" * (MAX_ID + 1)}, "id", "id"),
    ("type-too-long", {"type": "t" * (MAX_ID + 1)}, "type", "type"),
    ("user-id-too-long", {"user_id": "u" * (MAX_ID + 1)}, "user_id", "user_id"),
    ("parent-id-too-long", {"parent_id": "p" * (MAX_ID + 1)}, "parent_id", "parent_id"),
    ("bad-feed-id", {"feeds": ["user:alice", "nocolon"]}, "feeds[1]", "feeds"),
    ("too-many-feeds", {"feeds": [f"user:{i}" for i in range(MAX_FEEDS + 1)]}, "feeds", "feeds"),
    (
        "too-many-filter-tags",
        {"filter_tags": [f"t{i}" for i in range(MAX_FILTER_TAGS + 1)]},
        "filter_tags",
        "filter_tags",
    ),
    (
        "too-many-mentions",
        {"mentioned_user_ids": [f"u{i}" for i in range(MAX_MENTIONS + 1)]},
        "mentioned_user_ids",
        "mentioned_user_ids",
    ),
    ("tag-without-visibility-tag", {"visibility": "tag"}, "visibility_tag", "visibility_tag"),
    (
        "visibility-tag-too-long",
        {"visibility": "tag", "visibility_tag": "v" * (MAX_VISIBILITY_TAG + 1)},
        "visibility_tag",
        "visibility_tag",
    ),
    ("lat-out-of-range", {"location": {"lat": 90.5, "lng": 0.0}}, "location.lat", "location"),
    ("lng-out-of-range", {"location": {"lat": 0.0, "lng": -180.5}}, "location.lng", "location"),
    ("lng-missing", {"location": {"lat": 10.0}}, "location.lng", "location"),
    ("lat-missing", {"location": {"lng": 10.0}}, "location.lat", "location"),
    ("naive-expires-at", {"expires_at": "2030-01-01T00:00:00"}, "expires_at", "expires_at"),
    ("unparseable-expires-at", {"expires_at": "next tuesday"}, "expires_at", "expires_at"),
    ("custom-not-an-object", {"custom": [1, 2]}, "custom", "custom"),
    ("search-data-not-an-object", {"search_data": "text"}, "search_data", "search_data"),
]


@pytest.mark.parametrize(
    ("change", "path", "row"), [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES]
)
def test_schema_limit_shows_at_its_field(
    widgets: ModuleType, client: Any, change: dict[str, Any], path: str, row: str
) -> None:
    request = {**VALID, **change}
    message = schema_message(request, path)
    form = widgets.ActivityForm(client)
    form.value = request
    assert form.errors == {path: message}
    errors = row_errors(form)
    assert list(errors) == [row]
    assert message in errors[row]
    assert "var(--jp-rendermime-error-background" in form.rows[row].error.value  # a theme's


def test_errors_show_while_typing_not_only_on_submit(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    form.w_location.lat.value = "91"
    assert "location.lat" in form.errors and "location.lng" in form.errors
    assert "must be within [-90, 90]" in shown(form.rows["location"].error)
    form.w_location.lat.value = "45"
    form.w_location.lng.value = "7"
    assert not shown(form.rows["location"].error)
    form.w_expires_at.text.value = "2030-01-01 10:00"
    assert "no timezone offset" in shown(form.rows["expires_at"].error)
    form.w_expires_at.text.value = "2030-01-01 10:00+01:00"
    assert not shown(form.rows["expires_at"].error)
    assert "2030-01-01T09:00:00Z" in shown(form.w_expires_at.hint)


@pytest.mark.parametrize("name", ["custom", "search_data"])
def test_invalid_json_is_shown_live(widgets: ModuleType, client: Any, name: str) -> None:
    form = widgets.ActivityForm(client)
    control = getattr(form, f"w_{name}")
    control.text.value = '{"a": 1,'
    assert form.errors[name].startswith("invalid JSON")
    assert "invalid JSON" in shown(form.rows[name].error)
    assert name not in form.value
    control.text.value = '{"a": 1}'
    assert name not in form.errors and not shown(form.rows[name].error)
    control.text.value = "[1]"  # JSON, but not an object: the schema says so
    assert form.errors[name] == schema_message({name: [1]}, name)


def test_invalid_attachment_custom_json_is_shown_on_its_row(
    widgets: ModuleType, client: Any
) -> None:
    form = widgets.ActivityForm(client)
    form.w_attachments.bn_add.click()
    form.w_attachments.bn_add.click()
    second = form.w_attachments.items[1]
    second.rows["custom"].control.text.value = "{nope"
    assert [p for p in form.errors if p.startswith("attachments")] == ["attachments[1].custom"]
    assert "invalid JSON" in shown(second.rows["custom"].error)
    assert not shown(form.w_attachments.items[0].rows["custom"].error)
    assert not shown(form.rows["attachments"].error)


def test_required_fields_show_once_touched_or_submitted(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    assert set(form.errors) == {"type", "feeds"}
    assert row_errors(form) == {}  # a blank form is not shouted at
    form.bn_submit.click()
    assert row_errors(form) == {"type": "is required", "feeds": "is required"}
    assert "Not sent" in shown(form.message)


# -- ActivityForm: what is sent, and what the server says -------------------------------------


def test_nothing_is_sent_while_invalid(widgets: ModuleType) -> None:
    recorder = Recorder()
    form = widgets.ActivityForm(recorder.client)
    form.value = {**VALID, "feeds": ["nocolon"]}
    form.bn_submit.click()
    form.w_custom.text.value = "{broken"
    form.submit()
    form.value = {**VALID, "location": {"lat": 1.0}}
    form.bn_submit.click()
    assert recorder.requests == []
    assert form.result is None and "Not sent" in shown(form.message)

    form.value = {**VALID, "text": "ok"}
    form.bn_submit.click()
    assert len(recorder.requests) == 1
    assert recorder.requests[0].method == "POST"
    assert recorder.requests[0].url.path == "/api/v2/feeds/activities"
    assert recorder.bodies() == [form.value]


def test_server_refusal_is_shown_at_its_field(widgets: ModuleType) -> None:
    message = "feed group 'user' is not configured"
    recorder = Recorder(refusal({"feeds[0]": message, "activity": "was refused"}))
    form = widgets.ActivityForm(recorder.client)
    form.value = VALID  # valid as far as the schema can tell
    assert form.errors == {}
    assert form.submit() is None
    assert len(recorder.requests) == 1
    assert form.errors == {"feeds[0]": message, "activity": "was refused"}
    assert row_errors(form) == {"feeds": f"feeds[0]: {message}"}
    assert "400" in shown(form.message) and "activity: was refused" in shown(form.message)
    assert form.result is None
    type_tags(form.w_feeds, "user:bob")  # an edit of that field clears the server's word
    assert "feeds[0]" not in form.errors and "feeds" not in row_errors(form)


def test_server_refusal_reaches_an_attachment_field(widgets: ModuleType) -> None:
    recorder = Recorder(refusal({"attachments[1].image_url": "is not reachable"}))
    form = widgets.ActivityForm(recorder.client)
    form.value = {**VALID, "attachments": [{"type": "file"}, {"image_url": "https://x.test/i"}]}
    form.bn_submit.click()
    first, second = form.w_attachments.items
    assert shown(second.rows["image_url"].error) == "is not reachable"
    assert not shown(first.rows["image_url"].error)


# -- PartialUpdateForm ------------------------------------------------------------------------


@pytest.fixture
def stored_id(client: Any) -> str:
    activity = client.add_activity(
        {
            **VALID,
            "text": "before",
            "custom": {"color": "blue", "size": 3, "nested": {"a": 1}},
        }
    )
    return str(activity["id"])


def test_partial_offers_only_settable_fields(widgets: ModuleType, client: Any) -> None:
    form = widgets.PartialUpdateForm(client)
    assert set(form.w_set) == set(PARTIAL_SET_FIELDS)
    assert set(form.cb_set) == set(PARTIAL_SET_FIELDS)
    for name in ("id", "type", "user_id", "parent_id"):
        assert name not in form.w_set
    expected = "; ".join(str(e) for e in validate_partial({"type": "x"}, ["text"]))
    with pytest.raises(ValueError) as caught:
        form.value = {"set": {"type": "x"}, "unset": ["text"]}
    assert str(caught.value) == expected


def test_partial_load_shows_current_values(
    widgets: ModuleType, client: Any, stored_id: str
) -> None:
    form = widgets.PartialUpdateForm(client)
    form.w_activity_id.value = stored_id
    form.bn_load.click()
    assert form.activity is not None and form.activity["id"] == stored_id
    assert form.w_set["text"].value == "before"
    assert not any(control.disabled for control in form.w_set.values())  # editing ticks
    fixed = table_rows(form.activity_view)  # what no partial update changes, shown once
    assert list(fixed)[:3] == ["id", "type", "user_id"] and fixed["id"] == stored_id
    assert "text" not in fixed and "custom" not in fixed
    assert json.loads(form.w_set["custom"].text.value)["nested"] == {"a": 1}
    offered = shown(form.unset_row.help)  # the names an unset takes, for this activity
    for name in ("custom.color", "custom.size", "custom.nested", "custom.nested.a", "poll_id"):
        assert name in offered
    assert "type" not in offered and "text" not in offered
    assert form.value == {"set": {}, "unset": []} and form.preview == {}


def test_partial_change_is_previewed_sent_and_highlighted(
    widgets: ModuleType, any_client: Any
) -> None:
    stored = any_client.add_activity(
        {**VALID, "text": "before", "custom": {"color": "blue", "size": 3, "nested": {"a": 1}}}
    )
    form = widgets.PartialUpdateForm(any_client, stored["id"])
    form.cb_set["text"].value = True
    form.w_set["text"].text.value = "after"
    form.w_custom_paths.bn_add.click()
    row = form.w_custom_paths.rows[0]
    row.w_path.value = "mood"
    row.w_value.text.value = '"happy"'
    type_tags(form.w_unset, "custom.color")
    expected = {"set": {"text": "after", "custom.mood": "happy"}, "unset": ["custom.color"]}
    assert form.errors == {}
    assert form.preview == expected
    assert json.loads(shown(form.preview_view)) == expected
    assert form.value == expected

    form.bn_submit.click()

    after = any_client.get_activity(stored["id"])
    assert after["text"] == "after"
    assert after["custom"] == {"mood": "happy", "size": 3, "nested": {"a": 1}}
    assert form.result is not None and form.result["custom"] == after["custom"]
    assert form.changes == {
        "text": ("before", "after"),
        "custom.mood": (None, "happy"),
        "custom.color": ("blue", None),
    }
    highlighted = re.findall(
        r"<tr class='feedkit-changed'[^>]*><th[^>]*>([^<]+)</th>", form.changes_view.value
    )
    assert sorted(highlighted) == ["custom.color", "custom.mood", "text"]
    assert table_rows(form.changes_view)["text"] == "after (was before)"
    assert "Changed text, custom.mood, custom.color" in shown(form.message)
    assert form.value == {"set": {}, "unset": []}  # ready for the next change


def test_partial_editing_a_field_ticks_it_and_untick_restores(
    widgets: ModuleType, client: Any, stored_id: str
) -> None:
    form = widgets.PartialUpdateForm(client, stored_id)
    type_tags(form.w_set["filter_tags"], "green")
    assert form.cb_set["filter_tags"].value
    assert form.preview == {"set": {"filter_tags": ["green"]}}
    form.cb_set["filter_tags"].value = False
    assert form.w_set["filter_tags"].value is None and form.preview == {}
    form.w_set["text"].text.value = "edited"  # no tick first: the edit ticks it
    assert form.cb_set["text"].value and form.preview == {"set": {"text": "edited"}}
    form.cb_set["text"].value = False
    assert form.w_set["text"].text.value == "before" and form.preview == {}


def test_partial_value_setter_and_errors(widgets: ModuleType, client: Any, stored_id: str) -> None:
    form = widgets.PartialUpdateForm(client, stored_id)
    change = {"set": {"text": "x", "custom.mood": "happy"}, "unset": ["custom.color"]}
    form.value = change
    assert form.value == change and form.preview == change
    assert form.cb_set["text"].value and not form.w_set["text"].disabled

    form.value = {"set": {"visibility": "tag"}}  # the merged activity would lack its tag
    assert form.errors == {"visibility_tag": "is required when visibility is 'tag'"}
    assert "is required" in shown(form.set_rows["visibility_tag"].error)
    form.value = {"set": {"feeds": ["nocolon"]}}
    assert list(form.errors) == ["set.feeds[0]"]
    assert "not a feed id" in shown(form.set_rows["feeds"].error)
    form.value = {"set": {"custom.mood": "happy"}}
    form.w_custom_paths.rows[0].w_value.text.value = "happy"  # not JSON
    assert form.errors["set.custom.mood"].startswith("invalid JSON")
    assert "invalid JSON" in shown(form.w_custom_paths.rows[0].error)
    assert form.submit() is None
    assert client.get_activity(stored_id)["custom"]["color"] == "blue"


def test_partial_refuses_without_activity_or_change(widgets: ModuleType, client: Any) -> None:
    form = widgets.PartialUpdateForm(client)
    assert form.load("missing") is None
    assert "missing" in shown(form.message) and form.activity is None
    assert form.submit() is None and "load an activity" in shown(form.message)


def test_partial_nothing_sent_while_invalid_and_server_errors_shown(
    widgets: ModuleType,
) -> None:
    activity = {"id": "a1", "type": "post", "feeds": ["user:a"], "text": "t", "custom": {}}

    def reply(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"activity": activity, "duration": "1ms"})
        return refusal({"set.text": "is not allowed here"})(request)

    recorder = Recorder(reply)
    form = widgets.PartialUpdateForm(recorder.client, "a1")
    form.value = {"set": {"location": {"lat": 100.0, "lng": 0.0}}}
    form.bn_submit.click()
    assert [r.method for r in recorder.requests] == ["GET"]
    form.value = {"set": {"text": "new"}}
    form.bn_submit.click()
    assert [r.method for r in recorder.requests] == ["GET", "PATCH"]
    assert json.loads(recorder.requests[1].content) == {"set": {"text": "new"}}
    assert form.errors == {"set.text": "is not allowed here"}
    assert shown(form.set_rows["text"].error) == "is not allowed here"


# -- What users reported: tags, the submitted view, New/reset, order, help, unset ------------


def test_tags_commit_on_enter_comma_and_another_edit(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    tags = form.w_filter_tags
    tags.entry.value = "red"
    press_enter(tags)
    assert chips(tags) == ["red"] and tags.entry.value == ""
    tags.entry.value = "green,"
    assert chips(tags) == ["red", "green"] and tags.entry.value == ""
    tags.entry.value = "blue, cyan, te"  # pasted: every part before the last comma is a tag
    assert chips(tags) == ["red", "green", "blue", "cyan"] and tags.entry.value == "te"
    assert form.value["filter_tags"] == ["red", "green", "blue", "cyan", "te"]  # the box counts
    form.w_text.text.value = "hi"  # editing another field: the typed tag is done
    assert chips(tags) == ["red", "green", "blue", "cyan", "te"] and tags.entry.value == ""
    tags.entry.value = "red"  # a duplicate adds nothing
    press_enter(tags)
    assert form.value["filter_tags"] == ["red", "green", "blue", "cyan", "te"]
    tags.chips.children[0].click()  # a tag's button removes it
    assert form.value["filter_tags"] == ["green", "blue", "cyan", "te"]


def test_submit_takes_a_tag_left_in_the_box(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    form.w_type.text.value = "post"
    form.w_user_id.text.value = "alice"
    form.w_feeds.entry.value = "user:alice"  # typed, no Enter: then straight to Submit
    stored = form.submit()
    assert stored is not None and stored["feeds"] == ["user:alice"]
    assert chips(form.w_feeds) == ["user:alice"]


def test_submitted_view_shows_every_stored_field(widgets: ModuleType, client: Any) -> None:
    request = {
        **VALID,
        "id": "full-1",
        "text": "all of it",
        "attachments": [{"type": "image", "image_url": "https://x.test/a.png"}],
        "custom": {"color": "blue", "n": 2},
        "search_data": {"kw": "x"},
        "filter_tags": ["a", "b"],
        "interest_tags": ["c"],
        "mentioned_user_ids": ["bob"],
        "visibility": "tag",
        "visibility_tag": "team",
        "restrict_replies": "nobody",
        "location": {"lat": 52.37, "lng": 4.89},
        "expires_at": "2030-01-01T00:00:00.123456789Z",
        "parent_id": "p1",
        "poll_id": "poll-1",
    }
    form = widgets.ActivityForm(client)
    form.value = request
    form.submit()
    rows = table_rows(form.result_view)
    assert list(rows) == [f.name for f in ACTIVITY_FIELDS] + ["created_at", "updated_at"]
    stored = client.get_activity("full-1").to_request()
    for name in ("attachments", "custom", "search_data", "location", "feeds", "filter_tags"):
        assert json.loads(rows[name]) == stored[name], name  # JSON, not a Python repr
    assert json.loads(rows["attachments"])[0]["image_url"] == "https://x.test/a.png"
    assert rows["visibility_tag"] == "team" and rows["restrict_replies"] == "nobody"
    assert rows["text"] == "all of it"
    assert rows["expires_at"] == "2030-01-01T00:00:00Z"  # to the second, UTC
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert stamp.fullmatch(rows["created_at"]) and stamp.fullmatch(rows["updated_at"])
    assert re.search(r"\(created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", shown(form.message))


def test_submitted_form_is_locked_until_new_or_reset(widgets: ModuleType) -> None:
    recorder = Recorder()
    form = widgets.ActivityForm(recorder.client)
    form.value = {**VALID, "text": "once", "filter_tags": ["a"]}
    form.bn_submit.click()
    assert len(recorder.requests) == 1 and form.locked
    assert all(control.disabled for control in form.inputs.values())
    assert form.bn_submit.layout.display == "none" and form.bn_new.layout.display is None
    assert form.submit() is None  # a second click stores nothing
    assert len(recorder.requests) == 1 and "click New" in shown(form.message)

    form.bn_new.click()
    assert not form.locked and form.result is None and form.result_view.value == ""
    assert form.value == {"visibility": "public", "restrict_replies": "everyone"}
    assert chips(form.w_filter_tags) == [] and form.w_text.text.value == ""
    enabled = {n for n, c in form.inputs.items() if not c.disabled}
    assert enabled == set(FIELDS) - {"visibility_tag"}  # enabled only with visibility "tag"
    assert row_errors(form) == {} and shown(form.message) == ""
    assert form.bn_submit.layout.display is None and form.bn_new.layout.display == "none"
    form.value = {**VALID, "text": "twice"}
    form.bn_submit.click()
    assert [b["text"] for b in recorder.bodies()] == ["once", "twice"]
    form.reset()
    assert form.value == {"visibility": "public", "restrict_replies": "everyone"}


def test_both_forms_follow_the_schema_order(widgets: ModuleType, client: Any) -> None:
    order = [f.name for f in ACTIVITY_FIELDS]
    form = widgets.ActivityForm(client)
    assert list(form.rows) == order
    assert [c for c in form.children if c in form.rows.values()] == list(form.rows.values())
    partial = widgets.PartialUpdateForm(client)
    assert list(partial.set_rows) == [f.name for f in ACTIVITY_FIELDS if f.settable]
    in_order = [c for c in partial.children if c in partial.set_rows.values()]
    assert in_order == list(partial.set_rows.values())


def test_each_field_shows_one_line_of_help(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    for f in ACTIVITY_FIELDS:
        assert shown(form.rows[f.name].help) == (f"Required. {f.doc}" if f.required else f.doc)
    partial = widgets.PartialUpdateForm(client)
    for name, row in partial.set_rows.items():
        assert shown(row.help) == FIELDS[name].doc
    assert "poll_id" in shown(partial.unset_row.help)


def test_location_halves_are_labelled(widgets: ModuleType, client: Any) -> None:
    form = widgets.ActivityForm(client)
    form.value = {**VALID, "location": {"lat": 52.37, "lng": 4.89}}
    pair = form.w_location.children[0].children
    assert [shown(pair[0]), pair[1].value, shown(pair[2]), pair[3].value] == [
        "lat",
        "52.37",
        "lng",
        "4.89",
    ]


def test_widths_come_from_one_system(widgets: ModuleType, client: Any) -> None:
    from feedkit.widgets._look import COLUMN_WIDTH, INPUT_WIDTH, LABEL_WIDTH

    form = widgets.ActivityForm(client)
    partial = widgets.PartialUpdateForm(client)
    rows = [*form.rows.values(), *partial.set_rows.values(), partial.unset_row]
    assert {row.label.layout.width for row in rows} == {LABEL_WIDTH}
    assert {row.column.layout.width for row in rows} == {COLUMN_WIDTH}
    assert {row.control.layout.width for row in rows} == {INPUT_WIDTH}


def test_partial_unset_of_a_fixed_field_says_why(
    widgets: ModuleType, client: Any, stored_id: str
) -> None:
    form = widgets.PartialUpdateForm(client, stored_id)
    type_tags(form.w_unset, "type", "custom.color")
    expected = {e.field: e.message for e in validate_partial({}, ["type"])}
    assert expected["unset.type"].startswith("'type' cannot be unset; unsettable:")
    assert form.errors == expected
    assert shown(form.unset_row.error) == expected["unset.type"]
    assert form.submit() is None and "Not sent" in shown(form.message)
    form.w_unset.remove("type")
    assert form.errors == {} and not shown(form.unset_row.error)
    assert form.submit() is not None
    assert "color" not in client.get_activity(stored_id)["custom"]


def test_partial_edit_ticks_every_kind_of_field(
    widgets: ModuleType, client: Any, stored_id: str
) -> None:
    form = widgets.PartialUpdateForm(client, stored_id)
    form.w_set["location"].lat.value = "1"
    form.w_set["location"].lng.value = "2"
    form.w_set["visibility"].dropdown.value = "private"
    form.w_set["expires_at"].text.value = "2030-01-01T00:00:00Z"
    form.w_set["custom"].text.value = '{"only": 1}'
    form.w_set["feeds"].entry.value = "user:b,"
    ticked = {name for name, box in form.cb_set.items() if box.value}
    assert ticked == {"location", "visibility", "expires_at", "custom", "feeds"}
    assert form.preview["set"] == {
        "location": {"lat": 1.0, "lng": 2.0},
        "visibility": "private",
        "expires_at": "2030-01-01T00:00:00Z",
        "custom": {"only": 1},
        "feeds": ["user:alice", "user:b"],
    }


def test_no_error_sits_beside_a_disabled_input(widgets: ModuleType) -> None:
    recorder = Recorder(refusal({"visibility_tag": "is not allowed"}))
    form = widgets.ActivityForm(recorder.client)
    form.value = VALID  # visibility public: the tag's input is disabled
    form.submit()
    assert form.w_visibility_tag.disabled and not shown(form.rows["visibility_tag"].error)
    assert "visibility_tag: is not allowed" in shown(form.message)


def html_values(widget: Any) -> list[str]:
    """The HTML of every HTML widget below ``widget``."""
    found = [widget.value] if hasattr(widget, "value") and isinstance(widget.value, str) else []
    for child in getattr(widget, "children", ()):
        found += html_values(child)
    return found


def test_every_colour_follows_the_theme(widgets: ModuleType, client: Any, stored_id: str) -> None:
    """No colour is fixed to one background: each is a JupyterLab variable (with a fallback)."""
    form = widgets.ActivityForm(client)
    form.value = {**VALID, "feeds": ["nocolon"], "location": {"lat": 99.0}}
    form.submit()  # refused: errors at the fields and beside the button
    shown_html = html_values(form)
    form.value = {**VALID, "expires_at": "2030-01-01T00:00:00+01:00"}
    form.submit()  # stored: the result table and the success message
    shown_html += html_values(form)
    partial = widgets.PartialUpdateForm(client, stored_id)
    type_tags(partial.w_unset, "type")
    shown_html += html_values(partial)
    partial.w_unset.remove("type")
    partial.w_set["text"].text.value = "after"
    partial.submit()  # the changed rows, highlighted
    shown_html += html_values(partial)
    styles = " ".join(re.findall(r"style='([^']*)'", " ".join(shown_html)))
    assert "var(--jp-rendermime-error-background" in styles and "feedkit-changed" in "".join(
        shown_html
    )
    fixed = re.sub(r"var\(--jp-[a-z0-9-]+, [^)]*\)", "", styles)
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|\b(?:white|black|red|green)\b", fixed)
