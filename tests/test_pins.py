"""Pins through feedkit's own client on the embedded server (``feedkit.connect()``): the
answers, what a pin shows in a feed read, the errors naming their fields, 404s, a user token
pinning to another user's feed (403), and a store file of the layout before pins."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import feedkit
from feedkit.errors import APIError, AuthError, NotFoundError


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        c.read_feed("user:ann", user_id="ann")
        for aid in ("a1", "a2"):
            c.add_activity(id=aid, type="post", feeds=["user:ann"], user_id="ann")
        c.add_activity(id="b1", type="post", feeds=["user:bob"], user_id="bob")
        yield c


def test_pin_query_and_unpin(client: feedkit.Client) -> None:
    pinned = client.pin_activity("user", "ann", "a1", user_id="ann")
    assert (pinned["feed"], pinned["user_id"], pinned["activity"]["id"]) == ("user:ann", "ann",
                                                                             "a1")  # fmt: skip
    server_side = client.pin_activity("user", "ann", "a2")  # the feed's owner is the pinner
    assert server_side["user_id"] == "ann"
    answer = client.query_pinned_activities("user", "ann")
    assert [p["activity"]["id"] for p in answer["pinned_activities"]] == ["a2", "a1"]
    assert "next" not in answer
    page = client.feed_answer("user:ann", user_id="ann")
    assert page["feed"]["pin_count"] == 2
    assert [p["user"]["id"] for p in page["pinned_activities"]] == ["ann", "ann"]
    unpinned = client.unpin_activity("user", "ann", "a1", user_id="ann")
    assert (unpinned["feed"], unpinned["activity"]["id"]) == ("user:ann", "a1")
    assert client.feed_answer("user:ann")["feed"]["pin_count"] == 1


def test_a_pin_of_an_activity_moved_out_of_the_feed_stops_showing(client: feedkit.Client) -> None:
    client.pin_activity("user", "ann", "a1")
    client.update_activity_partial("a1", set={"feeds": ["user:other"]})
    page = client.feed_answer("user:ann")
    assert page["feed"]["pin_count"] == 0 and page["pinned_activities"] == []


def test_a_private_pinned_activity_shows_to_its_author_only(client: feedkit.Client) -> None:
    client.add_activity(id="secret", type="post", feeds=["user:ann"], user_id="ann",
                        visibility="private")  # fmt: skip
    client.pin_activity("user", "ann", "secret")
    as_ann = client.query_pinned_activities("user", "ann")["pinned_activities"]
    assert [p["activity"]["id"] for p in as_ann] == ["secret"]
    bob = client.as_user("bob")
    assert bob.query_pinned_activities("user", "ann")["pinned_activities"] == []
    assert bob.feed_answer("user:ann")["pinned_activities"] == []
    bob.close()


def test_errors_name_the_fields(client: feedkit.Client) -> None:
    with pytest.raises(APIError) as elsewhere:  # the activity is in another feed: a bad pair
        client.pin_activity("user", "ann", "b1")
    assert elsewhere.value.status == 400 and set(elsewhere.value.exception_fields) == {
        "activity_id"}  # fmt: skip
    with pytest.raises(APIError) as filtered:
        client.query_pinned_activities("user", "ann", filter={"created_at": {"$gt": "soon"}})
    assert set(filtered.value.exception_fields) == {"filter.created_at"}
    with pytest.raises(APIError) as sort:
        client.query_pinned_activities("user", "ann", sort=[{"field": "created_at",
                                                             "direction": 2}])  # fmt: skip
    assert set(sort.value.exception_fields) == {"sort[0].direction"}


def test_unknown_things_are_404(client: feedkit.Client) -> None:
    with pytest.raises(NotFoundError):
        client.pin_activity("user", "nobody", "a1")
    with pytest.raises(NotFoundError):
        client.pin_activity("user", "ann", "nope")
    with pytest.raises(NotFoundError):
        client.unpin_activity("user", "ann", "a2")
    with pytest.raises(NotFoundError):
        client.query_pinned_activities("user", "nobody")


def test_a_user_token_pins_only_to_its_own_feeds(client: feedkit.Client) -> None:
    bob = client.as_user("bob")
    with pytest.raises(AuthError) as refused:
        bob.pin_activity("user", "ann", "a1")
    assert refused.value.status == 403
    with pytest.raises(AuthError):
        bob.pin_activity("user", "ann", "a1", user_id="ann")
    client.pin_activity("user", "ann", "a1")
    with pytest.raises(AuthError):
        bob.unpin_activity("user", "ann", "a1")
    ann = client.as_user("ann")
    assert ann.unpin_activity("user", "ann", "a1")["user_id"] == "ann"
    bob.close()
    ann.close()


def test_a_hard_delete_removes_the_activitys_pins(client: feedkit.Client) -> None:
    client.pin_activity("user", "ann", "a1")
    client.delete_activity("a1", hard_delete=True)
    client.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")  # the id again
    assert client.feed_answer("user:ann")["feed"]["pin_count"] == 0


def test_a_store_of_the_layout_before_pins_opens_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as c:
        c.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
    with sqlite3.connect(path) as db:  # back to the tables the store had before pins
        for table in ("bookmarks", "bookmark_folders", "pins"):
            db.execute(f"DROP TABLE {table}")
    with feedkit.connect(path) as c:
        assert c.feed_answer("user:ann")["feed"]["pin_count"] == 0
        c.pin_activity("user", "ann", "a1")
    with feedkit.connect(path) as c:
        assert [p["activity"]["id"] for p in c.feed_answer("user:ann")["pinned_activities"]] == [
            "a1"]  # fmt: skip
