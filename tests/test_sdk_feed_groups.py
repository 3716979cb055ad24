"""Feed groups and feed views through the official SDK (getstream 7.0.0, unmodified) against
``feedkit serve``: every setting sent comes back field for field, the built-in groups exist,
a soft delete is undone by a restore, and ``--strict-groups`` refuses a feed of an unknown
group as the hosted service does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _serve import new_secret, running, user_token
from getstream import Stream, StreamApiException
from getstream.models import (
    ActivityFilterConfig,
    ActivityMarksConfig,
    ActivityProcessorConfig,
    ActivitySelectorConfig,
    AggregationConfig,
    NotificationConfig,
    PushNotificationConfig,
    RankingConfig,
    SortParamRequest,
    StoriesConfig,
)

from feedkit.schema.feed_group import DEFAULT_FEED_GROUPS

CUTOFF = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SETTINGS: dict[str, Any] = {
    "default_visibility": "followers",
    "default_follower_role": "feed_follower",
    "activity_selectors": [
        ActivitySelectorConfig(
            type="following",
            cutoff_time="2030-01-02T03:04:05Z",
            sort=[SortParamRequest(field="created_at", direction=-1)],
        ),
        ActivitySelectorConfig(
            type="popular", min_popularity=3, cutoff_window="3d", filter={"activity_type": "post"}
        ),
    ],
    "activity_processors": [ActivityProcessorConfig(type="text_interest_tags", min_word_count=4)],
    "activity_filter": ActivityFilterConfig(exclude_owner_activities=True),
    "activity_marks": ActivityMarksConfig(track_read=True, track_seen=False),
    "aggregation": AggregationConfig(
        format="{{ user_id }}", activities_sort="created_at_asc", score_strategy="max"
    ),
    "custom": {"team": "growth", "n": [1, 2]},
    "notification": NotificationConfig(track_read=True, track_seen=True, deduplication_window="1h"),
    "push_notification": PushNotificationConfig(enable_push=True, push_types=["follow"]),
    "ranking": RankingConfig(type="expression", score="popularity * 2", defaults={"popularity": 0}),
    "stories": StoriesConfig(skip_watched=True, track_watched=True),
}


def _sent(value: Any) -> Any:
    """A setting as the answer must carry it: the SDK's own encoding of what it sent."""
    if isinstance(value, list):
        return [_sent(v) for v in value]
    return value.to_dict() if hasattr(value, "to_dict") else value


def _answered(group: Any, name: str) -> Any:
    value = _sent(getattr(group, name))
    if name == "activity_selectors":  # the answer's cutoff_time is a timestamp
        for selector in value:
            selector.pop("cutoff_time", None)
    return value


def _check_settings(group: Any, settings: dict[str, Any]) -> None:
    for name, value in settings.items():
        expected = _sent(value)
        if name == "activity_selectors":
            expected = [{k: v for k, v in s.items() if k != "cutoff_time"} for s in expected]
        assert _answered(group, name) == expected, name


def test_the_built_in_groups_are_listed_with_their_settings(sdk_client: Stream) -> None:
    groups = sdk_client.feeds.list_feed_groups().data.groups
    assert set(groups) == set(DEFAULT_FEED_GROUPS)
    timeline = groups["timeline"]
    assert timeline.default_visibility == "visible"
    assert [s.type for s in timeline.activity_selectors] == ["following"]
    assert groups["notification"].notification.track_seen is True


def test_create_feed_group_answers_every_setting_sent(sdk_client: Stream) -> None:
    created = sdk_client.feeds.create_feed_group(id="deals", **SETTINGS).data.feed_group
    assert created.id == "deals" and created.created_at == created.updated_at
    _check_settings(created, SETTINGS)
    assert created.activity_selectors[0].cutoff_time == CUTOFF
    fetched = sdk_client.feeds.get_feed_group("deals").data.feed_group
    assert fetched.to_dict() == created.to_dict()
    assert "deals" in sdk_client.feeds.list_feed_groups().data.groups
    with pytest.raises(StreamApiException) as again:
        sdk_client.feeds.create_feed_group(id="deals")
    assert again.value.status_code == 400


def test_get_or_create_feed_group_creates_once(sdk_client: Stream) -> None:
    first = sdk_client.feeds.get_or_create_feed_group(
        "promo", default_visibility="public", custom={"v": 1}
    ).data
    assert first.was_created and first.feed_group.custom == {"v": 1}
    second = sdk_client.feeds.get_or_create_feed_group("promo", custom={"v": 2}).data
    assert not second.was_created
    assert (second.feed_group.custom, second.feed_group.default_visibility) == ({"v": 1}, "public")


def test_update_feed_group_replaces_every_setting(sdk_client: Stream) -> None:
    sdk_client.feeds.create_feed_group(id="deals", **SETTINGS)
    updated = sdk_client.feeds.update_feed_group(
        "deals", ranking=RankingConfig(type="interest", score="interest_score")
    ).data.feed_group
    assert (updated.ranking.type, updated.ranking.score) == ("interest", "interest_score")
    assert updated.activity_selectors is None and updated.custom is None  # cleared
    assert updated.default_visibility == "visible"  # the spec's default
    assert updated.updated_at > updated.created_at
    with pytest.raises(StreamApiException) as missing:
        sdk_client.feeds.update_feed_group("nope", custom={})
    assert missing.value.status_code == 404


def test_delete_restore_and_hard_delete_a_feed_group(sdk_client: Stream) -> None:
    sdk_client.feeds.create_feed_group(id="temp", custom={"k": 1})
    sdk_client.feeds.delete_feed_group("temp")
    assert "temp" not in sdk_client.feeds.list_feed_groups().data.groups
    listed = sdk_client.feeds.list_feed_groups(include_soft_deleted=True).data.groups
    assert listed["temp"].deleted_at is not None
    with pytest.raises(StreamApiException):
        sdk_client.feeds.get_feed_group("temp")
    deleted = sdk_client.feeds.get_feed_group("temp", include_soft_deleted=True).data.feed_group
    assert deleted.deleted_at is not None
    with pytest.raises(StreamApiException) as refused:  # a deleted group takes no new feeds
        sdk_client.feeds.add_activity(type="post", feeds=["temp:x"], user_id="ann")
    assert refused.value.status_code == 400 and "temp" in str(refused.value)
    restored = sdk_client.feeds.restore_feed_group("temp").data.feed_group
    assert (restored.deleted_at, restored.custom) == (None, {"k": 1})
    sdk_client.feeds.add_activity(type="post", feeds=["temp:x"], user_id="ann")
    sdk_client.feeds.delete_feed_group("temp", hard_delete=True)
    listed = sdk_client.feeds.list_feed_groups(include_soft_deleted=True).data.groups
    assert "temp" not in listed
    with pytest.raises(StreamApiException) as gone:
        sdk_client.feeds.restore_feed_group("temp")
    assert gone.value.status_code == 404


def test_a_feed_of_a_new_group_creates_the_group(sdk_client: Stream) -> None:
    sdk_client.feeds.add_activity(type="post", feeds=["newgroup:x"], user_id="ann")
    sdk_client.feeds.follow(source="timeline:ann", target="othergroup:y")
    groups = sdk_client.feeds.list_feed_groups().data.groups
    assert groups["newgroup"].default_visibility == "visible" and "othergroup" in groups


def test_a_new_feed_starts_at_its_groups_default_visibility(sdk_client: Stream) -> None:
    sdk_client.feeds.create_feed_group(id="club", default_visibility="followers")
    feed = sdk_client.feeds.feed("club", "ann").get_or_create(user_id="ann").data.feed
    assert feed.visibility == "followers"


def test_a_new_follow_takes_its_groups_default_follower_role(sdk_client: Stream) -> None:
    sdk_client.feeds.create_feed_group(id="fans", default_follower_role="fan")
    follow = sdk_client.feeds.follow(source="timeline:ann", target="fans:bob").data.follow
    assert follow.follower_role == "fan"
    given = sdk_client.feeds.update_follow(source="timeline:ann", target="fans:bob",
                                           follower_role="vip").data.follow  # fmt: skip
    assert given.follower_role == "vip"
    other = sdk_client.feeds.follow(source="timeline:ann", target="user:bob").data.follow
    assert other.follower_role == ""


def test_feed_views_answer_every_setting_sent(sdk_client: Stream) -> None:
    settings = {name: SETTINGS[name] for name in ("activity_selectors", "aggregation", "ranking")}
    created = sdk_client.feeds.create_feed_view(id="hot", **settings).data.feed_view
    assert created.id == "hot"
    _check_settings(created, settings)
    assert sdk_client.feeds.get_feed_view("hot").data.feed_view.to_dict() == created.to_dict()
    made = sdk_client.feeds.get_or_create_feed_view("cold", ranking=SETTINGS["ranking"]).data
    assert made.was_created and made.feed_view.ranking.score == "popularity * 2"
    kept = sdk_client.feeds.get_or_create_feed_view("cold", ranking=RankingConfig(type="interest"))
    assert not kept.data.was_created and kept.data.feed_view.ranking.type == "expression"
    assert set(sdk_client.feeds.list_feed_views().data.views) == {"hot", "cold"}
    updated = sdk_client.feeds.update_feed_view(
        "hot", aggregation=AggregationConfig(format="{{ type }}")
    ).data.feed_view
    assert updated.aggregation.format == "{{ type }}" and updated.ranking is None
    sdk_client.feeds.delete_feed_view("hot")
    assert set(sdk_client.feeds.list_feed_views().data.views) == {"cold"}
    with pytest.raises(StreamApiException) as gone:
        sdk_client.feeds.get_feed_view("hot")
    assert gone.value.status_code == 404


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"default_visibility": "everyone"}, "default_visibility"),
        ({"activity_selectors": [{"cutoff_window": "1h"}]}, "activity_selectors[0].type"),
        ({"activity_selectors": [{"type": "popular", "min_popularity": 0}]},
         "activity_selectors[0].min_popularity"),
        ({"ranking": {"type": "recency"}}, "ranking.type"),
        ({"activity_processors": [{"type": "x"}] * 11}, "activity_processors"),
        ({"aggregation": {"score_strategy": "median"}}, "aggregation.score_strategy"),
    ],
)  # fmt: skip
def test_bad_settings_are_400s_naming_the_field(
    live_server: Any, settings: dict[str, Any], field: str
) -> None:
    with live_server.http() as http:
        answer = http.post("/api/v2/feeds/feed_groups", json={"id": "bad", **settings})
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["exception_fields"]


def test_a_user_token_reads_groups_but_cannot_change_them(live_server: Any) -> None:
    with live_server.http(token=user_token(live_server.api_secret, "ann")) as http:
        assert http.get("/api/v2/feeds/feed_groups/user").status_code == 200
        refused = http.post("/api/v2/feeds/feed_groups", json={"id": "mine"})
        assert (refused.status_code, refused.json()["code"]) == (403, 17)
        assert http.delete("/api/v2/feeds/feed_views/hot").status_code == 403


def test_strict_groups_refuses_a_feed_of_an_unknown_group(tmp_path: Path) -> None:
    with running(tmp_path / "strict.db", api_secret=new_secret(),
                 args=["--strict-groups"]) as server:  # fmt: skip
        sdk = Stream(api_key=server.api_key, api_secret=server.api_secret,
                     base_url=server.base_url, timeout=15.0)  # fmt: skip
        with pytest.raises(StreamApiException) as refused:
            sdk.feeds.add_activity(type="post", feeds=["newgroup:x"], user_id="ann")
        assert (refused.value.status_code, refused.value.code) == (400, 4)
        assert "'newgroup'" in str(refused.value)
        with pytest.raises(StreamApiException):
            sdk.feeds.feed("newgroup", "x").get_or_create(user_id="ann")
        with pytest.raises(StreamApiException):
            sdk.feeds.follow(source="timeline:ann", target="newgroup:x")
        sdk.feeds.add_activity(type="post", feeds=["user:ann"], user_id="ann")  # built-in
        sdk.feeds.create_feed_group(id="newgroup")
        sdk.feeds.add_activity(type="post", feeds=["newgroup:x"], user_id="ann")
        assert "newgroup" in sdk.feeds.list_feed_groups().data.groups
