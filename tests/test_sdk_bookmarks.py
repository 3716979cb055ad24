"""Bookmarks through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``:
AddBookmark, UpdateBookmark, DeleteBookmark, QueryBookmarks and the folder operations, the
data sent coming back field for field, and bookmark_count / own_bookmarks on the activity."""

from __future__ import annotations

from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import AddFolderRequest, SortParamRequest


def _posts(sdk: Stream) -> None:
    for aid, author in [("p1", "ann"), ("p2", "ann"), ("p3", "bob")]:
        sdk.feeds.add_activity(type="post", feeds=[f"user:{author}"], id=aid, user_id=author,
                               text=f"text of {aid}")  # fmt: skip


def test_add_bookmark_into_a_new_folder_answers_what_was_sent(sdk_client: Stream) -> None:
    _posts(sdk_client)
    bookmark = sdk_client.feeds.add_bookmark(
        activity_id="p1", user_id="bob", custom={"note": "read later"},
        new_folder=AddFolderRequest(name="Reading", custom={"icon": "book"}),
    ).data.bookmark  # fmt: skip
    assert (bookmark.object_type, bookmark.object_id, bookmark.activity_id) == (
        "activity", "p1", "p1")  # fmt: skip
    assert bookmark.custom == {"note": "read later"}
    assert bookmark.user.id == "bob"
    assert (bookmark.activity.id, bookmark.activity.text) == ("p1", "text of p1")
    assert bookmark.activity.bookmark_count == 1
    folder = bookmark.folder
    assert folder is not None
    assert (folder.name, folder.custom, folder.user.id) == ("Reading", {"icon": "book"}, "bob")
    assert bookmark.created_at == bookmark.updated_at and folder.created_at <= bookmark.created_at


def test_add_bookmark_into_an_existing_folder_and_outside_any(sdk_client: Stream) -> None:
    _posts(sdk_client)
    first = sdk_client.feeds.add_bookmark(
        activity_id="p1", user_id="bob", new_folder=AddFolderRequest(name="Keep")
    ).data.bookmark
    assert first.folder is not None
    second = sdk_client.feeds.add_bookmark(
        activity_id="p2", user_id="bob", folder_id=first.folder.id
    ).data.bookmark
    assert second.folder is not None and second.folder.id == first.folder.id
    loose = sdk_client.feeds.add_bookmark(activity_id="p1", user_id="bob").data.bookmark
    assert loose.folder is None and loose.activity.bookmark_count == 2
    with pytest.raises(StreamApiException) as again:  # the same bookmark twice
        sdk_client.feeds.add_bookmark(activity_id="p1", user_id="bob")
    assert again.value.status_code == 400
    with pytest.raises(StreamApiException) as missing:
        sdk_client.feeds.add_bookmark(activity_id="p1", user_id="bob", folder_id="nope")
    assert missing.value.status_code == 404


def test_bookmark_count_and_own_bookmarks_on_the_activity(sdk_client: Stream) -> None:
    _posts(sdk_client)
    sdk_client.feeds.add_bookmark(activity_id="p1", user_id="bob", custom={"k": 1},
                                  new_folder=AddFolderRequest(name="F"))  # fmt: skip
    sdk_client.feeds.add_bookmark(activity_id="p1", user_id="cy")
    as_bob = sdk_client.feeds.get_activity(id="p1", user_id="bob").data.activity
    assert as_bob.bookmark_count == 2
    (own,) = as_bob.own_bookmarks
    assert (own.user.id, own.custom, own.activity.id) == ("bob", {"k": 1}, "p1")
    assert own.folder is not None and own.folder.name == "F"
    assert sdk_client.feeds.get_activity(id="p1").data.activity.own_bookmarks == []
    page = sdk_client.feeds.feed("user", "ann").get_or_create(user_id="cy").data
    counts = {a.id: (a.bookmark_count, len(a.own_bookmarks)) for a in page.activities}
    assert counts == {"p1": (2, 1), "p2": (0, 0)}


def test_update_bookmark_moves_it_and_changes_custom(sdk_client: Stream) -> None:
    _posts(sdk_client)
    added = sdk_client.feeds.add_bookmark(
        activity_id="p1", user_id="bob", new_folder=AddFolderRequest(name="A")
    ).data.bookmark
    assert added.folder is not None
    target = sdk_client.feeds.add_bookmark(
        activity_id="p2", user_id="bob", new_folder=AddFolderRequest(name="B")
    ).data.bookmark.folder
    assert target is not None
    moved = sdk_client.feeds.update_bookmark(
        activity_id="p1", user_id="bob", folder_id=added.folder.id, new_folder_id=target.id,
        custom={"moved": True},
    ).data.bookmark  # fmt: skip
    assert moved.folder is not None and moved.folder.id == target.id
    assert moved.custom == {"moved": True}
    assert moved.created_at == added.created_at and moved.updated_at > added.updated_at
    into_new = sdk_client.feeds.update_bookmark(
        activity_id="p1", user_id="bob", folder_id=target.id,
        new_folder=AddFolderRequest(name="C", custom={"c": 3}),
    ).data.bookmark  # fmt: skip
    assert into_new.folder is not None
    assert (into_new.folder.name, into_new.folder.custom) == ("C", {"c": 3})
    out = sdk_client.feeds.update_bookmark(
        activity_id="p1", user_id="bob", folder_id=into_new.folder.id, new_folder_id=""
    ).data.bookmark
    assert out.folder is None and out.custom == {"moved": True}
    with pytest.raises(StreamApiException) as gone:  # no longer in that folder
        sdk_client.feeds.update_bookmark(activity_id="p1", user_id="bob",
                                         folder_id=into_new.folder.id, custom={})  # fmt: skip
    assert gone.value.status_code == 404


def test_delete_bookmark_answers_the_bookmark_that_was(sdk_client: Stream) -> None:
    _posts(sdk_client)
    added = sdk_client.feeds.add_bookmark(
        activity_id="p3", user_id="ann", new_folder=AddFolderRequest(name="X"), custom={"v": 1}
    ).data.bookmark
    assert added.folder is not None
    with pytest.raises(StreamApiException) as outside:  # it is in a folder, not outside
        sdk_client.feeds.delete_bookmark(activity_id="p3", user_id="ann")
    assert outside.value.status_code == 404
    deleted = sdk_client.feeds.delete_bookmark(
        activity_id="p3", folder_id=added.folder.id, user_id="ann"
    ).data.bookmark
    assert (deleted.custom, deleted.activity.id) == ({"v": 1}, "p3")
    assert deleted.activity.bookmark_count == 0
    assert sdk_client.feeds.query_bookmarks(user_id="ann").data.bookmarks == []


def test_query_bookmarks_filters_sorts_and_pages(sdk_client: Stream) -> None:
    _posts(sdk_client)
    folder = sdk_client.feeds.add_bookmark(
        activity_id="p1", user_id="bob", new_folder=AddFolderRequest(name="F")
    ).data.bookmark.folder
    assert folder is not None
    sdk_client.feeds.add_bookmark(activity_id="p2", user_id="bob")
    sdk_client.feeds.add_bookmark(activity_id="p3", user_id="bob")
    sdk_client.feeds.add_bookmark(activity_id="p3", user_id="ann")

    def ids(**options: Any) -> tuple[list[tuple[str, str]], str | None]:
        data = sdk_client.feeds.query_bookmarks(**options).data
        return [(b.user.id, b.activity_id or "") for b in data.bookmarks], data.next

    assert ids(filter={"user_id": "bob"})[0] == [("bob", "p3"), ("bob", "p2"), ("bob", "p1")]
    assert ids(filter={"activity_id": {"$in": ["p3"]}})[0] == [("ann", "p3"), ("bob", "p3")]
    assert ids(filter={"folder_id": folder.id})[0] == [("bob", "p1")]
    assert ids(filter={"folder_id": {"$exists": False}, "user_id": "bob"})[0] == [
        ("bob", "p3"), ("bob", "p2")]  # fmt: skip
    assert ids(user_id="ann")[0] == [("ann", "p3")]  # a named user reads only theirs
    oldest = [SortParamRequest(field="created_at", direction=1)]
    first, cursor = ids(filter={"user_id": "bob"}, sort=oldest, limit=2)
    assert first == [("bob", "p1"), ("bob", "p2")] and cursor
    rest, end = ids(filter={"user_id": "bob"}, sort=oldest, limit=2, next=cursor)
    assert rest == [("bob", "p3")] and end is None
    with pytest.raises(StreamApiException) as bad:
        sdk_client.feeds.query_bookmarks(filter={"color": "red"})
    assert bad.value.status_code == 400


def test_bookmark_folders_query_update_and_delete(sdk_client: Stream) -> None:
    _posts(sdk_client)
    made = {}
    for user, name in [("bob", "Recipes"), ("bob", "Travel plans"), ("ann", "Work")]:
        folder = sdk_client.feeds.add_bookmark(
            activity_id="p1", user_id=user, new_folder=AddFolderRequest(name=name)
        ).data.bookmark.folder
        assert folder is not None
        made[name] = folder

    def names(**options: Any) -> list[str]:
        data = sdk_client.feeds.query_bookmark_folders(**options).data
        return [f.name for f in data.bookmark_folders]

    assert names() == ["Work", "Travel plans", "Recipes"]
    assert names(filter={"user_id": "bob"}) == ["Travel plans", "Recipes"]
    assert names(filter={"folder_name": {"$contains": "PLAN"}}) == ["Travel plans"]
    assert names(filter={"folder_id": made["Work"].id}) == ["Work"]
    assert names(sort=[SortParamRequest(field="created_at", direction=1)], limit=1) == ["Recipes"]

    updated = sdk_client.feeds.update_bookmark_folder(
        folder_id=made["Recipes"].id, name="Cooking", custom={"emoji": "pan"}, user_id="bob"
    ).data.bookmark_folder
    assert (updated.id, updated.name, updated.custom) == (made["Recipes"].id, "Cooking",
                                                          {"emoji": "pan"})  # fmt: skip
    assert updated.user.id == "bob" and updated.updated_at > made["Recipes"].updated_at
    with pytest.raises(StreamApiException) as other:  # a folder is its owner's
        sdk_client.feeds.update_bookmark_folder(folder_id=made["Work"].id, name="Mine",
                                                user_id="bob")  # fmt: skip
    assert other.value.status_code == 403

    sdk_client.feeds.delete_bookmark_folder(folder_id=made["Travel plans"].id)
    assert names(filter={"user_id": "bob"}) == ["Cooking"]
    kept = sdk_client.feeds.query_bookmarks(user_id="bob").data.bookmarks
    assert sorted((b.folder.name if b.folder else None) or "" for b in kept) == ["", "Cooking"]
    with pytest.raises(StreamApiException) as gone:
        sdk_client.feeds.delete_bookmark_folder(folder_id=made["Travel plans"].id)
    assert gone.value.status_code == 404
