"""Comments through the feedkit client on the embedded server (``feedkit.connect()``): the
client's methods, validation naming the field on both sides, 404s, 403s for a user token
acting for another user, batches all or nothing, and a store file of the earlier layout."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import feedkit
from feedkit import AuthError, NotFoundError, ValidationError
from feedkit.errors import APIError
from feedkit.schema import Reason
from feedkit.schema.comment import validate_comment, validate_comment_partial


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        c.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
        yield c


def _comment(client: feedkit.Client, cid: str, user: str = "bob", **fields: object) -> dict:
    return client.add_comment(f"text of {cid}", id=cid, object_id="a1", user_id=user, **fields)


def test_the_client_round_trips_every_operation(client: feedkit.Client) -> None:
    made = _comment(client, "c1", custom={"k": 1}, mentioned_user_ids=["cy"])
    assert (made["text"], made["custom"], made["user"]["id"]) == ("text of c1", {"k": 1}, "bob")
    assert client.get_comment("c1") == made
    replies = client.add_comments_batch([
        {"comment": "r1", "parent_id": "c1", "user_id": "cy", "id": "r1"},
        {"comment": "r2", "parent_id": "r1", "user_id": "ann"},
    ])  # fmt: skip
    assert [r["object_id"] for r in replies] == ["a1", "a1"]
    page = client.get_comments("a1", depth=2)
    (root,) = page["comments"]
    assert (root["reply_count"], root["replies"][0]["replies"][0]["text"]) == (1, "r2")
    assert client.get_comment_replies("c1")["comments"][0]["id"] == "r1"
    assert [c["id"] for c in client.query_comments({"user_id": "cy"})["comments"]] == ["r1"]
    assert client.update_comment("c1", comment="new", user_id="bob")["text"] == "new"
    patched = client.update_comment_partial("c1", set={"custom.j": 2}, unset=["custom.k"])
    assert patched["custom"] == {"j": 2}
    assert client.get_activity("a1")["comment_count"] == 3
    deleted = client.delete_comment("c1")
    assert deleted["comment"]["status"] == "deleted"
    assert deleted["activity"]["comment_count"] == 2
    assert client.restore_comment("c1")["activity"]["comment_count"] == 3
    assert client.delete_comment("c1", hard_delete=True)["activity"]["comment_count"] == 0


def test_the_client_names_the_field_before_sending(client: feedkit.Client) -> None:
    with pytest.raises(ValidationError) as caught:
        client.add_comment(7, object_id="a1", user_id="bob", mentioned_user_ids="cy")
    assert set(caught.value.fields) == {"comment", "mentioned_user_ids"}
    with pytest.raises(ValidationError) as caught:
        client.add_comment("x", user_id="bob")
    assert caught.value.fields.keys() == {"object_id"}
    with pytest.raises(ValidationError) as caught:
        client.add_comments_batch(
            [{"comment": "x", "object_id": "a1"}, {"object_type": "poll", "object_id": "a1"}]
        )
    assert caught.value.fields.keys() == {"comments[1].object_type"}
    with pytest.raises(ValidationError) as caught:
        client.update_comment_partial("c", set={"user_id": "x", "custom": []}, unset=["text"])
    assert caught.value.fields.keys() == {"set.user_id", "set.custom", "unset.text"}
    with pytest.raises(ValidationError) as caught:
        client.add_comment("x", object_id="a1", user_id="bob", colour="red")
    assert caught.value.fields.keys() == {"colour"}  # strict on the client: typos are caught


def test_the_server_names_the_field_too() -> None:
    with feedkit.connect(":memory:", validate=False) as client:
        client.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
        cases = [
            (lambda: client.add_comment("x", object_id="a1"), "user_id"),
            (lambda: client.add_comment("x", object_id="a1", user_id="b", custom=[1]), "custom"),
            (lambda: client.add_comments_batch([{"comment": "x", "object_id": "a1",
                                                 "user_id": "b"}, {"user_id": "b"}]),
             "comments[1].object_id"),
            (lambda: client.query_comments({"colour": "red"}), "filter.colour"),
            (lambda: client.query_comments({}, sort="best-first"), "sort"),
            (lambda: client.get_comments("a1", depth=9), "depth"),
            (lambda: client.get_comments("a1", replies_limit="many"), "replies_limit"),
            (lambda: client.get_comments("a1", next="not-a-cursor"), "next"),
        ]  # fmt: skip
        for call, field in cases:
            with pytest.raises(APIError) as caught:
                call()
            assert caught.value.status == 400 and field in caught.value.exception_fields, field
        _comment(client, "c1")
        with pytest.raises(APIError) as caught:
            client.update_comment_partial("c1", set={"status": "x", "text": 5})
        assert caught.value.exception_fields.keys() == {"set.status", "set.text"}


def test_threads_stay_on_one_object(client: feedkit.Client) -> None:
    client.add_activity(id="a2", type="post", feeds=["user:ann"], user_id="ann")
    _comment(client, "c1")
    with pytest.raises(APIError) as caught:
        client.add_comment("x", parent_id="c1", object_id="a2", user_id="bob")
    assert caught.value.status == 400 and "parent_id" in caught.value.exception_fields
    with pytest.raises(APIError) as caught:
        _comment(client, "c1")
    assert caught.value.status == 400 and "id" in caught.value.exception_fields
    with pytest.raises(APIError) as caught:
        client.restore_comment("c1")  # it is not deleted
    assert caught.value.status == 400


def test_unknown_ids_are_404(client: feedkit.Client) -> None:
    calls = [
        lambda: client.add_comment("x", object_id="nope", user_id="bob"),
        lambda: client.add_comment("x", parent_id="nope", user_id="bob"),
        lambda: client.get_comment("nope"),
        lambda: client.get_comments("nope"),
        lambda: client.get_comment_replies("nope"),
        lambda: client.update_comment("nope", comment="x"),
        lambda: client.update_comment_partial("nope", set={"text": "x"}),
        lambda: client.delete_comment("nope"),
        lambda: client.restore_comment("nope"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError):
            call()
    client.delete_activity("a1")  # soft: no new comments on it
    with pytest.raises(NotFoundError):
        client.add_comment("x", object_id="a1", user_id="bob")


def test_a_batch_is_all_or_nothing(client: feedkit.Client) -> None:
    with pytest.raises(NotFoundError):
        client.add_comments_batch([
            {"comment": "kept?", "object_id": "a1", "user_id": "bob", "id": "b1"},
            {"comment": "orphan", "parent_id": "missing", "user_id": "bob"},
        ])  # fmt: skip
    with pytest.raises(NotFoundError):
        client.get_comment("b1")
    assert client.get_activity("a1")["comment_count"] == 0


def test_a_user_token_comments_as_itself_only(client: feedkit.Client) -> None:
    _comment(client, "cy-1", user="cy")
    bob = client.as_user("bob")
    mine = bob.add_comment("mine", object_id="a1")
    assert mine["user"]["id"] == "bob"
    for call in [
        lambda: bob.add_comment("x", object_id="a1", user_id="cy"),
        lambda: bob.add_comments_batch([{"comment": "x", "object_id": "a1", "user_id": "cy"}]),
        lambda: bob.update_comment("cy-1", comment="hijack"),
        lambda: bob.update_comment_partial("cy-1", set={"text": "hijack"}),
        lambda: bob.delete_comment("cy-1"),
        lambda: bob.get_comments("a1", user_id="cy"),
        lambda: bob.query_comments({}, user_id="cy"),
    ]:
        with pytest.raises(AuthError) as caught:
            call()
        assert caught.value.status == 403
    assert client.get_comment("cy-1")["text"] == "text of cy-1"
    assert bob.update_comment(mine["id"], comment="edited")["text"] == "edited"
    assert bob.delete_comment(mine["id"])["comment"]["status"] == "deleted"


def test_soft_deleted_comments_leave_counts_and_queries(client: feedkit.Client) -> None:
    _comment(client, "c1")
    _comment(client, "c2")
    client.delete_comment("c2")
    assert [c["id"] for c in client.get_comments("a1")["comments"]] == ["c1"]  # no replies
    assert [c["id"] for c in client.query_comments({"object_id": "a1"})["comments"]] == ["c1"]
    asked = client.query_comments({"object_id": "a1", "status": "deleted"})["comments"]
    assert [c["id"] for c in asked] == ["c2"]
    activity = client.get_activity("a1")
    assert activity["comment_count"] == 1 and [c["id"] for c in activity["comments"]] == ["c1"]


def test_the_newest_five_top_level_comments_ride_on_the_activity(client: feedkit.Client) -> None:
    for i in range(7):
        _comment(client, f"c{i}")
    client.add_comment("reply", parent_id="c6", user_id="cy")
    activity = client.get_activity("a1")
    assert activity["comment_count"] == 8
    assert [c["id"] for c in activity["comments"]] == ["c6", "c5", "c4", "c3", "c2"]
    assert activity["comments"][0]["reply_count"] == 1


def test_a_store_of_the_earlier_layout_opens_and_takes_comments(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as client:
        client.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
    with sqlite3.connect(path) as db:  # back to the layout before comments
        db.execute("DROP TRIGGER IF EXISTS activity_comments_go_with_it")
        db.execute("DROP TABLE comments")
    with feedkit.connect(path) as client:
        assert client.get_activity("a1")["comment_count"] == 0
        _comment(client, "c1")
        assert client.get_activity("a1")["comment_count"] == 1
    with feedkit.connect(path) as client:  # opened again: nothing is added twice
        assert client.get_comment("c1")["text"] == "text of c1"
        client.delete_activity("a1", hard_delete=True)
        with pytest.raises(NotFoundError):
            client.get_comment("c1")


def test_the_schema_declares_what_is_refused() -> None:
    assert [e.code for e in validate_comment({"object_id": "a", "id": "x" * 256})] == [
        Reason.TOO_LONG]  # fmt: skip
    assert validate_comment({"parent_id": "c"}) == []
    assert [e.field for e in validate_comment({"comment": "x"}, new=False)] == []
    errors = validate_comment_partial({"custom.a.b": 1, "attachments": [{"type": 1}]}, ["custom"])
    assert [e.field for e in errors] == ["set.attachments[0].type"]


def test_comments_follow_the_activity_s_visibility(client: feedkit.Client) -> None:
    client.add_activity(id="secret", type="post", feeds=["user:ann"], user_id="ann",
                        visibility="private")  # fmt: skip
    bob, ann = client.as_user("bob"), client.as_user("ann")
    with pytest.raises(NotFoundError):
        bob.add_comment("peek", object_id="secret")
    assert ann.add_comment("mine", object_id="secret", id="s1")["user"]["id"] == "ann"
    with pytest.raises(NotFoundError):
        bob.get_comments("secret")
    with pytest.raises(NotFoundError):
        client.get_comments("secret", user_id="bob")
    assert [c["id"] for c in ann.get_comments("secret")["comments"]] == ["s1"]
