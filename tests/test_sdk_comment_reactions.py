"""Reactions on comments through the official SDK (getstream 7.0.0, unmodified) against
``feedkit serve``: AddCommentReaction, DeleteCommentReaction, QueryCommentReactions and
BatchQueryCommentReactions, the data sent coming back field for field, the comment's
reaction_count, reaction_groups, latest_reactions and own_reactions after every change (nested
replies too), the scores upvotes and downvotes give it, and what a hard delete leaves."""

from __future__ import annotations

from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import SortParamRequest

from feedkit.server.comment_reactions import comment_scores


def _thread(sdk: Stream, aid: str = "a1") -> str:
    """An activity of ann's with comment c1 and its reply c2."""
    sdk.feeds.add_activity(type="post", feeds=["user:ann"], user_id="ann", id=aid, text="hi")
    sdk.feeds.add_comment(comment="first", object_id=aid, object_type="activity", user_id="ann",
                          id="c1")  # fmt: skip
    sdk.feeds.add_comment(comment="reply", parent_id="c1", user_id="bob", id="c2")
    return aid


def _groups(comment: Any) -> dict[str, int]:
    return {kind: g.count for kind, g in (comment.reaction_groups or {}).items()}


def _scores(comment: Any) -> dict[str, Any]:
    return {k: getattr(comment, k) for k in ("score", "upvote_count", "downvote_count",
                                             "confidence_score", "controversy_score")}  # fmt: skip


def test_add_answers_the_reaction_sent_and_the_comment_counting_it(sdk_client: Stream) -> None:
    aid = _thread(sdk_client)
    answer = sdk_client.feeds.add_comment_reaction(
        id="c1", type="like", user_id="bob", custom={"emoji": "+1", "n": [1, 2]}
    ).data
    reaction = answer.reaction
    assert (reaction.activity_id, reaction.comment_id, reaction.type, reaction.user.id) == (
        aid, "c1", "like", "bob")  # fmt: skip
    assert reaction.custom == {"emoji": "+1", "n": [1, 2]}
    assert reaction.created_at == reaction.updated_at
    comment = answer.comment
    assert (comment.id, comment.text, comment.reaction_count) == ("c1", "first", 1)
    group = comment.reaction_groups["like"]
    assert (group.count, group.first_reaction_at, group.last_reaction_at) == (
        1, reaction.created_at, reaction.created_at)  # fmt: skip
    assert [(r.type, r.user.id, r.comment_id, r.custom) for r in comment.latest_reactions] == [
        ("like", "bob", "c1", {"emoji": "+1", "n": [1, 2]})]  # fmt: skip
    assert [r.type for r in comment.own_reactions] == ["like"]  # the reacting user's view
    assert _scores(comment) == comment_scores(0, 0)  # a like is no vote


def test_replace_and_enforce_unique_keep_one_reaction_per_type(sdk_client: Stream) -> None:
    _thread(sdk_client)
    add = sdk_client.feeds.add_comment_reaction
    first = add(id="c1", type="like", user_id="bob", custom={"v": 1}).data.reaction
    add(id="c1", type="love", user_id="bob")
    add(id="c1", type="like", user_id="cy")
    again = add(id="c1", type="like", user_id="bob", custom={"v": 2}).data
    assert again.reaction.custom == {"v": 2}  # the same reaction, its custom replaced
    assert again.reaction.created_at == first.created_at < again.reaction.updated_at
    assert _groups(again.comment) == {"like": 2, "love": 1}
    assert again.comment.reaction_count == 3
    unique = add(id="c1", type="upvote", user_id="bob", enforce_unique=True).data
    assert _groups(unique.comment) == {"like": 1, "upvote": 1}
    assert [r.type for r in unique.comment.own_reactions] == ["upvote"]
    assert [(r.type, r.user.id) for r in unique.comment.latest_reactions] == [
        ("upvote", "bob"), ("like", "cy")]  # fmt: skip


def test_delete_answers_the_reaction_that_was_and_the_comment_after(sdk_client: Stream) -> None:
    _thread(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment_reaction(id="c2", type="like", user_id="bob", custom={"k": "v"})
    feeds.add_comment_reaction(id="c2", type="love", user_id="bob")
    answer = feeds.delete_comment_reaction(id="c2", type="like", user_id="bob").data
    assert (answer.reaction.type, answer.reaction.user.id, answer.reaction.comment_id,
            answer.reaction.custom) == ("like", "bob", "c2", {"k": "v"})  # fmt: skip
    assert answer.comment.id == "c2" and answer.comment.parent_id == "c1"
    assert _groups(answer.comment) == {"love": 1} and answer.comment.reaction_count == 1
    assert [r.type for r in answer.comment.own_reactions] == ["love"]
    with pytest.raises(StreamApiException) as gone:
        feeds.delete_comment_reaction(id="c2", type="like", user_id="bob")
    assert gone.value.status_code == 404


def test_upvotes_and_downvotes_score_the_comment_and_order_its_sorts(sdk_client: Stream) -> None:
    aid = _thread(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment(comment="second", object_id=aid, object_type="activity", user_id="cy",
                      id="c3")  # fmt: skip
    for user in ("u1", "u2", "u3"):
        feeds.add_comment_reaction(id="c1", type="upvote", user_id=user)
    voted = feeds.add_comment_reaction(id="c1", type="downvote", user_id="u4").data.comment
    assert _scores(voted) == comment_scores(3, 1)
    assert (voted.score, voted.upvote_count, voted.downvote_count) == (2, 3, 1)
    assert 0 < voted.confidence_score < 0.75 and voted.controversy_score == 4 ** (1 / 3)
    feeds.add_comment_reaction(id="c3", type="downvote", user_id="u1")
    for sort, order in (("top", ["c1", "c3"]), ("best", ["c1", "c3"]),
                        ("controversial", ["c1", "c3"]), ("first", ["c1", "c3"])):  # fmt: skip
        listed = feeds.get_comments(object_id=aid, object_type="activity", sort=sort).data
        assert [c.id for c in listed.comments] == order, sort
    # a vote changed to the other kind, then taken back: the scores follow every change
    flipped = feeds.add_comment_reaction(id="c3", type="upvote", user_id="u1",
                                         enforce_unique=True).data.comment  # fmt: skip
    assert _scores(flipped) == comment_scores(1, 0)
    after = feeds.delete_comment_reaction(id="c3", type="upvote", user_id="u1").data.comment
    assert _scores(after) == comment_scores(0, 0)
    stored = feeds.get_comment(id="c1").data.comment
    assert _scores(stored) == comment_scores(3, 1)


def test_threaded_reads_answer_the_reactions_of_nested_replies(sdk_client: Stream) -> None:
    aid = _thread(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment(comment="deeper", parent_id="c2", user_id="cy", id="c4")
    feeds.add_comment_reaction(id="c1", type="like", user_id="bob")
    feeds.add_comment_reaction(id="c2", type="love", user_id="cy")
    feeds.add_comment_reaction(id="c4", type="wow", user_id="cy")
    feeds.add_comment_reaction(id="c4", type="like", user_id="bob")
    page = feeds.get_comments(object_id=aid, object_type="activity", depth=3,
                              user_id="cy").data  # fmt: skip
    (c1,) = page.comments
    c2 = c1.replies[0]
    c4 = c2.replies[0]
    assert [_groups(c) for c in (c1, c2, c4)] == [{"like": 1}, {"love": 1}, {"wow": 1, "like": 1}]
    assert [c.reaction_count for c in (c1, c2, c4)] == [1, 1, 2]
    assert [[r.type for r in c.own_reactions] for c in (c1, c2, c4)] == [[], ["love"], ["wow"]]
    assert [r.user.id for r in c4.latest_reactions] == ["bob", "cy"]  # newest first
    replies = feeds.get_comment_replies(id="c2", user_id="bob").data.comments
    assert [(c.id, [r.type for r in c.own_reactions]) for c in replies] == [("c4", ["like"])]


def test_query_comment_reactions_filters_sorts_and_pages(sdk_client: Stream) -> None:
    aid = _thread(sdk_client)
    feeds = sdk_client.feeds
    for user in ("u1", "u2", "u3"):
        feeds.add_comment_reaction(id="c1", type="like", user_id=user, custom={"by": user})
    feeds.add_comment_reaction(id="c1", type="upvote", user_id="u1")
    feeds.add_comment_reaction(id="c2", type="like", user_id="u1")  # another comment's
    everything = feeds.query_comment_reactions(id="c1").data
    assert [(r.type, r.user.id) for r in everything.reactions] == [
        ("upvote", "u1"), ("like", "u3"), ("like", "u2"), ("like", "u1")]  # fmt: skip
    assert all(r.comment_id == "c1" and r.activity_id == aid for r in everything.reactions)
    likes = feeds.query_comment_reactions(
        id="c1", filter={"reaction_type": "like", "user_id": {"$in": ["u1", "u3"]}},
        sort=[SortParamRequest(field="created_at", direction=1)],
    ).data  # fmt: skip
    assert [(r.user.id, r.custom) for r in likes.reactions] == [
        ("u1", {"by": "u1"}),
        ("u3", {"by": "u3"}),
    ]
    assert [r.user.id for r in feeds.query_comment_reactions(
        id="c1", filter={"activity_id": aid, "comment_id": "c1", "user_id": "u2"}
    ).data.reactions] == ["u2"]  # fmt: skip
    first = feeds.query_comment_reactions(id="c1", limit=3).data
    assert len(first.reactions) == 3 and first.next
    second = feeds.query_comment_reactions(id="c1", limit=3, next=first.next).data
    assert [r.user.id for r in second.reactions] == ["u1"] and second.prev and not second.next


def test_batch_query_answers_one_users_reactions_on_many_comments(sdk_client: Stream) -> None:
    _thread(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment_reaction(id="c1", type="upvote", user_id="bob", custom={"n": 1})
    feeds.add_comment_reaction(id="c2", type="like", user_id="bob")
    feeds.add_comment_reaction(id="c2", type="like", user_id="cy")
    mine = feeds.batch_query_comment_reactions(comment_ids=["c1", "c2", "nope"],
                                               user_id="bob").data  # fmt: skip
    assert sorted((r.comment_id, r.type, r.user.id) for r in mine.reactions) == [
        ("c1", "upvote", "bob"), ("c2", "like", "bob")]  # fmt: skip
    assert next(r.custom for r in mine.reactions if r.comment_id == "c1") == {"n": 1}
    likes = feeds.batch_query_comment_reactions(comment_ids=["c1", "c2"], user_id="bob",
                                                filter={"reaction_type": "like"}).data  # fmt: skip
    assert [r.comment_id for r in likes.reactions] == ["c2"]


def test_what_does_not_exist_or_is_malformed_is_refused(sdk_client: Stream) -> None:
    _thread(sdk_client)
    feeds = sdk_client.feeds
    for attempt in (
        lambda: feeds.add_comment_reaction(id="nope", type="like", user_id="bob"),
        lambda: feeds.query_comment_reactions(id="nope"),
        lambda: feeds.delete_comment_reaction(id="c1", type="like", user_id="bob"),
    ):
        with pytest.raises(StreamApiException) as missing:
            attempt()
        assert missing.value.status_code == 404
    with pytest.raises(StreamApiException) as bad:
        feeds.add_comment_reaction(id="c1", type="", user_id="bob")
    assert bad.value.status_code == 400
    with pytest.raises(StreamApiException) as unnamed:
        feeds.add_comment_reaction(id="c1", type="like")  # a server token names the user
    assert unnamed.value.status_code == 400
    feeds.delete_comment(id="c2")  # soft: no longer reacted to
    with pytest.raises(StreamApiException) as deleted:
        feeds.add_comment_reaction(id="c2", type="like", user_id="bob")
    assert deleted.value.status_code == 404


def test_a_hard_delete_takes_the_reactions_with_it(sdk_client: Stream) -> None:
    aid = _thread(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment_reaction(id="c1", type="upvote", user_id="bob")
    feeds.add_comment_reaction(id="c2", type="like", user_id="bob")
    feeds.add_activity_reaction(activity_id=aid, type="like", user_id="bob")
    feeds.delete_comment(id="c1", hard_delete=True)  # c2 replies to it, and goes too
    assert feeds.batch_query_comment_reactions(comment_ids=["c1", "c2"],
                                               user_id="bob").data.reactions == []  # fmt: skip
    feeds.delete_activity(id=aid, hard_delete=True)
    _thread(sdk_client, aid)  # the same ids made again start with nothing
    activity = feeds.get_activity(id=aid).data.activity
    assert (activity.reaction_count, activity.comment_count) == (0, 2)
    comment = feeds.get_comment(id="c1").data.comment
    assert comment.reaction_count == 0 and _scores(comment) == comment_scores(0, 0)
