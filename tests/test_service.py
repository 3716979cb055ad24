"""Semantics of the embedded server's activity operations, through the feedkit client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import feedkit
from feedkit import AuthError, NotFoundError
from feedkit.errors import APIError
from feedkit.schema import parse_time


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def post(client: feedkit.Client, aid: str, user: str = "alice", **fields: object):
    body = {"id": aid, "type": "post", "feeds": [f"user:{user}"], "user_id": user}
    body.update(fields)
    return client.add_activity(body)


def test_add_generates_id_and_creates_feed_and_user(client: feedkit.Client) -> None:
    a = client.add_activity(type="post", feeds=["topic:news"], user_id="carol", text="hi")
    assert len(a["id"]) == 36
    assert a["user"]["id"] == "carol" and a["user"]["role"] == "user"
    assert isinstance(a["created_at"], int) and a["created_at"] > 1_600_000_000 * 10**9
    page = client.read_feed("topic:news")
    assert [x["id"] for x in page] == [a["id"]]
    assert page.feed is not None and page.feed["activity_count"] == 1


def test_add_is_an_upsert_keeping_created_at(client: feedkit.Client) -> None:
    first = post(client, "a1", text="one", custom={"k": 1})
    second = post(client, "a1", text="two")
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]
    got = client.get_activity("a1")
    assert got["text"] == "two" and got["custom"] == {}
    assert len(client.query_activities({"id": "a1"})) == 1


def test_upsert_batch_moves_activity_between_feeds(client: feedkit.Client) -> None:
    post(client, "m1", feeds=["user:alice", "topic:a"])
    post(client, "m1", feeds=["topic:b"])
    assert [a["id"] for a in client.read_feed("topic:b")] == ["m1"]
    assert list(client.read_feed("topic:a")) == []
    assert list(client.read_feed("user:alice")) == []


def test_full_update_clears_omitted_fields(client: feedkit.Client) -> None:
    post(client, "u1", text="t", custom={"a": 1}, filter_tags=["x"], location={"lat": 1, "lng": 2})
    updated = client.update_activity("u1", text="edited", user_id="alice")
    assert updated["text"] == "edited"
    assert updated["custom"] == {} and updated["filter_tags"] == []
    assert "location" not in updated
    assert updated["feeds"] == ["user:alice"] and updated["type"] == "post"
    assert "edited_at" in updated


def test_partial_update_set_and_unset_dotted_paths(client: feedkit.Client) -> None:
    post(client, "p1", text="t", custom={"color": "blue", "size": 1, "nested": {"a": 1, "b": 2}})
    after = client.update_activity_partial(
        "p1", set={"custom.mood": "happy", "custom.nested.c": 3}, unset=["custom.color"]
    )
    assert after["custom"] == {"size": 1, "mood": "happy", "nested": {"a": 1, "b": 2, "c": 3}}
    after = client.update_activity_partial("p1", unset=["custom.nested.a", "custom"])
    assert after["custom"] == {}
    assert after["text"] == "t"


def test_partial_update_rejects_disallowed_fields_with_exception_fields(
    client: feedkit.Client,
) -> None:
    post(client, "p2", text="t")
    client.validate = False  # send it anyway: the server must refuse it too
    with pytest.raises(APIError) as err:
        client.update_activity_partial("p2", set={"type": "video"}, unset=["text"])
    assert err.value.status == 400 and err.value.code == 4
    assert set(err.value.exception_fields) == {"set.type", "unset.text"}
    assert client.get_activity("p2")["type"] == "post"


def test_partial_update_checks_the_result(client: feedkit.Client) -> None:
    post(client, "p3")
    with pytest.raises(APIError) as err:
        client.update_activity_partial("p3", set={"visibility": "tag"})
    assert "visibility_tag" in err.value.exception_fields
    assert client.get_activity("p3")["visibility"] == "public"


def test_partial_batch_is_all_or_nothing(client: feedkit.Client) -> None:
    post(client, "b1", text="a")
    with pytest.raises(NotFoundError):
        client.update_activities_partial_batch(
            [
                {"activity_id": "b1", "set": {"text": "changed"}},
                {"activity_id": "missing", "set": {"text": "x"}},
            ]
        )
    assert client.get_activity("b1")["text"] == "a"
    done = client.update_activities_partial_batch([{"activity_id": "b1", "set": {"text": "b"}}])
    assert done[0]["text"] == "b"


def test_soft_delete_hides_restore_brings_back(client: feedkit.Client) -> None:
    post(client, "d1", text="x")
    client.delete_activity("d1")
    with pytest.raises(NotFoundError):
        client.get_activity("d1")
    assert list(client.read_feed("user:alice")) == []
    assert [a["id"] for a in client.query_activities(include_soft_deleted_activities=True)] == [
        "d1"
    ]
    client.delete_activity("d1")  # deleting again is not an error: retries must be safe
    restored = client.restore_activity("d1")
    assert restored["id"] == "d1" and "deleted_at" not in restored
    assert client.get_activity("d1")["text"] == "x"


def test_hard_delete_and_delete_batch(client: feedkit.Client) -> None:
    for i in range(3):
        post(client, f"h{i}")
    client.delete_activity("h0", hard_delete=True)
    with pytest.raises(NotFoundError):
        client.restore_activity("h0")
    with pytest.raises(NotFoundError):
        client.delete_activities(["h1", "nope"], hard_delete=True)
    assert client.get_activity("h1")["id"] == "h1"  # a rejected batch deletes nothing
    assert client.delete_activities(["h1", "h2"], hard_delete=True) == ["h1", "h2"]
    assert list(client.query_activities(include_soft_deleted_activities=True)) == []


def test_expired_hidden_except_for_owner_and_flag(client: feedkit.Client) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    post(client, "e1", expires_at=datetime.now(UTC) + timedelta(days=1))
    client.update_activity_partial("e1", set={"expires_at": past.isoformat()})
    post(client, "e2")
    assert [a["id"] for a in client.query_activities()] == ["e2"]
    flagged = client.query_activities(include_expired_activities=True)
    assert {a["id"] for a in flagged} == {"e1", "e2"}
    assert {a["id"] for a in client.as_user("alice").query_activities()} == {"e1", "e2"}
    assert [a["id"] for a in client.as_user("bob").query_activities()] == ["e2"]
    with pytest.raises(NotFoundError):
        client.as_user("bob").get_activity("e1")
    assert client.as_user("alice").get_activity("e1")["expires_at"] == parse_time(past)


def test_private_and_tag_visibility(client: feedkit.Client) -> None:
    post(client, "v1", visibility="private")
    post(client, "v2", visibility="tag", visibility_tag="premium")
    post(client, "v3")
    client.upsert_users([{"id": "gold", "teams": ["premium"]}, {"id": "bob"}])
    ids = lambda c: sorted(a["id"] for a in c.query_activities())  # noqa: E731
    assert ids(client) == ["v1", "v2", "v3"]  # server-side, acting for no user
    assert ids(client.as_user("alice")) == ["v1", "v2", "v3"]
    assert ids(client.as_user("bob")) == ["v3"]
    assert ids(client.as_user("gold")) == ["v2", "v3"]
    with pytest.raises(NotFoundError):
        client.get_activity("v1", user_id="bob")


def test_user_token_cannot_act_for_others(client: feedkit.Client) -> None:
    post(client, "o1")
    bob = client.as_user("bob")
    with pytest.raises(AuthError) as err:
        bob.update_activity_partial("o1", set={"text": "hijack"})
    assert err.value.status == 403
    with pytest.raises(AuthError):
        bob.add_activity(type="post", feeds=["user:alice"], user_id="alice")
    with pytest.raises(AuthError):
        bob.delete_activity("o1")
    assert "text" not in client.get_activity("o1")
    mine = bob.add_activity(type="post", feeds=["user:bob"], text="mine")
    assert mine["user"]["id"] == "bob"


def test_parent_share_count_and_embedding(client: feedkit.Client) -> None:
    post(client, "parent", text="original")
    reply = post(client, "child", user="bob", parent_id="parent")
    assert reply["parent"]["id"] == "parent" and reply["parent"]["text"] == "original"
    post(client, "child", user="bob", parent_id="parent", text="re-upserted")
    parent = client.get_activity("parent")
    assert parent["share_count"] == 1
    assert parent["popularity"] == 1


def test_mentions_render_users(client: feedkit.Client) -> None:
    client.upsert_users([{"id": "bob", "name": "Bob", "custom": {"tier": "gold"}}])
    a = post(client, "men", mentioned_user_ids=["bob", "dave"])
    assert [u["id"] for u in a["mentioned_users"]] == ["bob", "dave"]
    assert a["mentioned_users"][0]["name"] == "Bob"
    assert a["mentioned_users"][0]["custom"] == {"tier": "gold"}
    assert a.mentioned_user_ids == ["bob", "dave"]


def test_timeline_reads_followed_feeds(client: feedkit.Client) -> None:
    post(client, "f1", user="bob")
    post(client, "f2", user="carol")
    post(client, "f3", user="dave")
    client.follow("timeline:alice", "user:bob")
    client.follow("timeline:alice", "user:carol")
    assert [a["id"] for a in client.read_feed("timeline:alice")] == ["f2", "f1"]
    page = client.read_feed("timeline:alice")
    assert page.feed is not None and page.feed["following_count"] == 2
    client.unfollow("timeline:alice", "user:carol")
    assert [a["id"] for a in client.read_feed("timeline:alice")] == ["f1"]
    client.delete_feed("timeline:alice")
    assert client.read_feed("timeline:alice").raw["created"] is True


def test_unknown_activity_is_404(client: feedkit.Client) -> None:
    for call in (
        lambda: client.get_activity("nope"),
        lambda: client.update_activity("nope", text="x"),
        lambda: client.update_activity_partial("nope", set={"text": "x"}),
        lambda: client.delete_activity("nope"),
    ):
        with pytest.raises(NotFoundError) as err:
            call()
        assert err.value.status == 404 and err.value.code == 16


def test_ids_with_path_characters_round_trip(client: feedkit.Client) -> None:
    odd = "act/with:odd chars?&%2F#"
    post(client, odd, text="odd")
    assert client.get_activity(odd)["id"] == odd
    assert client.update_activity_partial(odd, set={"text": "ok"})["text"] == "ok"
    client.delete_activity(odd, hard_delete=True)
    with pytest.raises(NotFoundError):
        client.get_activity(odd)


def test_sql_metacharacters_are_literal(client: feedkit.Client) -> None:
    nasty = "x'); DROP TABLE activities; --"
    post(client, nasty, filter_tags=[nasty], custom={nasty: nasty})
    post(client, "plain")
    assert [a["id"] for a in client.query_activities({"filter_tags": {"$contains": nasty}})] == [
        nasty
    ]
    assert [a["id"] for a in client.query_activities({"id": {"$in": [nasty]}})] == [nasty]
    assert len(client.query_activities()) == 2


def test_user_token_follows_only_from_its_own_feeds(client: feedkit.Client) -> None:
    bob = client.as_user("bob")
    with pytest.raises(AuthError):
        bob.follow("timeline:alice", "user:bob")
    bob.follow("timeline:bob", "user:alice")
    client.follow("timeline:alice", "user:carol")
    with pytest.raises(AuthError):
        bob.unfollow("timeline:alice", "user:carol")
    assert client.read_feed("timeline:alice").feed["following_count"] == 1  # type: ignore[index]
    bob.unfollow("timeline:bob", "user:alice")


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"id": "u1", "name": 5}, "name"),
        ({"id": "u1", "image": ["x"]}, "image"),
        ({"id": "u1", "language": {}}, "language"),
        ({"id": "u1", "role": 1.5}, "role"),
        ({"id": "u1", "invisible": "yes"}, "invisible"),
        ({"id": "u1", "teams": "red"}, "teams"),
        ({"id": "u1", "teams": ["red", 7]}, "teams"),
        ({"id": "u1", "custom": []}, "custom"),
    ],
)
def test_users_with_fields_of_the_wrong_type_are_refused(
    client: feedkit.Client, user: dict[str, object], field: str
) -> None:
    # Found by schemathesis: such users were stored, and every answer naming them then broke
    # the spec's UserResponse schema (an object as language, a list as image). The client
    # refuses them before sending; the server refuses them too.
    with pytest.raises(feedkit.ValidationError, match=rf"invalid user: users\[0\]\.{field}"):
        client.upsert_users([user])
    with pytest.raises(APIError) as err:
        client.call("UpdateUsers", json={"users": {"u1": user}})
    assert (err.value.status, err.value.code) == (400, 4)
    assert any(k.startswith(f"users.u1.{field}") for k in err.value.exception_fields)
    with pytest.raises(APIError) as err:
        client.request(
            "POST",
            "/api/v2/feeds/activities",
            json={"type": "post", "feeds": ["user:u1"], "user": user, "id": "by-u1"},
        )
    assert (err.value.status, err.value.code) == (400, 4)
    assert any(k.startswith(f"user.{field}") for k in err.value.exception_fields)
    with pytest.raises(NotFoundError):
        client.get_activity("by-u1")
    post(client, "plain", user="u1")  # nothing of the refused user was stored
    stored = client.get_activity("plain")["user"]
    assert (stored["role"], stored["language"], stored["teams"], stored["custom"]) == (
        "user", "", [], {},
    )  # fmt: skip
    assert "name" not in stored and "image" not in stored


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": 5}, "name"),
        ({"description": ["x"]}, "description"),
        ({"custom": [1]}, "custom"),
        ({"filter_tags": "news"}, "filter_tags"),
        ({"visibility": {}}, "visibility"),
        ({"visibility": "everyone"}, "visibility"),
    ],
)
def test_feed_data_of_the_wrong_type_is_refused(
    client: feedkit.Client, data: dict[str, object], field: str
) -> None:
    # Found by the hostile tests: stored as sent, it broke the spec's FeedResponse in every
    # later answer naming the feed.
    path = "/api/v2/feeds/feed_groups/topic/feeds/typed"
    with pytest.raises(APIError) as err:
        client.request("POST", path, json={"data": data})
    assert (err.value.status, err.value.code) == (400, 4)
    assert f"data.{field}" in err.value.exception_fields
    feed = client.request("POST", path, json={})["feed"]
    assert (feed["name"], feed["description"], feed["custom"], feed["visibility"]) == (
        "", "", {}, "visible",
    )  # fmt: skip
