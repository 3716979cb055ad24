"""FollowBatch and GetOrCreateFollows of the embedded server, written as one batch: the store
ends as one follow at a time leaves it (statuses, roles, fields, feeds and groups), each answer
shows its feeds' counts as they were just after its own follow, and a bad follow refuses the
whole batch with the answer it gets alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _batches import refused_as_alone, stored

from feedkit.server.auth import APP, Principal
from feedkit.server.problems import Problem
from feedkit.server.service import AppService
from feedkit.server.store import Store

ANN = Principal("ann")
# The same pair twice, an update of a follow stored before, a "followers" feed (a request
# stays pending), a group with a default follower role, a server-given status, and feeds
# that do not exist yet (made by the batch).
FOLLOWS: list[dict[str, Any]] = [
    {"source": "timeline:ann", "target": "user:bob", "push_preference": "all"},
    {"source": "timeline:ann", "target": "club:cy"},
    {"source": "timeline:ann", "target": "locked:dan"},
    {"source": "timeline:bob", "target": "user:bob", "custom": {"k": [1, {"x": None}]}},
    {"source": "timeline:ann", "target": "user:bob", "custom": {"again": True}},
    {"source": "timeline:cy", "target": "locked:dan", "status": "accepted"},
    {"source": "timeline:old", "target": "user:bob", "follower_role": "fan"},
    {"source": "timeline:dan", "target": "locked:dan"},
    {"source": "timeline:ann", "target": "club:cy", "follower_role": "vip"},
]


@pytest.fixture
def service(tmp_path: Any) -> Iterator[AppService]:
    yield _seeded(Store(str(tmp_path / "batch.db")))


def _seeded(store: Store) -> AppService:
    service = AppService(store)
    service.feed_groups.create_feed_group(APP, {"id": "club", "default_follower_role": "member"})
    service.feed_groups.create_feed_group(APP, {"id": "locked", "default_visibility": "followers"})
    service.follows.follow(APP, {"source": "timeline:old", "target": "user:bob",
                                 "custom": {"was": 1}})  # fmt: skip
    service.follows.follow(APP, {"source": "timeline:gone", "target": "locked:dan"})
    return service


def _state(store: Store) -> dict[str, Any]:
    """Every follow, feed and group as stored, times left out (a batch writes at one tick)."""
    return stored(store.path, {
        "follows": "SELECT source, target, push_preference, follower_role, custom, status, "
        "request_accepted_at IS NULL, request_rejected_at IS NULL FROM follows "
        "ORDER BY source, target",
        "feeds": "SELECT fid, group_id, id, created_by, doc FROM feeds ORDER BY fid",
        "groups": "SELECT id, doc FROM feed_groups ORDER BY id",
    })  # fmt: skip


def _shown(answer: dict[str, Any]) -> tuple[Any, ...]:
    """What an answer shows besides times."""
    ends = [{k: v for k, v in answer[end].items() if k not in ("created_at", "updated_at")}
            for end in ("source_feed", "target_feed")]  # fmt: skip
    for end in ends:
        end["created_by"] = end["created_by"]["id"]
    own = {k: v for k, v in answer.items()
           if k not in ("source_feed", "target_feed", "created_at", "updated_at")}  # fmt: skip
    return own, ends


@pytest.mark.parametrize("keep", [False, True])
def test_a_batch_ends_as_one_follow_at_a_time(tmp_path: Any, keep: bool) -> None:
    batch = _seeded(Store(str(tmp_path / "batch.db")))
    single = _seeded(Store(str(tmp_path / "single.db")))
    answers = batch.follows.follow_batch(APP, {"follows": FOLLOWS}, keep=keep)
    one_by_one = [single.follows.follow_batch(APP, {"follows": [f]}, keep=keep) for f in FOLLOWS]
    assert _state(batch.store) == _state(single.store)
    assert [_shown(a) for a in answers["follows"]] == [_shown(a["follows"][0]) for a in one_by_one]
    # (a batch writes at one tick: a pair it names twice is new both times, as it was)
    assert len(answers["created"]) == sum(len(a["created"]) for a in one_by_one) + 2
    statuses = [a["status"] for a in answers["follows"]]
    assert statuses[2] == "pending" and statuses[5] == "accepted"
    assert answers["follows"][1]["follower_role"] == "member"
    assert answers["follows"][-1]["follower_role"] == ("member" if keep else "vip")


def test_counts_are_those_just_after_each_follow(service: AppService) -> None:
    follows = [{"source": f"timeline:u{i}", "target": "user:star"} for i in range(5)]
    answers = service.follows.follow_batch(APP, {"follows": follows})["follows"]
    assert [a["target_feed"]["follower_count"] for a in answers] == [1, 2, 3, 4, 5]
    assert [a["source_feed"]["following_count"] for a in answers] == [1] * 5
    pending = service.follows.follow_batch(
        APP, {"follows": [{"source": "timeline:u0", "target": "locked:dan"}]}
    )["follows"][0]
    assert (pending["status"], pending["target_feed"]["follower_count"]) == ("pending", 0)
    read = service.follows.query_follows(APP, {"filter": {"target_feed": "user:star"}})
    assert {f["target_feed"]["follower_count"] for f in read["follows"]} == {5}


def _refusal(service: AppService, principal: Principal, follows: list[Any]) -> Problem:
    with pytest.raises(Problem) as caught:
        service.follows.follow_batch(principal, {"follows": follows})
    return caught.value


@pytest.mark.parametrize(
    ("principal", "bad"),
    [
        (ANN, {"source": "timeline:bob", "target": "user:cy"}),  # not ann's feed
        (ANN, {"source": "timeline:ann", "target": "user:cy", "status": "accepted"}),
        (APP, {"source": "timeline:ann", "target": "timeline:ann"}),
        (APP, {"source": "timeline:ann", "target": "user:x", "push_preference": "some"}),
    ],
)
def test_a_bad_follow_refuses_the_batch_as_it_is_refused_alone(
    tmp_path: Any, principal: Principal, bad: dict[str, Any]
) -> None:
    service = _seeded(Store(str(tmp_path / "x.db")))
    before = _state(service.store)
    good = {"source": "timeline:ann", "target": "user:dan"}
    refused_as_alone(lambda batch: _refusal(service, principal, batch), "follows", good, bad)
    assert _state(service.store) == before  # all or nothing


def test_a_private_feed_and_a_strict_or_deleted_group_refuse_as_before(tmp_path: Any) -> None:
    service = _seeded(Store(str(tmp_path / "x.db")))
    dan = Principal("dan")
    service.feeds.get_or_create_feed(dan, "user", "dan", {"data": {"visibility": "private"}})
    before = _state(service.store)
    ok = {"source": "timeline:ann", "target": "user:bob"}
    private = _refusal(service, ANN, [ok, {"source": "timeline:ann", "target": "user:dan"}])
    assert (private.status, private.message) == (
        403,
        "feed 'user:dan' is private: only its owner can follow it",
    )
    service.store.strict_groups = True
    strict = _refusal(service, APP, [ok, {"source": "nogroup:a", "target": "other:b"}])
    assert strict.fields == {"feed_group": "'nogroup', 'other' does not exist"}
    service.store.strict_groups = False
    service.feed_groups.delete_feed_group(APP, "club", False)
    deleted = _refusal(service, APP, [ok, {"source": "timeline:ann", "target": "club:cy"}])
    assert deleted.fields == {"feed_group": "'club' is deleted"}
    assert _state(service.store)["follows"] == before["follows"]


def test_a_user_token_follows_from_a_feed_an_earlier_follow_made_for_it(
    service: AppService,
) -> None:
    """A feed the batch makes is its maker's: a later follow from it is allowed, as it is
    one follow at a time."""
    answers = service.follows.follow_batch(ANN, {"follows": [
        {"source": "timeline:ann", "target": "notes:mine"},
        {"source": "notes:mine", "target": "user:bob"},
    ]})["follows"]  # fmt: skip
    assert answers[1]["source_feed"]["created_by"]["id"] == "ann"
    refused = _refusal(service, ANN, [{"source": "notes:other", "target": "user:bob"}])
    assert refused.status == 403
