"""Pins through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
PinActivity, UnpinActivity and QueryPinnedActivities, and the feed read's pinned_activities
and pin_count."""

from __future__ import annotations

from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import SortParamRequest


def _feed_with_posts(sdk: Stream) -> None:
    sdk.feeds.feed("user", "ann").get_or_create(user_id="ann")
    for aid in ("p1", "p2", "p3"):
        sdk.feeds.add_activity(type="post", feeds=["user:ann"], id=aid, user_id="ann",
                               text=f"text of {aid}")  # fmt: skip
    sdk.feeds.add_activity(type="post", feeds=["user:bob"], id="elsewhere", user_id="bob")


def test_pin_activity_answers_the_activity_feed_and_pinner(sdk_client: Stream) -> None:
    _feed_with_posts(sdk_client)
    pinned = sdk_client.feeds.feed("user", "ann").pin_activity(activity_id="p2", user_id="ann")
    data = pinned.data
    assert (data.feed, data.user_id) == ("user:ann", "ann")
    assert (data.activity.id, data.activity.text) == ("p2", "text of p2")
    assert data.created_at >= data.activity.created_at
    again = sdk_client.feeds.pin_activity(
        feed_group_id="user", feed_id="ann", activity_id="p2"
    ).data  # pinning twice keeps the first pin
    assert again.created_at == data.created_at and again.user_id == "ann"


def test_the_feed_read_shows_its_pins_and_pin_count(sdk_client: Stream) -> None:
    _feed_with_posts(sdk_client)
    feed = sdk_client.feeds.feed("user", "ann")
    assert feed.get_or_create(user_id="ann").data.feed.pin_count == 0
    feed.pin_activity(activity_id="p1", user_id="ann")
    feed.pin_activity(activity_id="p3", user_id="ann")
    page = feed.get_or_create(user_id="ann").data
    assert page.feed.pin_count == 2
    assert [(p.activity.id, p.feed, p.user.id) for p in page.pinned_activities] == [
        ("p3", "user:ann", "ann"), ("p1", "user:ann", "ann")]  # fmt: skip
    assert all(p.created_at == p.updated_at for p in page.pinned_activities)
    unpinned = feed.unpin_activity(activity_id="p3", user_id="ann").data
    assert (unpinned.activity.id, unpinned.feed, unpinned.user_id) == ("p3", "user:ann", "ann")
    page = feed.get_or_create(user_id="ann").data
    assert page.feed.pin_count == 1 and [p.activity.id for p in page.pinned_activities] == ["p1"]


def test_query_pinned_activities_filters_sorts_and_pages(sdk_client: Stream) -> None:
    _feed_with_posts(sdk_client)
    feed = sdk_client.feeds.feed("user", "ann")
    for aid in ("p1", "p2", "p3"):
        feed.pin_activity(activity_id=aid, user_id="ann")

    def pinned(**options: Any) -> tuple[list[str], str | None]:
        data = feed.query_pinned_activities(**options).data
        return [p.activity.id for p in data.pinned_activities], data.next

    assert pinned()[0] == ["p3", "p2", "p1"]
    assert pinned(filter={"activity_id": {"$in": ["p1", "p3"]}})[0] == ["p3", "p1"]
    oldest = [SortParamRequest(field="created_at", direction=1)]
    first, cursor = pinned(sort=oldest, limit=2)
    assert first == ["p1", "p2"] and cursor
    assert pinned(sort=oldest, limit=2, next=cursor) == (["p3"], None)


def test_pinning_an_activity_of_another_feed_or_none_is_refused(sdk_client: Stream) -> None:
    _feed_with_posts(sdk_client)
    feed = sdk_client.feeds.feed("user", "ann")
    with pytest.raises(StreamApiException) as elsewhere:
        feed.pin_activity(activity_id="elsewhere", user_id="ann")
    assert elsewhere.value.status_code == 400
    with pytest.raises(StreamApiException) as missing:
        feed.pin_activity(activity_id="no-such", user_id="ann")
    assert missing.value.status_code == 404
    with pytest.raises(StreamApiException) as not_pinned:
        feed.unpin_activity(activity_id="p1", user_id="ann")
    assert not_pinned.value.status_code == 404


def test_a_hard_deleted_activity_loses_its_pins_and_a_soft_deleted_one_hides(
    sdk_client: Stream,
) -> None:
    _feed_with_posts(sdk_client)
    feed = sdk_client.feeds.feed("user", "ann")
    feed.pin_activity(activity_id="p1", user_id="ann")
    feed.pin_activity(activity_id="p2", user_id="ann")
    sdk_client.feeds.delete_activity(id="p1")  # soft: the pin stays, hidden while deleted
    assert feed.get_or_create(user_id="ann").data.feed.pin_count == 1
    sdk_client.feeds.delete_activity(id="p2", hard_delete=True)
    page = feed.get_or_create(user_id="ann").data
    assert page.feed.pin_count == 0 and page.pinned_activities == []
    sdk_client.feeds.restore_activity(id="p1")
    assert [p.activity.id for p in feed.query_pinned_activities().data.pinned_activities] == ["p1"]
