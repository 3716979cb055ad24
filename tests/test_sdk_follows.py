"""Follows through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
FollowBatch, GetOrCreateFollows, UpdateFollow and QueryFollows, with the follow's own fields
(push_preference, custom) sent and read back, and counts after every change."""

from __future__ import annotations

from typing import Any

from getstream import Stream
from getstream.models import FollowRequest, SortParamRequest


def _feeds(sdk: Stream) -> None:
    for group, fid in [("timeline", "ann"), ("user", "bob"), ("user", "cy"), ("user", "dee")]:
        sdk.feeds.feed(group, fid).get_or_create(user_id=fid)


def test_follow_batch_creates_and_answers_the_fields_sent(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    answer = sdk_client.feeds.follow_batch(follows=[
        FollowRequest(source="timeline:ann", target="user:bob", push_preference="all",
                      custom={"why": "friend"}),
        FollowRequest(source="timeline:ann", target="user:cy"),
    ]).data  # fmt: skip
    assert [f.target_feed.feed for f in answer.follows] == ["user:bob", "user:cy"]
    assert len(answer.created) == 2
    bob = answer.follows[0]
    assert (bob.push_preference, bob.custom, bob.status) == ("all", {"why": "friend"}, "accepted")
    assert answer.follows[1].source_feed.following_count == 2  # counts after both follows


def test_get_or_create_follows_keeps_an_existing_follow(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    sdk_client.feeds.follow(source="timeline:ann", target="user:bob", custom={"v": 1})
    answer = sdk_client.feeds.get_or_create_follows(follows=[
        FollowRequest(source="timeline:ann", target="user:bob", custom={"v": 2}),
        FollowRequest(source="timeline:ann", target="user:dee"),
    ]).data  # fmt: skip
    assert [f.custom for f in answer.follows] == [{"v": 1}, {}]
    assert [f.target_feed.feed for f in answer.created] == ["user:dee"]


def test_update_follow_changes_its_own_fields(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    sdk_client.feeds.follow(source="timeline:ann", target="user:bob")
    changed = sdk_client.feeds.update_follow(
        source="timeline:ann", target="user:bob", push_preference="all", custom={"muted": False}
    ).data.follow
    assert (changed.push_preference, changed.custom) == ("all", {"muted": False})
    assert changed.updated_at >= changed.created_at


def test_query_follows_filters_sorts_and_pages(sdk_client: Stream) -> None:
    _feeds(sdk_client)
    for target in ("user:bob", "user:cy", "user:dee"):
        sdk_client.feeds.follow(source="timeline:ann", target=target)
    sdk_client.feeds.follow(source="user:cy", target="user:dee")

    def targets(**options: Any) -> tuple[list[str], str | None]:
        data = sdk_client.feeds.query_follows(**options).data
        return [f.target_feed.feed for f in data.follows], data.next

    assert targets(filter={"source_feed": "timeline:ann"})[0] == ["user:bob", "user:cy",
                                                                  "user:dee"]  # fmt: skip
    assert targets(filter={"target_feed": "user:dee"})[0] == ["user:dee", "user:dee"]
    newest = [SortParamRequest(field="created_at", direction=-1)]
    first, cursor = targets(filter={"source_feed": "timeline:ann"}, sort=newest, limit=2)
    assert first == ["user:dee", "user:cy"] and cursor
    rest, end = targets(filter={"source_feed": "timeline:ann"}, sort=newest, limit=2, next=cursor)
    assert rest == ["user:bob"] and end is None
    assert targets(filter={"status": "pending"})[0] == []
