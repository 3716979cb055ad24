"""Reactions through feedkit's own client on the embedded server (``feedkit.connect()``):
the client methods, refusals naming the field (client-side and server-side), 404 for what
does not exist, 403 for a user token acting for another, a store file made before reactions
opening, and a page's reactions read in a fixed number of queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.schema.reaction import MAX_REACTION_BYTES, MAX_REACTION_TYPE, validate_reaction
from feedkit.server.store import Store


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        c.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="a1", text="hi")
        yield c


@pytest.fixture
def unchecked(client: feedkit.Client) -> Iterator[feedkit.Client]:
    """A client of the same server that sends what it is given, for the server's refusals."""
    secret = client._secret.reveal() if client._secret else None
    yield feedkit.Client(client.base_url, client.api_key, secret, transport=client._transport,
                         validate=False)  # fmt: skip


def _fields(caught: pytest.ExceptionInfo[Any]) -> set[str]:
    error = caught.value
    return set(error.fields if isinstance(error, feedkit.ValidationError)
               else error.exception_fields)  # fmt: skip


def test_the_client_adds_replaces_queries_and_deletes(client: feedkit.Client) -> None:
    answer = client.add_activity_reaction("a1", "like", user_id="bob", custom={"e": 1})
    assert answer["reaction"]["custom"] == {"e": 1}
    assert answer["activity"].reaction_count == 1  # an Activity, as add_activity answers
    client.add_activity_reaction("a1", "love", user_id="bob")
    client.add_activity_reaction("a1", "like", user_id="cy")
    page = client.query_activity_reactions("a1", {"user_id": "bob"})
    assert [r["type"] for r in page["reactions"]] == ["love", "like"]
    everything = list(client.iter_activity_reactions("a1", page_size=1))
    assert [(r["user"]["id"], r["type"]) for r in everything] == [
        ("cy", "like"), ("bob", "love"), ("bob", "like")]  # fmt: skip
    batch = client.batch_query_activity_reactions(["a1"], {"reaction_type": "like"},
                                                  user_id="bob")  # fmt: skip
    assert [r["type"] for r in batch["reactions"]] == ["like"]
    unique = client.add_activity_reaction("a1", "wow", user_id="cy", enforce_unique=True)
    assert unique["activity"].reaction_groups.keys() == {"like", "love", "wow"}
    assert unique["activity"].reaction_groups["like"]["count"] == 1
    gone = client.delete_activity_reaction("a1", "wow", user_id="cy")
    assert gone["reaction"]["type"] == "wow" and gone["activity"].reaction_count == 2


def test_created_at_filters_take_times(client: feedkit.Client) -> None:
    first = client.add_activity_reaction("a1", "like", user_id="bob")["reaction"]
    client.add_activity_reaction("a1", "like", user_id="cy")
    later = client.query_activity_reactions("a1", {"created_at": {"$gt": first["created_at"]}})
    assert [r["user"]["id"] for r in later["reactions"]] == ["cy"]
    iso = client.query_activity_reactions("a1", {"created_at": {"$lte": "2200-01-01T00:00:00Z"}})
    assert len(iso["reactions"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "type"),
        ({"type": ""}, "type"),
        ({"type": 7}, "type"),
        ({"type": "x" * (MAX_REACTION_TYPE + 1)}, "type"),
        ({"type": "like", "custom": [1]}, "custom"),
        ({"type": "like", "custom": {"big": "x" * MAX_REACTION_BYTES}}, "custom"),
        ({"type": "like", "enforce_unique": "yes"}, "enforce_unique"),
        ({"type": "like", "target_feeds": ["no-colon"]}, "target_feeds[0]"),
        ({"type": "like", "user_id": 5}, "user_id"),
    ],
)
def test_a_bad_reaction_is_refused_naming_the_field(
    client: feedkit.Client, unchecked: feedkit.Client, body: dict[str, Any], field: str
) -> None:
    assert field in {e.field for e in validate_reaction(body)}
    sent = {"user_id": "bob", **body}
    with pytest.raises(feedkit.APIError) as refused:
        unchecked.call("AddActivityReaction", {"activity_id": "a1"}, json=sent)
    assert refused.value.status == 400 and field in _fields(refused)
    if isinstance(body.get("type"), str) and not isinstance(body.get("user_id"), int):
        with pytest.raises(feedkit.ValidationError) as caught:  # refused before sending
            client.add_activity_reaction("a1", **{"user_id": "bob", **body})
        assert field in _fields(caught)
    assert client.query_activity_reactions("a1")["reactions"] == []


INTS = st.integers(-(2**63), 2**63 - 1)  # what JSON on the wire carries
JSON = st.recursive(
    st.none() | st.booleans() | INTS | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
REACTION_BODIES = st.fixed_dictionaries({}, optional={
    "type": st.none() | INTS | st.text(max_size=3)
            | st.text(min_size=MAX_REACTION_TYPE, max_size=MAX_REACTION_TYPE + 1),
    "custom": JSON,
    "enforce_unique": st.booleans() | st.text(max_size=2),
    "target_feeds": st.lists(st.sampled_from(["user:ann", "bad", ""]) | INTS,
                             max_size=2),
})  # fmt: skip


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(body=REACTION_BODIES)
def test_the_server_takes_exactly_what_the_schema_passes(
    unchecked: feedkit.Client, body: dict[str, Any]
) -> None:
    valid = not validate_reaction(body)
    try:
        unchecked.call("AddActivityReaction", {"activity_id": "a1"},
                       json={**body, "user_id": "bob"})  # fmt: skip
        accepted = True
    except feedkit.APIError as refused:
        assert refused.status == 400, refused
        accepted = False
    assert accepted == valid, body


@pytest.mark.parametrize(
    ("operation", "path", "body", "field"),
    [
        ("AddActivityReaction", {"activity_id": "a1"}, {"type": "like"}, "user_id"),
        ("AddActivityReaction", {"activity_id": "a1"},
         {"type": "like", "user_id": "bob", "user": {"id": "bob", "teams": "red"}}, "user.teams"),
        ("QueryActivityReactions", {"activity_id": "a1"}, {"filter": {"text": "x"}},
         "filter.text"),
        ("QueryActivityReactions", {"activity_id": "a1"},
         {"filter": {"reaction_type": {"$gt": 1}}}, "filter.reaction_type"),
        ("QueryActivityReactions", {"activity_id": "a1"},
         {"filter": {"created_at": {"$gt": "yesterday"}}}, "filter.created_at"),
        ("QueryActivityReactions", {"activity_id": "a1"},
         {"filter": {"created_at": {"$lt": "2999-01-01T00:00:00Z"}}}, "filter.created_at"),
        ("QueryActivityReactions", {"activity_id": "a1"},
         {"prev": "cmVhY3Rpb25zOjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk="}, "prev"),
        ("QueryActivityReactions", {"activity_id": "a1"}, {"sort": [{"field": "type"}]},
         "sort[0].field"),
        ("QueryActivityReactions", {"activity_id": "a1"}, {"limit": 101}, "limit"),
        ("QueryActivityReactions", {"activity_id": "a1"}, {"next": "bm90LW91cnM="}, "next"),
        ("BatchQueryActivityReactions", {}, {"user_id": "bob"}, "activity_ids"),
        ("BatchQueryActivityReactions", {}, {"activity_ids": ["a1", 3], "user_id": "bob"},
         "activity_ids[1]"),
        ("BatchQueryActivityReactions", {}, {"activity_ids": ["a1"]}, "user_id"),
        ("BatchQueryActivityReactions", {},
         {"activity_ids": ["a1"], "user_id": "bob", "filter": {"user_id": "cy"}},
         "filter.user_id"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_naming_the_field(
    unchecked: feedkit.Client, operation: str, path: dict[str, str], body: Any, field: str
) -> None:
    with pytest.raises(feedkit.APIError) as refused:
        unchecked.call(operation, path, json=body)
    assert refused.value.status == 400 and field in _fields(refused), refused.value


def test_deleting_needs_the_user_and_a_reaction_that_exists(client: feedkit.Client) -> None:
    with pytest.raises(feedkit.APIError) as no_user:
        client.delete_activity_reaction("a1", "like")
    assert no_user.value.status == 400 and "user_id" in _fields(no_user)
    with pytest.raises(feedkit.NotFoundError):
        client.delete_activity_reaction("a1", "like", user_id="bob")


def test_what_does_not_exist_is_404(client: feedkit.Client) -> None:
    with pytest.raises(feedkit.NotFoundError):
        client.add_activity_reaction("nope", "like", user_id="bob")
    with pytest.raises(feedkit.NotFoundError):
        client.query_activity_reactions("nope")
    client.add_activity_reaction("a1", "like", user_id="bob")
    client.delete_activity("a1")  # soft: its reactions are kept but it cannot be reacted to
    with pytest.raises(feedkit.NotFoundError):
        client.add_activity_reaction("a1", "love", user_id="bob")
    with pytest.raises(feedkit.NotFoundError):
        client.delete_activity_reaction("a1", "like", user_id="bob")


def test_a_user_token_reacts_only_as_itself(client: feedkit.Client) -> None:
    client.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="secret",
                        visibility="private")  # fmt: skip
    with client.as_user("bob") as bob:
        mine = bob.add_activity_reaction("a1", "like")
        assert mine["reaction"]["user"]["id"] == "bob"
        assert [r["type"] for r in mine["activity"].own_reactions] == ["like"]
        for attempt in (
            lambda: bob.add_activity_reaction("a1", "love", user_id="cy"),
            lambda: bob.delete_activity_reaction("a1", "like", user_id="cy"),
            lambda: bob.batch_query_activity_reactions(["a1"], user_id="cy"),
        ):
            with pytest.raises(feedkit.AuthError) as refused:
                attempt()
            assert refused.value.status == 403
        assert bob.batch_query_activity_reactions(["a1"])["reactions"][0]["type"] == "like"
        with pytest.raises(feedkit.NotFoundError):  # ann's private activity is not bob's to see
            bob.add_activity_reaction("secret", "like")
        assert bob.delete_activity_reaction("a1", "like")["activity"].reaction_count == 0
    assert client.query_activity_reactions("a1")["reactions"] == []


def test_a_store_made_before_reactions_opens_and_takes_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as c:
        c.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="a1")
    with sqlite3.connect(path) as db:  # the layout before reactions: no table, no index
        db.execute("DROP TABLE reactions")
    with feedkit.connect(path) as c:
        assert c.get_activity("a1").reaction_count == 0
        c.add_activity_reaction("a1", "like", user_id="bob")
    with feedkit.connect(path) as c:  # opened again: the reaction is there, nothing doubled
        assert c.get_activity("a1").reaction_groups["like"]["count"] == 1


def test_a_feed_page_reads_its_reactions_in_a_fixed_number_of_queries() -> None:
    def statements(reactions_each: int) -> list[str]:
        with feedkit.connect(":memory:") as c:
            for i in range(20):
                c.add_activity(type="post", feeds=["user:ann"], user_id="ann", id=f"a{i}")
                for j in range(reactions_each):
                    c.add_activity_reaction(f"a{i}", f"t{j % 3}", user_id=f"u{j}")
            store = next(o for o in c._owned if isinstance(o, Store))
            seen: list[str] = []
            store._db.set_trace_callback(seen.append)
            page = c.read_feed("user:ann", user_id="u0", limit=20)
            store._db.set_trace_callback(None)
            assert len(page) == 20 and all(a.reaction_count == reactions_each for a in page)
            return [s for s in seen if "reactions" in s]

    few, many = statements(2), statements(30)
    assert len(few) == len(many) <= 3
