"""Comments through the feedkit client on the embedded server (``feedkit.connect()``): the
client's methods, validation naming the field on both sides, 404s, 403s for a user token
acting for another user, batches all or nothing, and a store file of the earlier layout.
AddCommentsBatch is written as one batch: the store ends as one comment at a time leaves it,
and a bad comment refuses the batch with the answer it gets alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from _batches import refused_as_alone, stored
from hypothesis import given, settings
from hypothesis import strategies as st

import feedkit
from feedkit import AuthError, NotFoundError, ValidationError
from feedkit.errors import APIError
from feedkit.schema import Reason
from feedkit.schema.comment import COMMENT_FIELDS, validate_comment, validate_comment_partial
from feedkit.server.auth import APP, Principal
from feedkit.server.problems import Problem
from feedkit.server.service import AppService
from feedkit.server.store import Store


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


# -- AddCommentsBatch as one batch -----------------------------------------------------------

ANN = Principal("ann")
COMMENTS: list[dict[str, Any]] = [
    {"id": "c1", "object_id": "a1", "comment": "first", "user_id": "bob"},
    {"id": "r1", "parent_id": "c1", "comment": "reply", "user_id": "cy",
     "mentioned_user_ids": ["dan", "dan", "bob"]},
    {"id": "r2", "parent_id": "r1", "object_id": "a1", "object_type": "activity",
     "comment": "deeper", "user_id": "eve", "custom": {"k": [1]},
     "attachments": [{"type": "image", "image_url": "https://x.example/i.png"}]},
    {"id": "s1", "parent_id": "old", "comment": "on a stored one", "user_id": "bob"},
    {"object_id": "a2", "comment": "no id given", "user_id": "fay"},
    {"id": "c3", "object_id": "a2", "comment": "second", "user_id": "bob"},
]  # fmt: skip


def _seeded(store: Store) -> AppService:
    service = AppService(store)
    for aid in ("a1", "a2", "gone"):
        service.activities.add_activity(
            APP, {"id": aid, "type": "post", "user_id": "ann", "feeds": ["user:ann"]}
        )
    hidden = {"id": "hidden", "type": "post", "user_id": "bob", "feeds": ["user:bob"],
              "visibility": "private"}  # fmt: skip
    service.activities.add_activity(APP, hidden)
    service.activities.delete_activities(APP, ["gone"], False, None)
    service.comments.add_comment(APP, {"id": "old", "object_id": "a1", "comment": "stored",
                                       "user_id": "ann"})  # fmt: skip
    return service


def _state(store: Store) -> dict[str, Any]:
    """Every comment and user as stored, times left out but their order kept."""
    return stored(store.path, {
        "comments": "SELECT CASE WHEN length(id) = 36 THEN '(made)' ELSE id END, object_type, "
        "object_id, parent_id, user_id, doc, created_at = updated_at, edited_at, deleted_at "
        "FROM comments ORDER BY created_at, rid",
        "users": "SELECT id, doc FROM users ORDER BY created_at, id",
    })  # fmt: skip


def _shown(answer: dict[str, Any]) -> dict[str, Any]:
    left = ("id", "created_at", "updated_at", "user", "mentioned_users")
    shown = {k: v for k, v in answer.items() if k not in left}
    return {**shown, "user": answer["user"]["id"],
            "mentioned": [u["id"] for u in answer["mentioned_users"]]}  # fmt: skip


def test_a_batch_ends_as_one_comment_at_a_time(tmp_path: Any) -> None:
    batch = _seeded(Store(str(tmp_path / "batch.db")))
    single = _seeded(Store(str(tmp_path / "single.db")))
    answers = batch.comments.add_comments_batch(APP, {"comments": COMMENTS})["comments"]
    for body in COMMENTS:
        single.comments.add_comment(APP, body)
    assert _state(batch.store) == _state(single.store)
    assert [a["reply_count"] for a in answers] == [1, 1, 0, 0, 0, 0]
    read = [batch.comments.get_comment(APP, a["id"], {})["comment"] for a in answers]
    assert [_shown(a) for a in answers] == [_shown(r) for r in read]
    assert answers[1]["mentioned_users"][0]["id"] == "dan"
    counts = sqlite3.connect(batch.store.path).execute(
        "SELECT count(*) FROM comments WHERE object_id = 'a1'").fetchone()  # fmt: skip
    assert counts == (5,)


def _refusal(service: AppService, principal: Principal, comments: list[Any]) -> Problem:
    with pytest.raises(Problem) as caught:
        service.comments.add_comments_batch(principal, {"comments": comments})
    return caught.value


@pytest.mark.parametrize(
    ("principal", "bad"),
    [
        (APP, {"parent_id": "nope", "comment": "x", "user_id": "bob"}),
        (APP, {"parent_id": "old", "object_id": "a2", "comment": "x", "user_id": "bob"}),
        (APP, {"object_id": "missing", "comment": "x", "user_id": "bob"}),
        (APP, {"object_id": "gone", "comment": "x", "user_id": "bob"}),
        (APP, {"id": "old", "object_id": "a1", "comment": "x", "user_id": "bob"}),
        (APP, {"object_id": "a1", "comment": 7, "user_id": "bob"}),
        (ANN, {"object_id": "hidden", "comment": "x"}),
        (ANN, {"object_id": "a1", "comment": "x", "user_id": "bob"}),
    ],
)
def test_a_bad_comment_refuses_the_batch_as_it_is_refused_alone(
    tmp_path: Any, principal: Principal, bad: dict[str, Any]
) -> None:
    service = _seeded(Store(str(tmp_path / "x.db")))
    before = _state(service.store)
    good = {"object_id": "a1", "comment": "fine", "user_id": principal.user_id or "bob"}
    refused_as_alone(lambda batch: _refusal(service, principal, batch), "comments", good, bad)
    assert _state(service.store) == before  # all or nothing


def test_an_id_twice_in_a_batch_is_refused_at_its_second(tmp_path: Any) -> None:
    service = _seeded(Store(str(tmp_path / "x.db")))
    twice = {"id": "t", "object_id": "a1", "comment": "x", "user_id": "bob"}
    refused = _refusal(service, APP, [twice, twice])
    assert refused.fields == {"comments[1].id": "comment 't' already exists"}


_VALUES = st.one_of(
    st.text(max_size=3), st.sampled_from(["", "x" * 300, "activity"]), st.integers(-2, 2),
    st.booleans(), st.none(), st.lists(st.one_of(st.text(max_size=2), st.integers()), max_size=3),
    st.dictionaries(st.sampled_from(["type", "image_url", 7]),
                    st.one_of(st.integers(), st.text(max_size=2), st.none()), max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["type", "image_url", "custom"]),
                             st.one_of(st.text(max_size=2), st.integers()), max_size=2),
             max_size=2),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from([*COMMENT_FIELDS, "unknown"]), _VALUES, max_size=4),
    st.booleans(),
)
def test_the_fast_verdict_of_a_comment_is_that_of_its_errors(
    changed: dict[str, Any], new: bool
) -> None:
    """``validate_comment`` answers a valid comment by each field's ``accepts``; the
    verdict is the same as the full checks'."""
    comment = {"object_id": "a1", "comment": "hi", **changed}
    with mock.patch("feedkit.schema.comment.all_accepted", return_value=False):
        full = validate_comment(comment, new=new)
    assert (validate_comment(comment, new=new) == []) == (full == []), (comment, full)
    if full:
        assert validate_comment(comment, new=new) == full
