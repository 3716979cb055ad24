"""Reactions through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
AddActivityReaction, DeleteActivityReaction, QueryActivityReactions and
BatchQueryActivityReactions, the data sent coming back field for field, and the activity's
reaction_count, reaction_groups, latest_reactions and own_reactions after every change."""

from __future__ import annotations

from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import SortParamRequest

from feedkit.schema.reaction import LATEST_REACTIONS


def _post(sdk: Stream, aid: str = "a1", user: str = "ann") -> str:
    sdk.feeds.add_activity(type="post", feeds=[f"user:{user}"], user_id=user, id=aid, text="hi")
    return aid


def _groups(activity: Any) -> dict[str, int]:
    return {kind: g.count for kind, g in activity.reaction_groups.items()}


def test_add_answers_the_reaction_sent_and_the_activity_counting_it(sdk_client: Stream) -> None:
    aid = _post(sdk_client)
    answer = sdk_client.feeds.add_activity_reaction(
        activity_id=aid, type="like", user_id="bob", custom={"emoji": "+1", "n": [1, 2]}
    ).data
    reaction = answer.reaction
    assert (reaction.activity_id, reaction.type, reaction.user.id) == (aid, "like", "bob")
    assert reaction.custom == {"emoji": "+1", "n": [1, 2]} and reaction.comment_id is None
    assert reaction.created_at == reaction.updated_at
    activity = answer.activity
    assert activity.id == aid and activity.reaction_count == 1
    group = activity.reaction_groups["like"]
    assert (group.count, group.first_reaction_at, group.last_reaction_at) == (
        1, reaction.created_at, reaction.created_at)  # fmt: skip
    assert [(r.type, r.user.id, r.custom) for r in activity.latest_reactions] == [
        ("like", "bob", {"emoji": "+1", "n": [1, 2]})]  # fmt: skip
    assert [r.type for r in activity.own_reactions] == ["like"]  # the reacting user's view


def test_a_user_holds_one_reaction_per_type_and_enforce_unique_replaces_the_others(
    sdk_client: Stream,
) -> None:
    aid = _post(sdk_client)
    add = sdk_client.feeds.add_activity_reaction
    first = add(activity_id=aid, type="like", user_id="bob", custom={"v": 1}).data.reaction
    add(activity_id=aid, type="love", user_id="bob")
    add(activity_id=aid, type="like", user_id="cy")
    again = add(activity_id=aid, type="like", user_id="bob", custom={"v": 2}).data
    assert again.reaction.custom == {"v": 2}  # the same reaction, its custom replaced
    assert again.reaction.created_at == first.created_at < again.reaction.updated_at
    assert _groups(again.activity) == {"like": 2, "love": 1}
    assert again.activity.reaction_count == 3
    unique = add(activity_id=aid, type="wow", user_id="bob", enforce_unique=True).data
    assert _groups(unique.activity) == {"like": 1, "wow": 1}
    assert [r.type for r in unique.activity.own_reactions] == ["wow"]
    assert [(r.type, r.user.id) for r in unique.activity.latest_reactions] == [
        ("wow", "bob"), ("like", "cy")]  # fmt: skip


def test_delete_answers_the_reaction_that_was_and_the_counts_after(sdk_client: Stream) -> None:
    aid = _post(sdk_client)
    sdk_client.feeds.add_activity_reaction(activity_id=aid, type="like", user_id="bob",
                                           custom={"k": "v"})  # fmt: skip
    sdk_client.feeds.add_activity_reaction(activity_id=aid, type="love", user_id="bob")
    answer = sdk_client.feeds.delete_activity_reaction(
        activity_id=aid, type="like", user_id="bob"
    ).data
    assert (answer.reaction.type, answer.reaction.user.id, answer.reaction.custom) == (
        "like", "bob", {"k": "v"})  # fmt: skip
    assert _groups(answer.activity) == {"love": 1} and answer.activity.reaction_count == 1
    assert [r.type for r in answer.activity.own_reactions] == ["love"]
    with pytest.raises(StreamApiException) as gone:
        sdk_client.feeds.delete_activity_reaction(activity_id=aid, type="like", user_id="bob")
    assert gone.value.status_code == 404


def test_reads_show_counts_to_all_and_own_reactions_to_their_user(sdk_client: Stream) -> None:
    aid = _post(sdk_client)
    for user, kind in [("bob", "like"), ("cy", "like"), ("cy", "love")]:
        sdk_client.feeds.add_activity_reaction(activity_id=aid, type=kind, user_id=user)
    as_bob = sdk_client.feeds.get_activity(id=aid, user_id="bob").data.activity
    as_cy = sdk_client.feeds.get_activity(id=aid, user_id="cy").data.activity
    assert _groups(as_bob) == _groups(as_cy) == {"like": 2, "love": 1}
    assert [r.type for r in as_bob.own_reactions] == ["like"]
    assert sorted(r.type for r in as_cy.own_reactions) == ["like", "love"]
    server_side = sdk_client.feeds.get_activity(id=aid).data.activity
    assert server_side.own_reactions == [] and server_side.reaction_count == 3
    feed = sdk_client.feeds.feed("user", "ann").get_or_create(user_id="bob").data
    (shown,) = feed.activities
    assert shown.reaction_count == 3 and [r.type for r in shown.own_reactions] == ["like"]
    queried = sdk_client.feeds.query_activities(filter={"id": aid}, user_id="cy").data
    assert len(queried.activities[0].own_reactions) == 2


def test_latest_reactions_are_the_newest_few(sdk_client: Stream) -> None:
    aid = _post(sdk_client)
    users = [f"u{i:02}" for i in range(LATEST_REACTIONS + 3)]
    for user in users:
        sdk_client.feeds.add_activity_reaction(activity_id=aid, type="like", user_id=user)
    activity = sdk_client.feeds.get_activity(id=aid).data.activity
    assert activity.reaction_count == len(users)
    assert [r.user.id for r in activity.latest_reactions] == users[::-1][:LATEST_REACTIONS]


def test_query_activity_reactions_filters_sorts_and_pages(sdk_client: Stream) -> None:
    aid = _post(sdk_client)
    _post(sdk_client, "other")
    for user, kind in [("bob", "like"), ("cy", "love"), ("dee", "like"), ("bob", "love")]:
        sdk_client.feeds.add_activity_reaction(activity_id=aid, type=kind, user_id=user)
    sdk_client.feeds.add_activity_reaction(activity_id="other", type="like", user_id="bob")

    def pairs(**options: Any) -> tuple[list[tuple[str, str]], Any]:
        data = sdk_client.feeds.query_activity_reactions(activity_id=aid, **options).data
        assert all(r.activity_id == aid for r in data.reactions)
        return [(r.user.id, r.type) for r in data.reactions], data

    newest = [("bob", "love"), ("dee", "like"), ("cy", "love"), ("bob", "like")]
    assert pairs()[0] == newest
    assert pairs(sort=[SortParamRequest(field="created_at", direction=1)])[0] == newest[::-1]
    assert pairs(filter={"reaction_type": "like"})[0] == [("dee", "like"), ("bob", "like")]
    assert pairs(filter={"user_id": {"$in": ["bob", "cy"]}, "reaction_type": "love"})[0] == [
        ("bob", "love"), ("cy", "love")]  # fmt: skip
    first, page = pairs(limit=3)
    assert first == newest[:3] and page.next and page.prev is None
    rest, end = pairs(limit=3, next=page.next)
    assert rest == newest[3:] and end.next is None and end.prev
    assert pairs(limit=3, prev=end.prev)[0] == newest[:3]
    with pytest.raises(StreamApiException) as missing:
        sdk_client.feeds.query_activity_reactions(activity_id="nope")
    assert missing.value.status_code == 404


def test_batch_query_answers_one_users_reactions_across_activities(sdk_client: Stream) -> None:
    ids = [_post(sdk_client, f"a{i}") for i in range(3)]
    for aid, kind in [("a0", "like"), ("a1", "love"), ("a1", "like"), ("a2", "like")]:
        sdk_client.feeds.add_activity_reaction(activity_id=aid, type=kind, user_id="bob")
    sdk_client.feeds.add_activity_reaction(activity_id="a0", type="like", user_id="cy")
    batch = sdk_client.feeds.batch_query_activity_reactions
    data = batch(activity_ids=ids[:2], user_id="bob").data
    assert [(r.activity_id, r.type, r.user.id) for r in data.reactions] == [
        ("a1", "like", "bob"), ("a1", "love", "bob"), ("a0", "like", "bob")]  # fmt: skip
    liked = batch(activity_ids=ids, user_id="bob", filter={"reaction_type": "like"}).data
    assert [r.activity_id for r in liked.reactions] == ["a2", "a1", "a0"]
    page = batch(activity_ids=ids, user_id="bob", limit=2).data
    rest = batch(activity_ids=ids, user_id="bob", limit=2, next=page.next).data
    assert len(page.reactions) == 2 and len(rest.reactions) == 2 and rest.next is None
    assert batch(activity_ids=["nope"], user_id="bob").data.reactions == []


def test_a_reaction_on_no_activity_is_404_and_target_feeds_share_it(sdk_client: Stream) -> None:
    with pytest.raises(StreamApiException) as missing:
        sdk_client.feeds.add_activity_reaction(activity_id="nope", type="like", user_id="bob")
    assert missing.value.status_code == 404
    aid = _post(sdk_client)
    answer = sdk_client.feeds.add_activity_reaction(
        activity_id=aid, type="like", user_id="bob", target_feeds=["user:bob"]
    ).data
    shared = answer.reference_activity
    assert shared is not None and (shared.type, shared.feeds) == ("like", ["user:bob"])
    assert shared.parent is not None and shared.parent.id == aid
    assert answer.activity.share_count == 1
