"""Follows through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
FollowBatch, GetOrCreateFollows, UpdateFollow, QueryFollows, AcceptFollow and RejectFollow,
with the follow's own fields (push_preference, custom) sent and read back, follow requests to
feeds that approve their followers, and counts after every change."""

from __future__ import annotations

from typing import Any

import pytest
from _serve import user_token
from getstream import Stream, StreamApiException
from getstream.models import FeedInput, FollowRequest, SortParamRequest


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


def _followers_feed(sdk: Stream) -> None:
    """user:bob approves its followers; timeline:ann and timeline:cy are other users'."""
    bob = FeedInput(visibility="followers")
    sdk.feeds.feed("user", "bob").get_or_create(user_id="bob", data=bob)
    for fid in ("ann", "cy"):
        sdk.feeds.feed("timeline", fid).get_or_create(user_id=fid)
    sdk.feeds.add_activity(type="post", feeds=["user:bob"], user_id="bob", id="bob-post")


def _counts(sdk: Stream, group: str, fid: str) -> tuple[int, int]:
    feed = sdk.feeds.feed(group, fid).get_or_create(user_id=fid).data.feed
    return feed.follower_count, feed.following_count


def _timeline(sdk: Stream, fid: str) -> list[str]:
    data = sdk.feeds.feed("timeline", fid).get_or_create(user_id=fid).data
    return [a.id for a in data.activities]


def test_a_follow_of_a_followers_feed_is_pending_until_accepted(sdk_client: Stream) -> None:
    _followers_feed(sdk_client)
    pending = sdk_client.feeds.follow(source="timeline:ann", target="user:bob").data.follow
    assert pending.status == "pending" and pending.request_accepted_at is None
    assert (pending.target_feed.follower_count, pending.source_feed.following_count) == (0, 0)
    assert _counts(sdk_client, "user", "bob") == (0, 0)
    assert _timeline(sdk_client, "ann") == []  # a request reads nothing yet
    again = sdk_client.feeds.follow(source="timeline:ann", target="user:bob").data.follow
    assert again.status == "pending"  # asking twice is one request
    accepted = sdk_client.feeds.accept_follow(
        source="timeline:ann", target="user:bob", follower_role="feed_follower"
    ).data.follow
    assert (accepted.status, accepted.follower_role) == ("accepted", "feed_follower")
    assert accepted.request_accepted_at is not None
    assert accepted.target_feed.follower_count == 1
    assert _counts(sdk_client, "user", "bob") == (1, 0)
    assert _counts(sdk_client, "timeline", "ann") == (0, 1)
    assert _timeline(sdk_client, "ann") == ["bob-post"]


def test_a_rejected_follow_counts_for_nothing(sdk_client: Stream) -> None:
    _followers_feed(sdk_client)
    sdk_client.feeds.follow(source="timeline:cy", target="user:bob")
    rejected = sdk_client.feeds.reject_follow(source="timeline:cy", target="user:bob").data.follow
    assert rejected.status == "rejected" and rejected.request_rejected_at is not None
    assert _counts(sdk_client, "user", "bob") == (0, 0)
    assert _timeline(sdk_client, "cy") == []
    with pytest.raises(StreamApiException) as refused:  # no longer a request to accept
        sdk_client.feeds.accept_follow(source="timeline:cy", target="user:bob")
    assert refused.value.status_code == 400
    asked_again = sdk_client.feeds.follow(source="timeline:cy", target="user:bob").data.follow
    assert asked_again.status == "pending"
    with pytest.raises(StreamApiException) as missing:
        sdk_client.feeds.reject_follow(source="timeline:ann", target="user:bob")
    assert missing.value.status_code == 404


def test_query_follows_filters_on_status(sdk_client: Stream) -> None:
    _followers_feed(sdk_client)
    sdk_client.feeds.feed("user", "dee").get_or_create(user_id="dee")
    sdk_client.feeds.follow(source="timeline:ann", target="user:bob")
    sdk_client.feeds.follow(source="timeline:cy", target="user:bob")
    sdk_client.feeds.follow(source="timeline:ann", target="user:dee")  # visible: accepted
    sdk_client.feeds.reject_follow(source="timeline:cy", target="user:bob")

    def pairs(status: Any) -> list[tuple[str, str]]:
        follows = sdk_client.feeds.query_follows(filter={"status": status}).data.follows
        return sorted((f.source_feed.feed, f.target_feed.feed) for f in follows)

    assert pairs("pending") == [("timeline:ann", "user:bob")]
    assert pairs("accepted") == [("timeline:ann", "user:dee")]
    assert pairs({"$eq": "rejected"}) == [("timeline:cy", "user:bob")]
    assert len(pairs({"$in": ["pending", "rejected"]})) == 2


def test_only_the_target_owner_answers_a_follow_request(
    sdk_client: Stream, live_server: Any
) -> None:
    _followers_feed(sdk_client)
    sdk_client.feeds.follow(source="timeline:ann", target="user:bob")
    body = {"source": "timeline:ann", "target": "user:bob"}
    with live_server.http(token=user_token(live_server.api_secret, "ann")) as http:
        refused = http.post("/api/v2/feeds/follows/accept", json=body)
        assert (refused.status_code, refused.json()["code"]) == (403, 17)
    with live_server.http(token=user_token(live_server.api_secret, "bob")) as http:
        answer = http.post("/api/v2/feeds/follows/accept", json=body)
        assert answer.status_code == 201 and answer.json()["follow"]["status"] == "accepted"


def test_only_the_owner_follows_a_private_feed(sdk_client: Stream) -> None:
    eve = FeedInput(visibility="private")
    sdk_client.feeds.feed("user", "eve").get_or_create(user_id="eve", data=eve)
    with pytest.raises(StreamApiException) as refused:
        sdk_client.feeds.follow(source="timeline:ann", target="user:eve")
    assert refused.value.status_code == 403
    own = sdk_client.feeds.follow(source="timeline:eve", target="user:eve").data.follow
    assert own.status == "accepted"
