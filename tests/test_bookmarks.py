"""Bookmarks and bookmark folders through feedkit's own client on the embedded server
(``feedkit.connect()``): the answers, the errors naming their fields, 404s, a user token
acting for another user (403), a hard delete taking an activity's bookmarks with it, and a
store file of the layout before bookmarks opening and working."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.errors import APIError, AuthError, NotFoundError, ValidationError
from feedkit.schema.bookmark import MAX_FOLDER_NAME, validate_bookmark, validate_folder


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        for aid, author in [("a1", "ann"), ("a2", "ann"), ("b1", "bob")]:
            c.add_activity(id=aid, type="post", feeds=[f"user:{author}"], user_id=author)
        yield c


def test_add_query_update_and_delete_round_trip(client: feedkit.Client) -> None:
    added = client.add_bookmark("a1", user_id="bob", new_folder={"name": "Later"},
                                custom={"why": "long read"})  # fmt: skip
    assert (added["user"]["id"], added["custom"], added["folder"]["name"]) == (
        "bob", {"why": "long read"}, "Later")  # fmt: skip
    assert added["activity"]["bookmark_count"] == 1
    folder_id = added["folder"]["id"]
    again = client.add_bookmark("a2", user_id="bob", new_folder={"name": "Later"})
    assert again["folder"]["id"] == folder_id  # a new folder of a name the user has: that one
    (listed,) = client.query_bookmarks({"activity_id": "a1"})["bookmarks"]
    assert listed["folder"]["id"] == folder_id and listed["custom"] == {"why": "long read"}
    moved = client.update_bookmark("a1", user_id="bob", folder_id=folder_id, new_folder_id="")
    assert "folder" not in moved and moved["custom"] == {"why": "long read"}
    gone = client.delete_bookmark("a1", user_id="bob")
    assert gone["activity"]["bookmark_count"] == 0
    assert [b["activity_id"] for b in client.query_bookmarks(user_id="bob")["bookmarks"]] == [
        "a2"]  # fmt: skip


def test_own_bookmarks_show_to_their_user_only(client: feedkit.Client) -> None:
    client.add_bookmark("a1", user_id="bob")
    client.add_bookmark("a1", user_id="cy", new_folder={"name": "Cy's"})
    seen = {a.id: a for a in client.read_feed("user:ann", user_id="cy")}
    own = seen["a1"].own_bookmarks
    assert seen["a1"].bookmark_count == 2 and [b["user"]["id"] for b in own] == ["cy"]
    assert own[0]["folder"]["name"] == "Cy's" and own[0]["activity"]["id"] == "a1"
    assert seen["a2"].bookmark_count == 0 and seen["a2"].own_bookmarks == []


def test_errors_name_the_fields(client: feedkit.Client) -> None:
    with pytest.raises(APIError) as no_user:  # a server-side bookmark names its user
        client.add_bookmark("a1")
    assert no_user.value.status == 400 and "user_id" in no_user.value.exception_fields
    raw = feedkit.connect(":memory:", validate=False)
    raw.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
    with pytest.raises(APIError) as bad:
        raw.add_bookmark("a1", user_id="bob", folder_id="f", new_folder={"name": " "})
    assert set(bad.value.exception_fields) == {"new_folder", "new_folder.name"}
    with pytest.raises(APIError) as custom:
        raw.update_bookmark("a1", user_id="bob", custom="x")  # type: ignore[arg-type]
    assert set(custom.value.exception_fields) == {"custom"}
    with pytest.raises(APIError) as long_name:
        raw.update_bookmark_folder("f", name="n" * (MAX_FOLDER_NAME + 1))
    assert set(long_name.value.exception_fields) == {"name"}
    with pytest.raises(APIError) as filtered:
        raw.query_bookmarks({"folder_id": {"$gt": "x"}})
    assert set(filtered.value.exception_fields) == {"filter.folder_id"}
    with pytest.raises(APIError) as sorted_:
        raw.query_bookmark_folders(sort=[{"field": "name", "direction": 1}])
    assert set(sorted_.value.exception_fields) == {"sort[0].field"}
    with pytest.raises(APIError) as cursor:
        raw.query_bookmarks(next="not-a-cursor")
    assert set(cursor.value.exception_fields) == {"next"}
    forged = base64.urlsafe_b64encode(b"bookmarks:" + b"9" * 30).decode()  # past int64
    with pytest.raises(APIError) as huge:
        raw.query_bookmarks(next=forged)
    assert huge.value.status == 400 and set(huge.value.exception_fields) == {"next"}
    with pytest.raises(APIError) as far:
        raw.query_bookmarks({"created_at": {"$gt": 2**63}})
    assert far.value.status == 400 and set(far.value.exception_fields) == {"filter.created_at"}
    raw.close()
    with pytest.raises(ValidationError) as local:  # the client refuses it before sending
        client.add_bookmark("a1", user_id="bob", new_folder={"custom": {}})
    assert local.value.fields == {"new_folder.name": "is required: a non-empty string"}


def test_unknown_things_are_404(client: feedkit.Client) -> None:
    with pytest.raises(NotFoundError):
        client.add_bookmark("nope", user_id="bob")
    with pytest.raises(NotFoundError):
        client.add_bookmark("a1", user_id="bob", folder_id="nope")
    with pytest.raises(NotFoundError):
        client.update_bookmark("a1", user_id="bob", custom={})
    with pytest.raises(NotFoundError):
        client.delete_bookmark("a1", user_id="bob", folder_id="nope")
    with pytest.raises(NotFoundError):
        client.update_bookmark_folder("nope", name="x")
    with pytest.raises(NotFoundError):
        client.delete_bookmark_folder("nope")


def test_a_user_token_acts_for_its_user_only(client: feedkit.Client) -> None:
    bob = client.as_user("bob")
    mine = bob.add_bookmark("a1", new_folder={"name": "Bob's"})
    assert mine["user"]["id"] == "bob"
    client.add_bookmark("a2", user_id="cy", new_folder={"name": "Cy's"})
    with pytest.raises(AuthError) as other:
        bob.add_bookmark("a2", user_id="cy")
    assert other.value.status == 403
    cy_folder = client.query_bookmark_folders({"user_id": "cy"})["bookmark_folders"][0]["id"]
    for attempt in (
        lambda: bob.add_bookmark("a2", folder_id=cy_folder),
        lambda: bob.update_bookmark_folder(cy_folder, name="taken"),
        lambda: bob.delete_bookmark_folder(cy_folder),
        lambda: bob.delete_bookmark("a2", user_id="cy", folder_id=cy_folder),
    ):
        with pytest.raises(AuthError) as refused:
            attempt()
        assert refused.value.status == 403
    # a user reads only its own bookmarks and folders
    assert [b["user"]["id"] for b in bob.query_bookmarks()["bookmarks"]] == ["bob"]
    assert [f["name"] for f in bob.query_bookmark_folders()["bookmark_folders"]] == ["Bob's"]
    bob.close()


def test_deleting_a_folder_keeps_its_bookmarks_in_no_folder(client: feedkit.Client) -> None:
    folder = client.add_bookmark("a1", user_id="bob", new_folder={"name": "F"})["folder"]["id"]
    client.add_bookmark("a2", user_id="bob", folder_id=folder)
    client.add_bookmark("a2", user_id="bob")  # also outside any folder: the two merge
    client.delete_bookmark_folder(folder)
    left = client.query_bookmarks(user_id="bob")["bookmarks"]
    assert sorted(b["activity_id"] for b in left) == ["a1", "a2"]
    assert all("folder" not in b for b in left)
    assert client.query_bookmark_folders()["bookmark_folders"] == []


def test_a_hard_delete_removes_the_activitys_bookmarks(client: feedkit.Client) -> None:
    client.add_bookmark("a1", user_id="bob")
    client.add_bookmark("b1", user_id="bob")
    client.delete_activity("a1")  # soft: the bookmark stays
    assert len(client.query_bookmarks(user_id="bob")["bookmarks"]) == 2
    client.delete_activity("a1", hard_delete=True)
    left = client.query_bookmarks(user_id="bob")["bookmarks"]
    assert [b["activity_id"] for b in left] == ["b1"]


def test_a_store_of_the_layout_before_bookmarks_opens_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as c:
        c.add_activity(id="a1", type="post", feeds=["user:ann"], user_id="ann")
    with sqlite3.connect(path) as db:  # back to the tables the store had before bookmarks
        for table in ("bookmarks", "bookmark_folders", "pins"):
            db.execute(f"DROP TABLE {table}")
    with feedkit.connect(path) as c:
        assert c.get_activity("a1").bookmark_count == 0
        c.add_bookmark("a1", user_id="bob", new_folder={"name": "F"})
    with feedkit.connect(path) as c:  # opened again: the bookmark is still there
        (kept,) = c.query_bookmarks()["bookmarks"]
        assert (kept["activity_id"], kept["folder"]["name"]) == ("a1", "F")


@settings(max_examples=60, deadline=None)
@given(
    name=st.one_of(st.none(), st.text(max_size=MAX_FOLDER_NAME + 5), st.integers()),
    custom=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.integers()), st.text()),
)
def test_folder_validation_agrees_with_the_declared_limits(name: object, custom: object) -> None:
    errors = {e.field for e in validate_folder({"name": name, "custom": custom}, "", new=True)}
    name_ok = isinstance(name, str) and name.strip() and len(name) <= MAX_FOLDER_NAME
    assert ("name" in errors) == (not name_ok)
    assert ("custom" in errors) == (custom is not None and not isinstance(custom, dict))
    moved = validate_bookmark({"new_folder": {"name": name}, "new_folder_id": "f"}, update=True)
    assert "new_folder" in {e.field for e in moved}
