"""QueryFeeds through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
filters on feed, group_id, created_by_id and visibility, sorts, pages, and reading creates
nothing."""

from __future__ import annotations

from getstream import Stream
from getstream.models import FeedInput, SortParamRequest


def _feeds(sdk: Stream) -> None:
    sdk.feeds.feed("user", "ann").get_or_create(user_id="ann", data=FeedInput(name="Ann's"))
    sdk.feeds.feed("user", "bob").get_or_create(user_id="bob")
    sdk.feeds.feed("timeline", "ann").get_or_create(user_id="ann")
    sdk.feeds.feed("user", "cy").get_or_create(user_id="cy", data=FeedInput(visibility="private"))


def test_query_feeds_filters_and_answers_each_feed(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    one = sdk_client.feeds.query_feeds(filter={"feed": "user:ann"}).data.feeds
    assert [(f.feed, f.group_id, f.id, f.name, f.created_by.id) for f in one] == [
        ("user:ann", "user", "ann", "Ann's", "ann")
    ]
    users = sdk_client.feeds.query_feeds(filter={"group_id": "user"}).data.feeds
    assert sorted(f.feed for f in users) == ["user:ann", "user:bob", "user:cy"]
    by_ann = sdk_client.feeds.query_feeds(filter={"created_by_id": {"$in": ["ann"]}}).data.feeds
    assert sorted(f.feed for f in by_ann) == ["timeline:ann", "user:ann"]
    private = sdk_client.feeds.query_feeds(filter={"visibility": "private"}).data.feeds
    assert [f.feed for f in private] == ["user:cy"]


def test_query_feeds_sorts_and_pages(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    oldest = [SortParamRequest(field="created_at", direction=1)]
    first = sdk_client.feeds.query_feeds(limit=3, sort=oldest).data
    assert [f.feed for f in first.feeds] == ["user:ann", "user:bob", "timeline:ann"]
    assert first.next
    rest = sdk_client.feeds.query_feeds(limit=3, sort=oldest, next=first.next).data
    assert [f.feed for f in rest.feeds] == ["user:cy"] and not rest.next and rest.prev


def test_query_feeds_of_a_missing_feed_finds_none_and_creates_none(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    assert sdk_client.feeds.query_feeds(filter={"feed": "user:nobody"}).data.feeds == []
    everything = sdk_client.feeds.query_feeds(limit=100).data.feeds
    assert "user:nobody" not in {f.feed for f in everything} and len(everything) == 4
