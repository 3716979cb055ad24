"""Comments through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
every comment operation, the SDK's own parsing of each answer, the data sent coming back field
for field, threads with their reply counts, and the activity's comment_count after each change."""

from __future__ import annotations

from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import AddCommentRequest, Attachment


def _activity(sdk: Stream, aid: str = "post-1") -> str:
    sdk.feeds.add_activity(type="post", feeds=["user:ann"], user_id="ann", id=aid, text="hi")
    return aid


def _count(sdk: Stream, aid: str) -> int:
    return sdk.feeds.get_activity(id=aid).data.activity.comment_count


def _tree(comments: Any) -> list[Any]:
    """(text, reply_count, replies) of a threaded answer, nested."""
    return [(c.text, c.reply_count, _tree(c.replies or [])) for c in comments]


def test_add_comment_answers_every_field_sent(sdk_client: Stream) -> None:
    aid = _activity(sdk_client)
    photo = Attachment(custom={"w": 640}, type="image", image_url="https://img/1.png",
                       title="One")  # fmt: skip
    added = sdk_client.feeds.add_comment(
        comment="nice post", object_id=aid, object_type="activity", user_id="bob",
        id="c-1", attachments=[photo], mentioned_user_ids=["cy"], custom={"mood": "glad"},
    ).data.comment  # fmt: skip
    assert (added.id, added.text, added.object_id, added.object_type) == (
        "c-1", "nice post", aid, "activity")  # fmt: skip
    assert (added.user.id, [u.id for u in added.mentioned_users]) == ("bob", ["cy"])
    assert added.custom == {"mood": "glad"} and added.status == "active"
    assert added.attachments is not None
    (attachment,) = added.attachments
    assert (attachment.type, attachment.image_url, attachment.title, attachment.custom) == (
        "image", "https://img/1.png", "One", {"w": 640})  # fmt: skip
    assert (added.reply_count, added.reaction_count, added.parent_id) == (0, 0, None)
    assert added.own_reactions == [] and added.latest_reactions == []
    read = sdk_client.feeds.get_comment(id="c-1").data.comment
    assert read.to_dict() == added.to_dict()
    assert _count(sdk_client, aid) == 1


def test_replies_thread_with_their_reply_counts(sdk_client: Stream) -> None:
    aid = _activity(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment(comment="root", object_id=aid, object_type="activity", user_id="bob",
                      id="root")  # fmt: skip
    feeds.add_comment(comment="second", object_id=aid, object_type="activity", user_id="cy")
    made = feeds.add_comments_batch(comments=[
        AddCommentRequest(comment="reply 1", parent_id="root", user_id="cy", id="r1"),
        AddCommentRequest(comment="reply 2", parent_id="root", user_id="ann"),
        AddCommentRequest(comment="deep", parent_id="r1", user_id="bob"),
    ]).data.comments  # fmt: skip
    assert [(c.text, c.parent_id, c.object_id) for c in made] == [
        ("reply 1", "root", aid), ("reply 2", "root", aid), ("deep", "r1", aid)]  # fmt: skip
    threaded = feeds.get_comments(object_id=aid, object_type="activity", depth=2).data
    assert threaded.sort == "first"
    assert _tree(threaded.comments) == [
        ("root", 2, [("reply 1", 1, [("deep", 0, [])]), ("reply 2", 0, [])]),
        ("second", 0, []),
    ]
    shallow = feeds.get_comments(object_id=aid, object_type="activity", depth=0).data.comments
    assert shallow[0].replies == [] and shallow[0].meta is not None
    assert (shallow[0].meta.depth_truncated, shallow[0].meta.remaining) == (True, 2)
    capped = feeds.get_comments(object_id=aid, object_type="activity", replies_limit=1).data
    meta = capped.comments[0].meta
    assert meta is not None and (meta.has_more, meta.remaining) == (True, 1)
    rest = feeds.get_comment_replies(id="root", next=meta.next_cursor).data.comments
    assert [c.text for c in rest] == ["reply 2"]
    replies = feeds.get_comment_replies(id="root", sort="last", depth=1).data
    assert _tree(replies.comments) == [("reply 2", 0, []), ("reply 1", 1, [("deep", 0, [])])]
    assert _count(sdk_client, aid) == 5
    activity = feeds.get_activity(id=aid).data.activity
    assert [c.text for c in activity.comments] == ["second", "root"]  # newest top-level first


def test_get_comments_pages_with_cursors(sdk_client: Stream) -> None:
    aid = _activity(sdk_client)
    for i in range(5):
        sdk_client.feeds.add_comment(comment=f"c{i}", object_id=aid, object_type="activity",
                                     user_id="bob")  # fmt: skip
    first = sdk_client.feeds.get_comments(object_id=aid, object_type="activity", limit=2,
                                          sort="last").data  # fmt: skip
    assert [c.text for c in first.comments] == ["c4", "c3"] and first.prev is None
    second = sdk_client.feeds.get_comments(object_id=aid, object_type="activity", limit=2,
                                           sort="last", next=first.next).data  # fmt: skip
    assert [c.text for c in second.comments] == ["c2", "c1"] and second.prev
    back = sdk_client.feeds.get_comments(object_id=aid, object_type="activity", limit=2,
                                         sort="last", prev=second.prev).data  # fmt: skip
    assert [c.text for c in back.comments] == ["c4", "c3"]


def test_query_comments_filters_sorts_and_pages(sdk_client: Stream) -> None:
    aid, other = _activity(sdk_client), _activity(sdk_client, "post-2")
    feeds = sdk_client.feeds
    for i, (obj, user) in enumerate([(aid, "bob"), (aid, "cy"), (other, "bob"), (aid, "bob")]):
        feeds.add_comment(comment=f"text {i}", object_id=obj, object_type="activity",
                          user_id=user, id=f"q{i}", custom={"n": i})  # fmt: skip
    feeds.add_comment(comment="a reply", parent_id="q0", user_id="cy", id="q-reply")

    def texts(**options: Any) -> list[str]:
        return [c.id for c in feeds.query_comments(**options).data.comments]

    assert texts(filter={"object_id": aid, "user_id": "bob"}) == ["q0", "q3"]
    assert texts(filter={"object_id": aid}, sort="last") == ["q-reply", "q3", "q1", "q0"]
    assert texts(filter={"parent_id": "q0"}) == ["q-reply"]
    assert texts(filter={"id": {"$in": ["q1", "q2"]}}) == ["q1", "q2"]
    assert texts(filter={"custom.n": {"$gte": 2}}) == ["q2", "q3"]
    assert texts(filter={"comment_text": {"$q": "TEXT 1"}}) == ["q1"]
    page = feeds.query_comments(filter={"user_id": "bob"}, limit=2).data
    assert [c.id for c in page.comments] == ["q0", "q2"] and page.next
    rest = feeds.query_comments(filter={"user_id": "bob"}, limit=2, next=page.next).data
    assert [c.id for c in rest.comments] == ["q3"] and rest.next is None


def test_update_comment_and_partial_update(sdk_client: Stream) -> None:
    aid = _activity(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment(comment="draft", object_id=aid, object_type="activity", user_id="bob",
                      id="u1", custom={"a": 1, "b": 2}, mentioned_user_ids=["cy"])  # fmt: skip
    updated = feeds.update_comment(id="u1", comment="final", custom={"a": 9},
                                   user_id="bob").data.comment  # fmt: skip
    assert (updated.text, updated.custom) == ("final", {"a": 9})
    assert [u.id for u in updated.mentioned_users] == ["cy"]  # not sent: kept
    assert updated.edited_at is not None and updated.updated_at >= updated.created_at
    partial = feeds.update_comment_partial(
        id="u1", set={"text": "again", "custom.c": 3}, unset=["custom.a", "mentioned_user_ids"]
    ).data.comment
    assert (partial.text, partial.custom, partial.mentioned_users) == ("again", {"c": 3}, [])
    assert feeds.get_comment(id="u1").data.comment.to_dict() == partial.to_dict()


def test_delete_restore_and_hard_delete_keep_the_counts(sdk_client: Stream) -> None:
    aid = _activity(sdk_client)
    feeds = sdk_client.feeds
    feeds.add_comment(comment="root", object_id=aid, object_type="activity", user_id="bob",
                      id="d1")  # fmt: skip
    feeds.add_comment(comment="reply", parent_id="d1", user_id="cy", id="d2")
    feeds.add_comment(comment="other", object_id=aid, object_type="activity", user_id="cy",
                      id="d3")  # fmt: skip
    assert _count(sdk_client, aid) == 3
    soft = feeds.delete_comment(id="d1").data
    assert (soft.comment.status, soft.comment.deleted_at is not None) == ("deleted", True)
    assert soft.activity.id == aid and soft.activity.comment_count == 2
    threaded = feeds.get_comments(object_id=aid, object_type="activity").data.comments
    assert [(c.id, c.status, [r.id for r in c.replies or []]) for c in threaded] == [
        ("d1", "deleted", ["d2"]),
        ("d3", "active", []),
    ]  # the thread keeps its shape
    restored = feeds.restore_comment(id="d1").data
    assert restored.comment.status == "active" and restored.comment.deleted_at is None
    assert restored.activity.comment_count == 3
    hard = feeds.delete_comment(id="d1", hard_delete=True).data
    assert hard.comment.id == "d1" and hard.activity.comment_count == 1
    for gone in ("d1", "d2"):
        with pytest.raises(StreamApiException) as caught:
            feeds.get_comment(id=gone)
        assert caught.value.status_code == 404
    feeds.delete_activity(id=aid)  # soft: the comments stay
    assert feeds.get_comment(id="d3").data.comment.id == "d3"
    feeds.restore_activity(id=aid)
    feeds.delete_activity(id=aid, hard_delete=True)  # hard: its comments go with it
    with pytest.raises(StreamApiException) as caught:
        feeds.get_comment(id="d3")
    assert caught.value.status_code == 404


def test_comments_on_what_does_not_exist_are_404(sdk_client: Stream) -> None:
    feeds = sdk_client.feeds
    with pytest.raises(StreamApiException) as caught:
        feeds.add_comment(comment="x", object_id="nope", object_type="activity", user_id="bob")
    assert caught.value.status_code == 404
    aid = _activity(sdk_client)
    with pytest.raises(StreamApiException) as caught:
        feeds.add_comment(comment="x", parent_id="nope", user_id="bob")
    assert caught.value.status_code == 404
    with pytest.raises(StreamApiException) as caught:
        feeds.get_comments(object_id="nope", object_type="activity")
    assert caught.value.status_code == 404
    assert feeds.get_comments(object_id=aid, object_type="activity").data.comments == []
