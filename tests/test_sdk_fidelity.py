"""The official SDK (getstream==7.0.0, unmodified) against the embedded feedkit server.

Every activity example of the product docs (the ``sdk_call`` of golden lines 1-19) is made here
verbatim through the SDK; each write is followed by a second, independent read
(``client.feeds.get_activity``) whose result is compared field by field with what was sent.
The same activity is then read through feedkit's own client as a raw JSON dict.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from getstream import Stream
from getstream.exceptions import StreamApiException
from getstream.models import (
    ActivityRequest,
    Attachment,
    Location,
    SortParamRequest,
    UpdateActivityPartialChangeRequest,
    UserRequest,
)

if TYPE_CHECKING:
    from conftest import LiveServer

# Timestamps must come back as real instants near "now", never 1970 (float seconds read as
# nanoseconds) and never naive.
CLOCK_SLACK = timedelta(minutes=2)
EXPIRES_2030 = datetime(2030, 1, 1, tzinfo=UTC)
EXPIRES_2031 = datetime(2031, 1, 1, tzinfo=UTC)
NS_2030 = 1_893_456_000 * 10**9


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def client(sdk_client: Stream) -> Stream:
    return sdk_client


@pytest.fixture
def t0() -> datetime:
    return datetime.now(UTC)


def get_act(client: Stream, activity_id: str) -> Any:
    """Second read, through the SDK, of one activity."""
    resp = client.feeds.get_activity(activity_id)
    assert resp.status_code() < 399
    act = resp.data.activity
    assert act is not None, "GetActivityResponse.activity missing"
    assert act.id == activity_id
    return act


def assert_sane_time(value: Any, t0: datetime, what: str) -> None:
    assert isinstance(value, datetime), f"{what} is not a datetime: {value!r}"
    assert value.tzinfo is not None, f"{what} is naive: {value!r}"
    assert value.year > 2000, f"{what} is not a real instant (1970?): {value!r}"
    now = datetime.now(UTC)
    assert t0 - CLOCK_SLACK <= value <= now + CLOCK_SLACK, (
        f"{what}={value.isoformat()} is not between test start {t0.isoformat()} and now"
    )


def assert_api_error(exc: pytest.ExceptionInfo[StreamApiException], status: int) -> None:
    err = exc.value
    assert type(err) is not KeyError
    assert err.status_code == status, f"expected HTTP {status}, got {err.status_code}: {err}"
    # api_error is only set when the body parsed as a complete APIError envelope
    assert err.api_error is not None, f"error body is not a full APIError: {err.raw_response_body}"
    assert err.api_error.status_code == status, "StatusCode in the body differs from HTTP status"
    assert isinstance(err.code, int)
    assert err.message, "error message is empty"


def names_field(exception_fields: dict[str, str], name: str) -> bool:
    return any(
        k == name
        or k.startswith((f"{name}.", f"{name}["))
        or k.endswith(f".{name}")
        or f".{name}[" in k
        for k in exception_fields
    )


def assert_missing(client: Stream, activity_id: str) -> None:
    with pytest.raises(StreamApiException) as exc:
        client.feeds.get_activity(activity_id)
    assert_api_error(exc, 404)


def assert_default_read_shape(act: Any) -> None:
    """Fields an activity always carries, with the empty values of a fresh activity."""
    assert act.comments == []
    assert act.latest_reactions == []
    assert act.own_bookmarks == []
    assert act.own_reactions == []
    assert act.reaction_groups == {}
    assert act.collections == {}
    assert act.bookmark_count == 0
    assert act.comment_count == 0
    assert act.reaction_count == 0
    assert act.share_count == 0
    assert act.hidden is False
    assert act.preview is False
    assert act.deleted_at is None


def seed_users(client: Stream) -> Any:
    """Docs example (golden line 1), verbatim."""
    return client.upsert_users(
        UserRequest(id="alice", name="Alice"),
        UserRequest(id="bob", name="Bob", custom={"tier": "gold"}),
    )


def add_parent(client: Stream) -> None:
    client.feeds.add_activity(
        type="post", feeds=["user:alice"], id="parent-1", text="parent", user_id="alice"
    )


def add_all_fields(client: Stream) -> Any:
    """Docs example (golden line 5), verbatim, after its prerequisites (users, parent)."""
    seed_users(client)
    add_parent(client)
    return client.feeds.add_activity(
        type="post",
        feeds=["user:alice", "timeline:alice"],
        id="act-explicit-1",
        text="@bob see #tag",
        user_id="alice",
        visibility="tag",
        visibility_tag="premium",
        restrict_replies="people_i_follow",
        expires_at="2030-01-01T00:00:00Z",
        filter_tags=["news"],
        interest_tags=["sports"],
        mentioned_user_ids=["bob"],
        search_data={"k": "v"},
        location=Location(lat=52.37, lng=4.89),
        parent_id="parent-1",
        skip_push=True,
        create_notification_activity=True,
    )


def assert_all_fields(act: Any, t0: datetime) -> None:
    assert act.id == "act-explicit-1"
    assert act.type == "post"
    assert act.feeds == ["user:alice", "timeline:alice"]
    assert act.text == "@bob see #tag"
    assert act.user.id == "alice"
    assert act.visibility == "tag"
    assert act.visibility_tag == "premium"
    assert act.restrict_replies == "people_i_follow"
    assert act.expires_at == EXPIRES_2030
    assert act.expires_at.tzinfo is not None
    assert act.filter_tags == ["news"]
    assert act.interest_tags == ["sports"]
    assert [u.id for u in act.mentioned_users] == ["bob"]
    assert act.search_data == {"k": "v"}
    assert act.location == Location(lat=52.37, lng=4.89)
    assert act.attachments == []
    assert act.custom == {}
    assert_sane_time(act.created_at, t0, "created_at")
    assert_sane_time(act.updated_at, t0, "updated_at")
    assert act.updated_at >= act.created_at
    assert_default_read_shape(act)


@pytest.fixture
def feedkit_client(live_server: LiveServer) -> Iterator[Any]:
    import feedkit

    fk = feedkit.connect(
        base_url=live_server.base_url,
        api_key=live_server.api_key,
        api_secret=live_server.api_secret,
    )
    try:
        yield fk
    finally:
        close = getattr(fk, "close", None)
        if callable(close):
            close()


def ns_of(dt: datetime) -> float:
    return dt.timestamp() * 1e9


# --------------------------------------------------------------------------------------------
# users
# --------------------------------------------------------------------------------------------


def test_upsert_users_docs_example(client: Stream, t0: datetime) -> None:
    resp = seed_users(client)
    assert resp.status_code() < 399
    users = resp.data.users
    assert set(users) == {"alice", "bob"}
    assert users["alice"].id == "alice"
    assert users["alice"].name == "Alice"
    assert users["bob"].name == "Bob"
    assert users["bob"].custom == {"tier": "gold"}
    assert users["alice"].custom == {}
    for u in users.values():
        assert u.role == "user"
        assert u.banned is False
        assert_sane_time(u.created_at, t0, f"user {u.id} created_at")
        assert_sane_time(u.updated_at, t0, f"user {u.id} updated_at")


def test_activity_user_reflects_upserted_user(client: Stream) -> None:
    # user upserted before the activity is written
    seed_users(client)
    act_id = client.feeds.add_activity(
        type="post", feeds=["user:bob"], text="hi", user_id="bob"
    ).data.activity.id
    act = get_act(client, act_id)
    assert act.user.id == "bob"
    assert act.user.name == "Bob"
    assert act.user.custom == {"tier": "gold"}
    assert act.user.role == "user"

    # user changed after the activity was written: reads show the current user
    client.upsert_users(UserRequest(id="bob", name="Robert", custom={"tier": "platinum"}))
    act = get_act(client, act_id)
    assert act.user.name == "Robert"
    assert act.user.custom == {"tier": "platinum"}

    # mentioned users are full, current user objects too
    add_all_fields(client)  # upserts bob back to "Bob"/gold
    act = get_act(client, "act-explicit-1")
    assert [(u.id, u.name, u.custom) for u in act.mentioned_users] == [
        ("bob", "Bob", {"tier": "gold"})
    ]
    assert act.user.name == "Alice"


# --------------------------------------------------------------------------------------------
# add / upsert
# --------------------------------------------------------------------------------------------


def test_add_post_with_custom_data(client: Stream, t0: datetime) -> None:
    resp = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        text="Hello world",
        user_id="alice",
        custom={"color": "blue", "n": 1},
    )
    assert resp.status_code() < 399
    created = resp.data.activity
    uuid.UUID(created.id)  # generated id is a uuid
    assert created.text == "Hello world"

    act = get_act(client, created.id)
    assert act.type == "post"
    assert act.feeds == ["user:alice"]
    assert act.text == "Hello world"
    assert act.custom == {"color": "blue", "n": 1}
    assert act.user.id == "alice"
    assert act.visibility == "public"
    assert act.visibility_tag is None
    assert act.restrict_replies == "everyone"
    assert act.attachments == []
    assert act.filter_tags == []
    assert act.interest_tags == []
    assert act.mentioned_users == []
    assert act.search_data == {}
    assert act.location is None
    assert act.expires_at is None
    assert_sane_time(act.created_at, t0, "created_at")
    assert act.created_at == created.created_at
    assert_default_read_shape(act)


def test_add_video_with_attachment(client: Stream, t0: datetime) -> None:
    resp = client.feeds.add_activity(
        type="video",
        feeds=["user:alice"],
        text="Check out this video",
        user_id="alice",
        attachments=[
            Attachment(
                custom={"duration": 120},
                asset_url="https://example.com/v.mp4",
                type="video",
                title="My video",
            )
        ],
        custom={"video_quality": "4K", "duration_seconds": 120},
    )
    assert resp.status_code() < 399
    act = get_act(client, resp.data.activity.id)
    assert act.type == "video"
    assert act.feeds == ["user:alice"]
    assert act.text == "Check out this video"
    assert act.user.id == "alice"
    assert act.custom == {"video_quality": "4K", "duration_seconds": 120}
    assert act.attachments == [
        Attachment(
            custom={"duration": 120},
            asset_url="https://example.com/v.mp4",
            type="video",
            title="My video",
        )
    ]
    assert act.attachments[0].custom == {"duration": 120}
    assert_sane_time(act.created_at, t0, "created_at")


def test_add_activity_all_fields(client: Stream, t0: datetime) -> None:
    resp = add_all_fields(client)
    assert resp.status_code() < 399
    assert_all_fields(resp.data.activity, t0)
    assert_all_fields(get_act(client, "act-explicit-1"), t0)


def test_parent_id_reads_back_as_parent_activity(client: Stream) -> None:
    add_all_fields(client)
    act = get_act(client, "act-explicit-1")
    assert act.parent is not None, "parent_id was sent but the read has no `parent`"
    assert act.parent.id == "parent-1"
    assert act.parent.text == "parent"


def test_add_activity_is_upsert_by_id(client: Stream) -> None:
    for text in ("v1", "v2"):
        client.feeds.add_activity(
            type="post", feeds=["user:alice"], id="same-id", text=text, user_id="alice"
        )
    assert get_act(client, "same-id").text == "v2"
    found = client.feeds.query_activities(filter={"id": "same-id"}).data.activities
    assert [a.id for a in found] == ["same-id"]


def test_get_activity_with_odd_id_and_params(client: Stream) -> None:
    odd = "act/with:odd chars"
    client.feeds.add_activity(
        type="post", feeds=["user:alice"], id=odd, text="odd", user_id="alice"
    )
    # docs example (golden line 8), verbatim
    resp = client.feeds.get_activity(odd, comment_limit=5, comment_sort="popular", user_id="alice")
    assert resp.status_code() < 399
    assert resp.data.activity.id == odd  # decoded, not "act%2Fwith%3Aodd%20chars"
    assert resp.data.activity.text == "odd"


def test_upsert_activities_batch(client: Stream, t0: datetime) -> None:
    resp = client.feeds.upsert_activities(
        activities=[
            ActivityRequest(
                type="post", feeds=["user:alice"], text="first", user_id="alice", id="batch-1"
            ),
            ActivityRequest(
                type="post", feeds=["user:bob"], text="second", user_id="bob", custom={"k": 2}
            ),
        ]
    )
    assert resp.status_code() < 399
    acts = resp.data.activities
    assert len(acts) == 2
    assert acts[0].id == "batch-1"
    uuid.UUID(acts[1].id)

    first = get_act(client, "batch-1")
    assert (first.type, first.feeds, first.text, first.user.id, first.custom) == (
        "post",
        ["user:alice"],
        "first",
        "alice",
        {},
    )
    second = get_act(client, acts[1].id)
    assert (second.type, second.feeds, second.text, second.user.id, second.custom) == (
        "post",
        ["user:bob"],
        "second",
        "bob",
        {"k": 2},
    )
    for act in (first, second):
        assert_sane_time(act.created_at, t0, "created_at")


# --------------------------------------------------------------------------------------------
# updates
# --------------------------------------------------------------------------------------------


def test_update_activity_full_clears_omitted_fields(client: Stream, t0: datetime) -> None:
    add_all_fields(client)
    before = get_act(client, "act-explicit-1")

    # docs example (golden line 9), verbatim
    resp = client.feeds.update_activity(
        "act-explicit-1",
        text="edited text",
        user_id="alice",
        custom={"color": "red"},
        expires_at=datetime(2031, 1, 1, tzinfo=UTC),
    )
    assert resp.status_code() < 399
    assert resp.data.activity.text == "edited text"

    act = get_act(client, "act-explicit-1")
    assert act.text == "edited text"
    assert act.custom == {"color": "red"}
    assert act.expires_at == EXPIRES_2031
    assert act.expires_at.tzinfo is not None
    # "This is a full update - any fields not provided will be cleared."
    assert act.filter_tags == []
    assert act.interest_tags == []
    assert act.mentioned_users == []
    assert act.search_data == {}
    assert act.location is None
    assert act.attachments == []
    assert act.visibility_tag is None
    assert act.visibility == "public"
    assert act.restrict_replies == "everyone"
    # not part of the update request / cannot be empty: unchanged
    assert act.type == "post"
    assert act.user.id == "alice"
    assert act.feeds == ["user:alice", "timeline:alice"]
    assert act.created_at == before.created_at
    assert act.updated_at >= before.updated_at
    assert_sane_time(act.updated_at, t0, "updated_at")


def test_update_activity_partial_set_and_unset(client: Stream, t0: datetime) -> None:
    add_all_fields(client)
    before = get_act(client, "act-explicit-1")

    # docs example (golden line 10), verbatim
    resp = client.feeds.update_activity_partial(
        "act-explicit-1",
        user_id="alice",
        set={
            "text": "partially edited",
            "custom": {"color": "green", "size": 3},
            "custom.mood": "happy",
        },
    )
    assert resp.status_code() < 399
    assert resp.data.activity.text == "partially edited"

    act = get_act(client, "act-explicit-1")
    assert act.text == "partially edited"
    # `custom` replaced wholesale, and the dotted key applied on top of it
    assert act.custom == {"color": "green", "size": 3, "mood": "happy"}
    # everything not named in `set` is untouched
    assert act.visibility == "tag"
    assert act.visibility_tag == "premium"
    assert act.restrict_replies == "people_i_follow"
    assert act.filter_tags == ["news"]
    assert act.interest_tags == ["sports"]
    assert act.search_data == {"k": "v"}
    assert act.location == Location(lat=52.37, lng=4.89)
    assert act.expires_at == EXPIRES_2030
    assert [u.id for u in act.mentioned_users] == ["bob"]
    assert act.feeds == ["user:alice", "timeline:alice"]
    assert act.created_at == before.created_at
    assert_sane_time(act.updated_at, t0, "updated_at")

    # docs example (golden line 11), verbatim
    resp = client.feeds.update_activity_partial(
        "act-explicit-1", user_id="alice", unset=["custom.color"]
    )
    assert resp.status_code() < 399
    act = get_act(client, "act-explicit-1")
    assert act.custom == {"size": 3, "mood": "happy"}
    assert act.text == "partially edited"
    assert act.visibility_tag == "premium"


def test_partial_dotted_paths_keep_untouched_custom_keys(client: Stream) -> None:
    act_id = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        text="keep me",
        user_id="alice",
        custom={"a": 1, "b": {"x": 1}, "c": "three"},
        filter_tags=["f"],
    ).data.activity.id

    client.feeds.update_activity_partial(
        act_id, user_id="alice", set={"custom.a": 2, "custom.d": True}
    )
    act = get_act(client, act_id)
    assert act.custom == {"a": 2, "b": {"x": 1}, "c": "three", "d": True}
    assert act.text == "keep me"
    assert act.filter_tags == ["f"]

    client.feeds.update_activity_partial(act_id, user_id="alice", unset=["custom.c", "filter_tags"])
    act = get_act(client, act_id)
    assert act.custom == {"a": 2, "b": {"x": 1}, "d": True}
    assert act.filter_tags == []
    assert act.text == "keep me"

    client.feeds.update_activity_partial(
        act_id, user_id="alice", set={"expires_at": "2030-01-01T00:00:00Z", "visibility": "private"}
    )
    act = get_act(client, act_id)
    assert act.expires_at == EXPIRES_2030
    assert act.visibility == "private"
    client.feeds.update_activity_partial(act_id, user_id="alice", unset=["expires_at"])
    assert get_act(client, act_id).expires_at is None


def test_update_activities_partial_batch(client: Stream) -> None:
    a1 = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        id="a1",
        text="t0",
        user_id="alice",
        custom={"color": "blue", "n": 1},
    ).data.activity.id
    a2 = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        id="a2",
        text="u0",
        user_id="alice",
        custom={"color": "red", "n": 2},
    ).data.activity.id

    resp = client.feeds.update_activities_partial_batch(
        changes=[
            UpdateActivityPartialChangeRequest(activity_id="a1", set={"text": "t1"}),
            UpdateActivityPartialChangeRequest(activity_id="a2", unset=["custom.color"]),
        ]
    )
    assert resp.status_code() < 399
    assert sorted(a.id for a in resp.data.activities) == ["a1", "a2"]

    first = get_act(client, a1)
    assert first.text == "t1"
    assert first.custom == {"color": "blue", "n": 1}
    second = get_act(client, a2)
    assert second.text == "u0"
    assert second.custom == {"n": 2}


# --------------------------------------------------------------------------------------------
# deletes and restore
# --------------------------------------------------------------------------------------------


def test_soft_delete_then_hard_delete(client: Stream) -> None:
    add_all_fields(client)

    # docs example (golden line 14), verbatim
    resp = client.feeds.delete_activity("act-explicit-1")
    assert resp.status_code() < 399
    assert_missing(client, "act-explicit-1")
    listed = client.feeds.query_activities(filter={"user_id": "alice"}).data.activities
    assert "act-explicit-1" not in [a.id for a in listed]
    feed = client.feeds.feed("user", "alice").get_or_create(user_id="alice").data
    assert "act-explicit-1" not in [a.id for a in feed.activities]

    # docs example (golden line 15), verbatim: purges the soft-deleted activity
    resp = client.feeds.delete_activity(
        "act-explicit-1", hard_delete=True, delete_notification_activity=False
    )
    assert resp.status_code() < 399
    assert_missing(client, "act-explicit-1")
    with pytest.raises(StreamApiException) as exc:
        client.feeds.restore_activity("act-explicit-1", user_id="alice")
    assert_api_error(exc, 404)
    # unrelated activity untouched
    assert get_act(client, "parent-1").text == "parent"


def test_hard_delete_live_activity(client: Stream) -> None:
    act_id = client.feeds.add_activity(
        type="post", feeds=["user:alice"], text="bye", user_id="alice"
    ).data.activity.id
    client.feeds.delete_activity(act_id, hard_delete=True)
    assert_missing(client, act_id)
    with pytest.raises(StreamApiException) as exc:
        client.feeds.restore_activity(act_id, user_id="alice")
    assert_api_error(exc, 404)


def test_restore_after_soft_delete(client: Stream, t0: datetime) -> None:
    resp = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        id="a1",
        text="come back",
        user_id="alice",
        custom={"color": "blue"},
        filter_tags=["news"],
    )
    original = resp.data.activity
    client.feeds.delete_activity("a1")
    assert_missing(client, "a1")

    # golden line 21, verbatim
    resp = client.feeds.restore_activity("a1", user_id="alice")
    assert resp.status_code() < 399
    assert resp.data.activity.id == "a1"
    assert resp.data.activity.deleted_at is None

    act = get_act(client, "a1")
    assert act.text == "come back"
    assert act.custom == {"color": "blue"}
    assert act.filter_tags == ["news"]
    assert act.feeds == ["user:alice"]
    assert act.user.id == "alice"
    assert act.deleted_at is None
    assert act.created_at == original.created_at
    assert_sane_time(act.created_at, t0, "created_at")
    feed = client.feeds.feed("user", "alice").get_or_create(user_id="alice").data
    assert "a1" in [a.id for a in feed.activities]


def test_delete_activities_batch(client: Stream) -> None:
    client.feeds.upsert_activities(
        activities=[
            ActivityRequest(type="post", feeds=["user:alice"], text=t, user_id="alice", id=t)
            for t in ("batch-1", "batch-2", "batch-3")
        ]
    )
    # docs example (golden line 16), verbatim
    resp = client.feeds.delete_activities(
        ids=["batch-1", "batch-2"], hard_delete=True, user_id="alice"
    )
    assert resp.status_code() < 399
    assert sorted(resp.data.deleted_ids) == ["batch-1", "batch-2"]
    assert_missing(client, "batch-1")
    assert_missing(client, "batch-2")
    assert get_act(client, "batch-3").text == "batch-3"


def test_delete_activities_batch_soft_can_be_restored(client: Stream) -> None:
    client.feeds.upsert_activities(
        activities=[
            ActivityRequest(type="post", feeds=["user:alice"], text=t, user_id="alice", id=t)
            for t in ("s-1", "s-2")
        ]
    )
    resp = client.feeds.delete_activities(ids=["s-1", "s-2"], user_id="alice")
    assert sorted(resp.data.deleted_ids) == ["s-1", "s-2"]
    assert_missing(client, "s-1")
    client.feeds.restore_activity("s-1", user_id="alice")
    assert get_act(client, "s-1").text == "s-1"
    assert_missing(client, "s-2")


# --------------------------------------------------------------------------------------------
# feeds, queries, follows
# --------------------------------------------------------------------------------------------


def test_get_or_create_feed_returns_its_activities(client: Stream, t0: datetime) -> None:
    ids = []
    for text in ("one", "two"):
        ids.append(
            client.feeds.add_activity(
                type="post", feeds=["user:alice"], text=text, user_id="alice"
            ).data.activity.id
        )
        time.sleep(0.01)
    client.feeds.add_activity(type="post", feeds=["user:bob"], text="not alice", user_id="bob")

    # docs example (golden line 2), verbatim
    resp = client.feeds.feed("user", "alice").get_or_create(user_id="alice")
    assert resp.status_code() < 399
    data = resp.data
    assert [a.id for a in data.activities] == list(reversed(ids)), "newest first, only user:alice"
    assert [a.text for a in data.activities] == ["two", "one"]
    assert data.feed.feed == "user:alice"
    assert data.feed.group_id == "user"
    assert data.feed.id == "alice"
    assert_sane_time(data.feed.created_at, t0, "feed.created_at")
    assert data.created is False  # add_activity already created the feed


def test_get_or_create_new_feed(client: Stream) -> None:
    feed = client.feeds.feed("user", "zed")
    first = feed.get_or_create(user_id="zed").data
    assert first.created is True
    assert first.activities == []
    assert first.feed.feed == "user:zed"
    again = feed.get_or_create(user_id="zed").data
    assert again.created is False


def test_get_or_create_feed_paginates(client: Stream) -> None:
    ids = [
        client.feeds.add_activity(
            type="post", feeds=["user:alice"], text=f"p{i}", user_id="alice"
        ).data.activity.id
        for i in range(5)
    ]
    newest_first = list(reversed(ids))
    page = client.feeds.get_or_create_feed("user", "alice", user_id="alice", limit=2).data
    assert [a.id for a in page.activities] == newest_first[:2]
    assert page.next
    seen = [a.id for a in page.activities]
    for _ in range(5):
        if not page.next:
            break
        page = client.feeds.get_or_create_feed(
            "user", "alice", user_id="alice", limit=2, next=page.next
        ).data
        seen += [a.id for a in page.activities]
    assert seen == newest_first


def test_query_activities_filter_and_sort(client: Stream) -> None:
    def add(type_: str, user: str, tags: list[str] | None = None) -> str:
        act_id: str = client.feeds.add_activity(
            type=type_,
            feeds=[f"user:{user}"],
            text=f"{type_} by {user}",
            user_id=user,
            filter_tags=tags,
        ).data.activity.id
        time.sleep(0.01)
        return act_id

    p1 = add("post", "alice", ["news"])
    add("video", "alice")
    p2 = add("post", "alice")
    b1 = add("post", "bob", ["news"])
    p3 = add("post", "alice", ["sports"])

    # docs example (golden line 12) without the made-up cursor "cursor-next-abc"
    resp = client.feeds.query_activities(
        filter={"activity_type": "post", "user_id": "alice"},
        sort=[SortParamRequest(field="created_at", direction=-1)],
        limit=10,
    )
    assert resp.status_code() < 399
    assert [a.id for a in resp.data.activities] == [p3, p2, p1]

    asc = client.feeds.query_activities(
        filter={"activity_type": "post", "user_id": "alice"},
        sort=[SortParamRequest(field="created_at", direction=1)],
    ).data.activities
    assert [a.id for a in asc] == [p1, p2, p3]

    by_id = client.feeds.query_activities(
        filter={"id": {"$in": [p1, b1]}},
        sort=[SortParamRequest(field="created_at", direction=1)],
    ).data.activities
    assert [a.id for a in by_id] == [p1, b1]

    tagged = client.feeds.query_activities(
        filter={"filter_tags": {"$in": ["news"]}},
        sort=[SortParamRequest(field="created_at", direction=-1)],
    ).data.activities
    assert [a.id for a in tagged] == [b1, p1]

    in_feed = client.feeds.query_activities(filter={"feed": "user:bob"}).data.activities
    assert [a.id for a in in_feed] == [b1]

    # pagination: a cursor the server issued walks the rest without overlap
    page = client.feeds.query_activities(
        filter={"activity_type": "post", "user_id": "alice"},
        sort=[SortParamRequest(field="created_at", direction=-1)],
        limit=2,
    ).data
    assert [a.id for a in page.activities] == [p3, p2]
    assert page.next
    rest = client.feeds.query_activities(
        filter={"activity_type": "post", "user_id": "alice"},
        sort=[SortParamRequest(field="created_at", direction=-1)],
        limit=2,
        next=page.next,
    ).data
    assert [a.id for a in rest.activities] == [p1]
    assert not rest.next


def make_follow_feeds(client: Stream) -> None:
    seed_users(client)
    client.feeds.feed("timeline", "alice").get_or_create(user_id="alice")
    client.feeds.feed("user", "bob").get_or_create(user_id="bob")


def read_feed(client: Stream, group: str, feed_id: str) -> Any:
    return client.feeds.feed(group, feed_id).get_or_create(user_id=feed_id).data


def test_follow_and_unfollow(client: Stream, t0: datetime) -> None:
    make_follow_feeds(client)
    bob_post = client.feeds.add_activity(
        type="post", feeds=["user:bob"], text="from bob", user_id="bob"
    ).data.activity.id

    # docs example (golden line 17), verbatim
    resp = client.feeds.follow(source="timeline:alice", target="user:bob")
    assert resp.status_code() < 399
    follow = resp.data.follow
    assert follow is not None, "SingleFollowResponse.follow missing"
    assert follow.source_feed.feed == "timeline:alice"
    assert follow.target_feed.feed == "user:bob"
    assert follow.status == "accepted"
    assert_sane_time(follow.created_at, t0, "follow.created_at")

    timeline = read_feed(client, "timeline", "alice")
    assert timeline.feed.following_count == 1
    assert bob_post in [a.id for a in timeline.activities], "followed feed not in timeline"
    assert read_feed(client, "user", "bob").feed.follower_count == 1

    # docs example (golden line 18), verbatim
    resp = client.feeds.unfollow(source="timeline:alice", target="user:bob")
    assert resp.status_code() < 399
    gone = resp.data.follow  # answered with the counts after the unfollow, not before it
    assert gone.source_feed.following_count == 0 and gone.target_feed.follower_count == 0

    timeline = read_feed(client, "timeline", "alice")
    assert timeline.feed.following_count == 0
    assert bob_post not in [a.id for a in timeline.activities]
    assert read_feed(client, "user", "bob").feed.follower_count == 0


def test_unfollow_response_carries_the_follow(client: Stream) -> None:
    make_follow_feeds(client)
    client.feeds.follow(source="timeline:alice", target="user:bob")
    resp = client.feeds.unfollow(source="timeline:alice", target="user:bob")
    assert resp.data.follow is not None, "UnfollowResponse.follow (required) missing"
    assert resp.data.follow.source_feed.feed == "timeline:alice"
    assert resp.data.follow.target_feed.feed == "user:bob"


def test_feed_read_lists_follows(client: Stream) -> None:
    make_follow_feeds(client)
    client.feeds.follow(source="timeline:alice", target="user:bob")
    timeline = read_feed(client, "timeline", "alice")
    assert [(f.source_feed.feed, f.target_feed.feed) for f in timeline.following] == [
        ("timeline:alice", "user:bob")
    ]
    bob = read_feed(client, "user", "bob")
    assert [(f.source_feed.feed, f.target_feed.feed) for f in bob.followers] == [
        ("timeline:alice", "user:bob")
    ]
    client.feeds.unfollow(source="timeline:alice", target="user:bob")
    assert read_feed(client, "timeline", "alice").following == []
    assert read_feed(client, "user", "bob").followers == []


def test_delete_feed(client: Stream) -> None:
    client.feeds.add_activity(type="post", feeds=["user:alice"], text="x", user_id="alice")
    # docs example (golden line 19), verbatim
    resp = client.feeds.feed("user", "alice").delete(hard_delete=True)
    assert resp.status_code() < 399
    again = client.feeds.feed("user", "alice").get_or_create(user_id="alice").data
    assert again.created is True, "the hard-deleted feed still exists"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_missing_activity_is_404_stream_api_exception(client: Stream) -> None:
    assert_missing(client, "does-not-exist")
    with pytest.raises(StreamApiException) as exc:
        client.feeds.update_activity_partial("does-not-exist", user_id="alice", set={"text": "x"})
    assert_api_error(exc, 404)
    with pytest.raises(StreamApiException) as exc:
        client.feeds.update_activity("does-not-exist", text="x", user_id="alice")
    assert_api_error(exc, 404)
    with pytest.raises(StreamApiException) as exc:
        client.feeds.delete_activity("does-not-exist")
    assert_api_error(exc, 404)


BASE: dict[str, Any] = {"type": "post", "feeds": ["user:alice"], "user_id": "alice", "text": "x"}

INVALID_ADDS: list[tuple[str, dict[str, Any], str]] = [
    ("tag_without_visibility_tag", {"visibility": "tag"}, "visibility_tag"),
    ("feed_without_colon", {"feeds": ["nocolon"]}, "feeds"),
    ("no_feeds", {"feeds": []}, "feeds"),
    ("too_many_feeds", {"feeds": [f"user:u{i}" for i in range(26)]}, "feeds"),
    ("bad_visibility", {"visibility": "secret"}, "visibility"),
    ("bad_restrict_replies", {"restrict_replies": "sometimes"}, "restrict_replies"),
    ("lat_too_big", {"location": Location(lat=90.5, lng=0.0)}, "location"),
    ("lat_too_small", {"location": Location(lat=-91.0, lng=0.0)}, "location"),
    ("lng_too_big", {"location": Location(lat=0.0, lng=180.5)}, "location"),
    (
        "visibility_tag_too_long",
        {"visibility": "tag", "visibility_tag": "t" * 33},
        "visibility_tag",
    ),
    ("id_too_long", {"id": "i" * 256}, "id"),
    ("type_too_long", {"type": "t" * 256}, "type"),
    ("too_many_filter_tags", {"filter_tags": [f"t{i}" for i in range(51)]}, "filter_tags"),
    (
        "too_many_mentions",
        {"mentioned_user_ids": [f"u{i}" for i in range(26)]},
        "mentioned_user_ids",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(o, f, id=name) for name, o, f in INVALID_ADDS],
)
def test_invalid_add_activity_is_400_naming_field(
    client: Stream, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(StreamApiException) as exc:
        client.feeds.add_activity(**{**BASE, **overrides})
    assert_api_error(exc, 400)
    fields = exc.value.exception_fields
    assert names_field(fields, field), f"exception_fields {fields!r} do not name {field!r}"


def test_location_bounds_are_inclusive(client: Stream) -> None:
    for lat, lng in ((90.0, 180.0), (-90.0, -180.0)):
        act_id = client.feeds.add_activity(
            **{**BASE, "location": Location(lat=lat, lng=lng)}
        ).data.activity.id
        assert get_act(client, act_id).location == Location(lat=lat, lng=lng)


def test_invalid_batch_sizes_are_400(client: Stream) -> None:
    with pytest.raises(StreamApiException) as exc:
        client.feeds.upsert_activities(
            activities=[
                ActivityRequest(type="post", feeds=["user:alice"], user_id="alice", text=str(i))
                for i in range(101)
            ]
        )
    assert_api_error(exc, 400)
    assert names_field(exc.value.exception_fields, "activities")
    with pytest.raises(StreamApiException) as exc:
        client.feeds.delete_activities(ids=[])
    assert_api_error(exc, 400)
    assert names_field(exc.value.exception_fields, "ids")
    with pytest.raises(StreamApiException) as exc:
        client.feeds.query_activities(limit=101)
    assert_api_error(exc, 400)
    assert names_field(exc.value.exception_fields, "limit")


def test_bad_credentials_are_rejected(live_server: LiveServer) -> None:
    wrong_secret = Stream(
        api_key=live_server.api_key,
        api_secret="not-the-secret-" + "x" * 40,
        base_url=live_server.base_url,
    )
    with pytest.raises(StreamApiException) as exc:
        wrong_secret.feeds.get_activity("anything")
    assert exc.value.status_code in (401, 403)
    assert exc.value.api_error is not None

    wrong_key = Stream(
        api_key="other-key", api_secret=live_server.api_secret, base_url=live_server.base_url
    )
    with pytest.raises(StreamApiException) as exc:
        wrong_key.feeds.get_activity("anything")
    assert exc.value.status_code in (401, 403)
    assert exc.value.api_error is not None


def test_user_token_acts_for_that_user_only(
    live_server: LiveServer, client: Stream, make_user_token: Any
) -> None:
    seed_users(client)
    alice = Stream(
        api_key=live_server.api_key,
        token=make_user_token("alice"),
        base_url=live_server.base_url,
    )
    act_id = alice.feeds.add_activity(
        type="post", feeds=["user:alice"], text="mine", user_id="alice"
    ).data.activity.id
    assert get_act(client, act_id).user.id == "alice"
    assert alice.feeds.get_activity(act_id).data.activity.text == "mine"
    with pytest.raises(StreamApiException) as exc:
        alice.feeds.add_activity(type="post", feeds=["user:bob"], text="not me", user_id="bob")
    assert exc.value.status_code in (401, 403)
    assert exc.value.api_error is not None


# --------------------------------------------------------------------------------------------
# reads through feedkit's own client (raw JSON activity; only ["key"] indexing)
# --------------------------------------------------------------------------------------------


def test_feedkit_client_reads_what_the_sdk_wrote(client: Stream, feedkit_client: Any) -> None:
    post = client.feeds.add_activity(
        type="post",
        feeds=["user:alice"],
        text="Hello world",
        user_id="alice",
        custom={"color": "blue", "n": 1},
    ).data.activity
    add_all_fields(client)
    client.feeds.update_activity_partial(
        "act-explicit-1", user_id="alice", set={"custom.mood": "happy"}
    )
    sdk_view = get_act(client, "act-explicit-1")

    a = feedkit_client.get_activity(post.id)
    assert a["id"] == post.id
    assert a["text"] == "Hello world"
    assert a["type"] == "post"
    assert a["feeds"] == ["user:alice"]
    assert a["custom"] == {"color": "blue", "n": 1}
    assert a["user"]["id"] == "alice"
    assert isinstance(a["created_at"], int) and not isinstance(a["created_at"], bool)
    assert abs(a["created_at"] - ns_of(post.created_at)) < 5_000
    assert a["created_at"] > 946_684_800 * 10**9

    b = feedkit_client.get_activity("act-explicit-1")
    assert b["id"] == "act-explicit-1"
    assert b["text"] == "@bob see #tag"
    assert b["custom"] == {"mood": "happy"}
    assert b["user"]["id"] == "alice"
    assert b["user"]["name"] == "Alice"
    assert b["visibility"] == "tag"
    assert b["visibility_tag"] == "premium"
    assert b["restrict_replies"] == "people_i_follow"
    assert b["filter_tags"] == ["news"]
    assert b["interest_tags"] == ["sports"]
    assert b["search_data"] == {"k": "v"}
    assert b["location"]["lat"] == 52.37
    assert b["location"]["lng"] == 4.89
    assert b["mentioned_users"][0]["id"] == "bob"
    assert b["expires_at"] == NS_2030
    assert isinstance(b["created_at"], int)
    assert abs(b["created_at"] - ns_of(sdk_view.created_at)) < 5_000
    assert b["updated_at"] >= b["created_at"]
