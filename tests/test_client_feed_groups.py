"""Feed groups, feed views and follow requests through feedkit's client on the embedded server
(``feedkit.connect()``): settings checked before sending, answers field for field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import feedkit
from feedkit.schema.feed_group import DEFAULT_FEED_GROUPS


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def test_groups_are_created_read_updated_deleted_and_restored(client: feedkit.Client) -> None:
    assert set(client.list_feed_groups()) == set(DEFAULT_FEED_GROUPS)
    settings = {"default_visibility": "public", "custom": {"k": [1]},
                "aggregation": {"format": "{{ type }}"}}  # fmt: skip
    created = client.create_feed_group("club", **settings)
    assert {k: created[k] for k in settings} == settings
    assert client.get_feed_group("club") == created
    group, was_created = client.get_or_create_feed_group("club", custom={"other": 1})
    assert (group, was_created) == (created, False)
    updated = client.update_feed_group("club", custom={"k": 2})
    assert (updated["custom"], updated["default_visibility"]) == ({"k": 2}, "visible")
    assert "aggregation" not in updated  # replaced whole
    client.delete_feed_group("club")
    assert "club" not in client.list_feed_groups()
    assert "deleted_at" in client.get_feed_group("club", include_soft_deleted=True)
    assert "deleted_at" not in client.restore_feed_group("club")
    with pytest.raises(feedkit.NotFoundError):
        client.get_feed_group("nope")


def test_views_are_created_read_updated_and_deleted(client: feedkit.Client) -> None:
    view = client.create_feed_view("hot", activity_selectors=[{"type": "popular"}])
    assert view == {"id": "hot", "activity_selectors": [{"type": "popular"}]}
    assert client.get_or_create_feed_view("hot") == (view, False)
    assert client.get_or_create_feed_view("new", ranking={"type": "interest"})[1] is True
    assert client.update_feed_view("hot", ranking={"type": "interest"}) == {
        "id": "hot", "ranking": {"type": "interest"}}  # fmt: skip
    client.delete_feed_view("hot")
    assert set(client.list_feed_views()) == {"new"}


def test_settings_are_checked_before_sending(client: feedkit.Client) -> None:
    with pytest.raises(feedkit.ValidationError) as refused:
        client.create_feed_group("x", default_visibility="all", ranking={"score": "1"})
    assert set(refused.value.fields) == {"default_visibility", "ranking.type"}
    with pytest.raises(feedkit.ValidationError, match=r"activity_selectors\[0\]\.cutoff_time"):
        client.create_feed_view("v", activity_selectors=[{"type": "query",
                                                          "cutoff_time": "tomorrow"}])  # fmt: skip
    with pytest.raises(feedkit.ValidationError, match="id"):
        client.create_feed_group("no:colons")


def test_follow_requests_are_accepted_or_rejected(client: feedkit.Client) -> None:
    client.get_or_create_feed("user", "bob", user_id="bob", data={"visibility": "followers"})
    assert client.follow("timeline:ann", "user:bob")["status"] == "pending"
    assert client.follow("timeline:cy", "user:bob")["status"] == "pending"
    accepted = client.accept_follow("timeline:ann", "user:bob", follower_role="fan")
    assert (accepted["status"], accepted["follower_role"]) == ("accepted", "fan")
    rejected = client.reject_follow("timeline:cy", "user:bob")
    assert rejected["status"] == "rejected"
    assert rejected["target_feed"]["follower_count"] == 1
    statuses = {f["source_feed"]["feed"]: f["status"] for f in client.query_follows()["follows"]}
    assert statuses == {"timeline:ann": "accepted", "timeline:cy": "rejected"}
