"""feedkit.results: an Activity shows every field that has a value, a Page its activities and
cursors, hostile text as text."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest
from IPython.lib.pretty import pretty

import feedkit
from feedkit.results import Activity, Page
from feedkit.schema import FIELDS

HOSTILE = "<script>alert(1)</script>"
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ"
EVERY_FIELD = {
    "id": "full-1", "type": "post", "feeds": ["user:alice", "timeline:alice"], "user_id": "alice",
    "text": "hello", "attachments": [{"type": "image", "image_url": "https://e.x/i.png"}],
    "custom": {"color": "blue", "n": [1, 2]}, "visibility": "tag", "visibility_tag": "premium",
    "restrict_replies": "people_i_follow", "location": {"lat": 52.37, "lng": 4.89},
    "expires_at": "2099-01-01T00:00:00Z", "mentioned_user_ids": ["bob"], "parent_id": "parent-1",
    "poll_id": "poll-1", "search_data": {"k": "v"}, "filter_tags": ["news"],
    "interest_tags": ["sports"],
}  # fmt: skip


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    c = feedkit.connect(":memory:")
    c.upsert_users([{"id": "alice"}, {"id": "bob"}])
    c.add_activity(id="parent-1", type="post", feeds=["user:alice"], user_id="alice", text="p")
    yield c
    c.close()


def rows(markup: str) -> dict[str, str]:
    """An activity table's rows: field -> the cell's text, unescaped."""
    found = re.findall(r"<tr><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td></tr>", markup)
    return {html.unescape(k): html.unescape(v) for k, v in found}


def test_every_field_of_the_schema_with_a_value_is_shown(client: feedkit.Client) -> None:
    assert set(EVERY_FIELD) == set(FIELDS)  # the example sets every field of the schema
    activity = client.add_activity(**EVERY_FIELD)
    shown = rows(activity._repr_html_())
    assert list(shown)[: len(FIELDS)] == list(FIELDS)  # in the schema's order
    for name, sent in EVERY_FIELD.items():
        if name == "expires_at":
            assert shown[name] == "2099-01-01 00:00:00Z"
        elif name == "attachments":
            assert json.loads(shown[name])[0].items() >= sent[0].items()  # type: ignore[index]
        elif isinstance(sent, (list, dict)):
            assert json.loads(shown[name]) == sent, name  # JSON values as JSON
        else:
            assert shown[name] == sent, name
    assert re.fullmatch(TIME, shown["created_at"]) and re.fullmatch(TIME, shown["updated_at"])
    assert dict(activity.shown()) == shown
    text = pretty(activity)
    assert text.startswith("Activity full-1") and all(name in text for name in FIELDS)


def test_fields_without_a_value_are_left_out(client: feedkit.Client) -> None:
    activity = client.add_activity(type="post", feeds=["user:alice"], user_id="alice")
    shown = rows(activity._repr_html_())
    assert {"text", "custom", "poll_id", "filter_tags", "expires_at", "location"}.isdisjoint(shown)
    assert {"id", "type", "feeds", "user_id", "created_at"} <= shown.keys()


def test_hostile_text_renders_as_text(client: feedkit.Client) -> None:
    activity = client.add_activity(
        id="h1", type="post", feeds=["user:alice"], user_id="alice", text=HOSTILE,
        custom={HOSTILE: HOSTILE}, filter_tags=[HOSTILE],
    )  # fmt: skip
    page = client.query_activities({"id": "h1"})
    shown = feedkit.show([activity])
    for markup in (activity._repr_html_(), page._repr_html_(), shown._repr_html_()):
        assert "<script" not in markup and "&lt;script&gt;" in markup
    assert rows(activity._repr_html_())["text"] == HOSTILE


def test_a_page_shows_its_activities_and_cursors(client: feedkit.Client) -> None:
    for i in range(3):
        client.add_activity(id=f"p{i}", type="post", feeds=["user:alice"], user_id="alice",
                            text=f"t{i}", filter_tags=["x"] if i == 2 else [])  # fmt: skip
    page = client.read_feed("user:alice", limit=2)
    markup, text = page._repr_html_(), pretty(page)
    assert page.next and f"next cursor: {page.next}" in markup
    assert f"next cursor: {page.next}" in text
    assert "feed user:alice: 2 activities" in markup
    assert markup.index(">p2<") < markup.index(">p1<")  # newest first, as the page holds them
    assert "<th" in markup and ">filter_tags<" in markup and ">created_at<" in markup
    assert "[&quot;x&quot;]" in markup and ">[]<" in markup  # lists as lists, empty ones too
    last = client.read_feed("user:alice", limit=2, next=page.next)
    assert "the last page" in last._repr_html_() and "next cursor" not in last._repr_html_()
    assert f"prev cursor: {last.prev}" in pretty(last) if last.prev else True


def test_show_takes_a_list_of_activities(client: feedkit.Client) -> None:
    batch = client.upsert_activities(
        [{"id": f"b{i}", "type": "post", "feeds": ["user:bob"], "user_id": "bob"} for i in range(3)]
    )
    view = feedkit.show(batch, rows=2)
    assert "3 activities, the first 2 shown" in repr(view)
    assert ">b0<" in view._repr_html_() and ">b2<" not in view._repr_html_()
    one = feedkit.show(batch[:1])
    assert "1 activity" in repr(one) and "text" not in repr(one).splitlines()[1].split()


def test_an_activity_of_request_fields_reads_the_same() -> None:
    activity = Activity({"id": "r1", "user_id": "alice", "mentioned_user_ids": ["bob"]})
    assert activity.user_id == "alice" and activity.mentioned_user_ids == ["bob"]
    assert rows(activity._repr_html_())["user_id"] == "alice"
    assert Page([activity]).activities[0] is activity
