"""Reactions on comments through feedkit's own client on the embedded server
(``feedkit.connect()``): the client methods, refusals naming the field, 404 for what does not
exist, 403 for a user token acting for another, the scores as a property of the votes, a
comments page reading its reactions in a fixed number of queries, and what a hard-deleted
activity or comment leaves in the store (nothing)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import feedkit
from feedkit.server.comment_reactions import comment_scores
from feedkit.server.store import Store


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    """An activity a1 of ann's with comment c1 and its reply c2."""
    with feedkit.connect(":memory:") as c:
        _thread(c)
        yield c


def _thread(c: feedkit.Client, aid: str = "a1") -> None:
    c.add_activity(type="post", feeds=["user:ann"], user_id="ann", id=aid, text="hi")
    c.add_comment("first", object_id=aid, user_id="ann", id="c1")
    c.add_comment("reply", parent_id="c1", user_id="bob", id="c2")


def _store(c: feedkit.Client) -> Store:
    return next(o for o in c._owned if isinstance(o, Store))


def _rows(c: feedkit.Client) -> dict[str, int]:
    """Rows of what an activity or comment can leave behind, per table."""
    with _store(c).reading() as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("activities", "comments", "reactions", "bookmarks", "pins")}  # fmt: skip


def test_the_client_adds_queries_and_deletes(client: feedkit.Client) -> None:
    added = client.add_comment_reaction("c1", "upvote", user_id="bob", custom={"n": 1})
    assert (added["reaction"]["comment_id"], added["reaction"]["custom"]) == ("c1", {"n": 1})
    assert (added["comment"]["score"], added["comment"]["reaction_count"]) == (1, 1)
    client.add_comment_reaction("c2", "like", user_id="bob")
    client.add_comment_reaction("c1", "like", user_id="cy")
    assert [r["user"]["id"] for r in client.query_comment_reactions("c1")["reactions"]] == [
        "cy", "bob"]  # fmt: skip
    filtered = client.query_comment_reactions("c1", {"reaction_type": "upvote"})["reactions"]
    assert [r["type"] for r in filtered] == ["upvote"]
    bobs = client.batch_query_comment_reactions(["c1", "c2"], user_id="bob")["reactions"]
    assert sorted(r["comment_id"] for r in bobs) == ["c1", "c2"]
    gone = client.delete_comment_reaction("c1", "upvote", user_id="bob")
    assert gone["reaction"]["type"] == "upvote" and gone["comment"]["score"] == 0
    assert client.get_comment("c1")["reaction_groups"].keys() == {"like"}


def test_bad_requests_are_refused_naming_the_field(client: feedkit.Client) -> None:
    with pytest.raises(feedkit.ValidationError) as caught:  # the client's own check
        client.add_comment_reaction("c1", "", user_id="bob")
    assert set(caught.value.fields) == {"type"}
    with pytest.raises(feedkit.APIError) as batch:
        client.batch_query_comment_reactions([], user_id="bob")
    assert batch.value.status == 400 and set(batch.value.exception_fields) == {"comment_ids"}
    with pytest.raises(feedkit.APIError) as unknown:
        client.query_comment_reactions("c1", {"text": "x"})
    assert set(unknown.value.exception_fields) == {"filter.text"}
    with pytest.raises(feedkit.APIError) as nobody:
        client.add_comment_reaction("c1", "like")
    assert set(nobody.value.exception_fields) == {"user_id"}


def test_what_does_not_exist_is_404(client: feedkit.Client) -> None:
    for attempt in (
        lambda: client.add_comment_reaction("nope", "like", user_id="bob"),
        lambda: client.delete_comment_reaction("c1", "like", user_id="bob"),
        lambda: client.query_comment_reactions("nope"),
    ):
        with pytest.raises(feedkit.NotFoundError):
            attempt()
    assert client.batch_query_comment_reactions(["nope"], user_id="bob")["reactions"] == []


def test_a_user_token_reacts_only_as_itself(client: feedkit.Client) -> None:
    client.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="secret",
                        visibility="private")  # fmt: skip
    client.add_comment("hidden", object_id="secret", user_id="ann", id="c-secret")
    with client.as_user("bob") as bob:
        mine = bob.add_comment_reaction("c1", "downvote")
        assert mine["reaction"]["user"]["id"] == "bob"
        assert [r["type"] for r in mine["comment"]["own_reactions"]] == ["downvote"]
        for attempt in (
            lambda: bob.add_comment_reaction("c1", "like", user_id="cy"),
            lambda: bob.delete_comment_reaction("c1", "downvote", user_id="cy"),
            lambda: bob.batch_query_comment_reactions(["c1"], user_id="cy"),
        ):
            with pytest.raises(feedkit.AuthError) as refused:
                attempt()
            assert refused.value.status == 403
        assert bob.batch_query_comment_reactions(["c1"])["reactions"][0]["type"] == "downvote"
        with pytest.raises(feedkit.NotFoundError):  # on ann's private activity: not bob's
            bob.add_comment_reaction("c-secret", "like")
        with pytest.raises(feedkit.NotFoundError):
            bob.query_comment_reactions("c-secret")
        assert bob.delete_comment_reaction("c1", "downvote")["comment"]["downvote_count"] == 0
    assert client.query_comment_reactions("c1")["reactions"] == []


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_the_scores_follow_the_votes(upvotes: int, downvotes: int) -> None:
    scores = comment_scores(upvotes, downvotes)
    assert scores["score"] == upvotes - downvotes
    assert (scores["upvote_count"], scores["downvote_count"]) == (upvotes, downvotes)
    share = upvotes / (upvotes + downvotes) if upvotes + downvotes else 0.0
    assert 0.0 <= scores["confidence_score"] <= share + 1e-12  # a lower bound of the share
    assert scores["controversy_score"] <= upvotes + downvotes
    assert (scores["controversy_score"] > 0) == (upvotes > 0 and downvotes > 0)
    more = comment_scores(upvotes + 1, downvotes)  # one more upvote never lowers confidence
    assert more["confidence_score"] >= scores["confidence_score"] - 1e-12
    assert math.isfinite(scores["confidence_score"])


def test_a_comments_page_reads_its_reactions_in_a_fixed_number_of_queries() -> None:
    def statements(reactions_each: int) -> int:
        with feedkit.connect(":memory:") as c:
            c.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="a1")
            for i in range(10):
                c.add_comment(f"c{i}", object_id="a1", user_id="ann", id=f"c{i}")
                c.add_comment(f"r{i}", parent_id=f"c{i}", user_id="ann", id=f"r{i}")
                for j in range(reactions_each):
                    for cid in (f"c{i}", f"r{i}"):
                        c.add_comment_reaction(cid, f"t{j % 3}", user_id=f"u{j}")
            seen: list[str] = []
            _store(c)._db.set_trace_callback(seen.append)
            page = c.get_comments("a1", depth=2, user_id="u0")
            _store(c)._db.set_trace_callback(None)
            replies = [r for top in page["comments"] for r in top["replies"]]
            assert all(r["reaction_count"] == reactions_each for r in replies)
            return len(seen)

    assert statements(1) == statements(6)


def test_a_hard_deleted_activity_leaves_nothing_behind(client: feedkit.Client) -> None:
    before = _rows(client)
    client.add_activity_reaction("a1", "like", user_id="bob")
    client.add_comment_reaction("c1", "upvote", user_id="bob")
    client.add_comment_reaction("c2", "like", user_id="cy")
    client.add_bookmark("a1", user_id="bob")
    client.pin_activity("user", "ann", "a1", user_id="ann")
    client.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="kept")
    client.add_comment("stays", object_id="kept", user_id="ann", id="k1")
    client.add_comment_reaction("k1", "upvote", user_id="bob")
    client.delete_activity("a1", hard_delete=True)
    assert _rows(client) == {"activities": 1, "comments": 1, "reactions": 1, "bookmarks": 0,
                             "pins": 0}  # fmt: skip
    assert client.get_comment("k1")["score"] == 1  # another activity's are untouched
    client.delete_activity("kept", hard_delete=True)
    assert _rows(client) == {**before, "activities": 0, "comments": 0}


def test_a_hard_deleted_comment_takes_its_replies_and_all_their_reactions(
    client: feedkit.Client,
) -> None:
    client.add_comment("other", object_id="a1", user_id="cy", id="c3")
    for cid in ("c1", "c2", "c3"):
        client.add_comment_reaction(cid, "upvote", user_id="bob")
    client.add_activity_reaction("a1", "like", user_id="bob")
    client.delete_comment("c1", hard_delete=True)
    with _store(client).reading() as db:
        left = db.execute("SELECT object_type, object_id FROM reactions ORDER BY 1").fetchall()
    assert left == [("activity", "a1"), ("comment", "c3")]
    assert _rows(client)["comments"] == 1


def test_a_store_with_the_earlier_trigger_opens_and_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as c:
        _thread(c)
    with sqlite3.connect(path) as db:  # the earlier layout: comments went by a trigger
        db.execute("CREATE TRIGGER activity_comments_go_with_it AFTER DELETE ON activities "
                   "BEGIN DELETE FROM comments WHERE object_type = 'activity' AND "
                   "object_id = OLD.id; END")  # fmt: skip
    with feedkit.connect(path) as c:
        c.add_comment_reaction("c2", "upvote", user_id="bob")
        c.delete_activity("a1", hard_delete=True)
        assert _rows(c) == {"activities": 0, "comments": 0, "reactions": 0, "bookmarks": 0,
                            "pins": 0}  # fmt: skip
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
