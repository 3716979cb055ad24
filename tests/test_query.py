"""Filters, sorting and keyset cursors of the embedded server's activity queries."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.errors import APIError
from feedkit.server.query import (
    MAX_DRIVE_KEYS,
    MAX_FILTER_LEVELS,
    MAX_FILTER_TERMS,
    Compiled,
    Sort,
    _cursor_sig,
    encode_cursor,
)


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def seed(client: feedkit.Client) -> list[dict[str, object]]:
    rows = [
        dict(id="a", user_id="alice", type="post", feeds=["user:alice", "topic:x"],
             filter_tags=["green", "big"], interest_tags=["sports"], text="Hello World",
             custom={"likes": 5, "lang": "en", "meta": {"score": 1.5}}, search_data={"t": "one"}),
        dict(id="b", user_id="bob", type="video", feeds=["user:bob"], filter_tags=["green"],
             custom={"likes": 50, "lang": "fr", "flag": True}, text="bonjour le monde"),
        dict(id="c", user_id="alice", type="post", feeds=["user:alice"], filter_tags=["blue"],
             interest_tags=["music", "sports"], custom={"likes": 500},
             expires_at=datetime.now(UTC) + timedelta(days=2)),
        dict(id="d", user_id="carol", type="like", feeds=["topic:x"], custom={"lang": "en"}),
    ]  # fmt: skip
    client.upsert_activities(rows)
    return rows


def ids(client: feedkit.Client, flt: dict[str, object], **kw: object) -> list[str]:
    return sorted(a["id"] for a in client.query_activities(flt, limit=100, **kw))


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"activity_type": "post"}, ["a", "c"]),
        ({"activity_type": {"$in": ["video", "like"]}}, ["b", "d"]),
        ({"user_id": "alice"}, ["a", "c"]),
        ({"user_id": {"$in": ["bob", "carol"]}}, ["b", "d"]),
        ({"id": {"$in": ["a", "d", "zzz"]}}, ["a", "d"]),
        ({"feed": "topic:x"}, ["a", "d"]),
        ({"feed": {"$in": ["user:bob", "topic:x"]}}, ["a", "b", "d"]),
        ({"filter_tags": {"$contains": "green"}}, ["a", "b"]),
        ({"filter_tags": {"$contains": ["green", "big"]}}, ["a"]),
        ({"filter_tags": {"$in": ["big", "blue"]}}, ["a", "c"]),
        ({"filter_tags": {"$eq": ["green"]}}, ["b"]),
        ({"interest_tags": {"$contains": "sports"}}, ["a", "c"]),
        ({"custom.likes": {"$gt": 5}}, ["b", "c"]),
        ({"custom.likes": {"$gte": 5, "$lt": 500}}, ["a", "b"]),
        ({"custom.likes": {"$lte": 50}}, ["a", "b"]),
        ({"custom.lang": "en"}, ["a", "d"]),
        ({"custom.lang": {"$in": ["fr"]}}, ["b"]),
        ({"custom.flag": True}, ["b"]),
        ({"custom.meta.score": {"$eq": 1.5}}, ["a"]),
        ({"custom.lang": {"$exists": False}}, ["c"]),
        ({"custom": {"$contains": {"lang": "en", "likes": 5}}}, ["a"]),
        ({"search_data": {"$path_exists": "t"}}, ["a"]),
        ({"text": {"$q": "world"}}, ["a"]),
        ({"text": {"$autocomplete": "mon"}}, ["b"]),
        ({"expires_at": {"$exists": True}}, ["c"]),
        ({"$or": [{"user_id": "bob"}, {"custom.likes": 500}]}, ["b", "c"]),
        ({"$and": [{"feed": "user:alice"}, {"filter_tags": {"$contains": "blue"}}]}, ["c"]),
        ({"user_id": "alice", "$or": [{"activity_type": "video"}, {"custom.likes": 5}]}, ["a"]),
    ],
)
def test_filters(client: feedkit.Client, flt: dict[str, object], expected: list[str]) -> None:
    seed(client)
    assert ids(client, flt) == expected


def test_created_at_filter_accepts_times(client: feedkit.Client) -> None:
    seed(client)
    created = {a["id"]: a["created_at"] for a in client.query_activities(limit=100)}
    assert ids(client, {"created_at": {"$gte": created["c"]}}) == ["c", "d"]
    iso = feedkit.schema.format_time(created["b"])
    assert ids(client, {"created_at": {"$lt": iso}}) == ["a"]


@pytest.mark.parametrize(
    ("flt", "field"),
    [
        ({"nope": 1}, "filter.nope"),
        ({"user_id": {"$gt": "a"}}, "filter.user_id"),
        ({"id": {"$in": []}}, "filter.id"),
        ({"$or": "x"}, "filter.$or"),
        ({"created_at": {"$gt": "yesterday"}}, "filter.created_at"),
        ({'custom.a"b': 1}, 'filter.custom.a"b'),
    ],
)
def test_bad_filters_are_400_naming_the_field(
    client: feedkit.Client, flt: dict[str, object], field: str
) -> None:
    with pytest.raises(APIError) as err:
        client.query_activities(flt)
    assert err.value.status == 400 and err.value.code == 4
    assert field in err.value.exception_fields


def test_sort_by_popularity_then_created_at(client: feedkit.Client) -> None:
    client.upsert_activities(
        [{"id": i, "type": "post", "feeds": ["user:a"], "user_id": "a"} for i in "pqrs"]
    )
    for parent, shares in (("q", 2), ("s", 1)):
        for n in range(shares):
            client.add_activity(
                id=f"share-{parent}-{n}", type="share", feeds=["user:b"], user_id="b",
                parent_id=parent,
            )  # fmt: skip
    page = client.query_activities(
        {"feed": "user:a"}, sort=[{"field": "popularity", "direction": -1}], limit=100
    )
    assert [a["id"] for a in page] == ["q", "s", "r", "p"]
    asc = client.query_activities(
        {"feed": "user:a"}, sort=[{"field": "created_at", "direction": 1}], limit=100
    )
    assert [a["id"] for a in asc] == ["p", "q", "r", "s"]


def walk(client: feedkit.Client, flt: dict[str, object] | None, limit: int, **kw: object):
    seen, pages, cursor = [], 0, None
    while pages < 1000:
        page = client.query_activities(flt, limit=limit, next=cursor, **kw)
        seen += [a["id"] for a in page]
        pages += 1
        if not page.next:
            return seen, pages
        cursor = page.next
    raise AssertionError("too many pages")


@pytest.mark.parametrize("flt", [None, {"feed": "user:u"}, {"filter_tags": {"$contains": "t"}}])
@pytest.mark.parametrize(
    "sort", [None, [{"field": "created_at", "direction": 1}], [{"field": "popularity"}]]
)
def test_pages_cover_everything_once(
    client: feedkit.Client, flt: dict[str, object] | None, sort: list[dict[str, object]] | None
) -> None:
    client.upsert_activities(
        [{"id": f"x{i:03}", "type": "post", "feeds": ["user:u"], "user_id": "u",
          "filter_tags": ["t"]} for i in range(53)]
    )  # fmt: skip
    seen, pages = walk(client, flt, 10, sort=sort)
    assert len(seen) == 53 and len(set(seen)) == 53
    assert pages == 6
    expected = sorted(seen, reverse=sort is None or sort[0].get("field") == "popularity")
    assert seen == expected


@pytest.mark.parametrize(
    "flt", [None, {"feed": "user:u"}, {"feed": {"$in": ["user:u", "user:v"]}}, {"user_id": "u"}]
)
def test_prev_cursor_turns_back(client: feedkit.Client, flt: dict[str, object] | None) -> None:
    client.upsert_activities(
        [{"id": f"y{i:02}", "type": "post", "feeds": ["user:u", "user:v"][: 1 + i % 2],
          "user_id": "u"} for i in range(25)]
    )  # fmt: skip
    first = client.query_activities(flt, limit=10)
    assert first.prev is None
    second = client.query_activities(flt, limit=10, next=first.next)
    assert second.prev is not None
    back = client.query_activities(flt, limit=10, prev=second.prev)
    assert [a["id"] for a in back] == [a["id"] for a in first]
    assert back.next is not None and back.prev is None


def test_cursor_from_another_query_is_refused(client: feedkit.Client) -> None:
    client.upsert_activities(
        [{"id": f"z{i}", "type": "post", "feeds": ["user:u"], "user_id": "u"} for i in range(5)]
    )
    page = client.query_activities(limit=2)
    with pytest.raises(APIError) as err:
        client.query_activities({"user_id": "u"}, limit=2, next=page.next)
    assert "next" in err.value.exception_fields
    with pytest.raises(APIError):
        client.query_activities(limit=2, next="cursor-next-abc")


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=17))
def test_pagination_exact_under_concurrent_writes(rng: random.Random, limit: int) -> None:
    """No activity twice, none skipped among those that existed before the read began,
    while inserts, updates and deletes of other rows happen between pages."""
    with feedkit.connect(":memory:") as client:
        client.upsert_activities(
            [{"id": f"o{i:03}", "type": "post", "feeds": ["user:u"], "user_id": "u"}
             for i in range(60)]
        )  # fmt: skip
        before = {f"o{i:03}" for i in range(60)}
        deleted: set[str] = set()
        seen: list[str] = []
        cursor = None
        for step in range(200):
            page = client.read_feed("user:u", limit=limit, next=cursor)
            seen += [a["id"] for a in page]
            action = rng.choice(["insert", "update", "delete", "none"])
            if action == "insert":
                client.add_activity(id=f"n{step}", type="post", feeds=["user:u"], user_id="u")
            elif action == "update":
                client.update_activity_partial(
                    rng.choice(sorted(before - deleted)), set={"text": "e"}
                )
            elif action == "delete":
                victim = rng.choice(sorted(before - set(seen) - deleted) or ["o000"])
                client.delete_activity(victim)
                deleted.add(victim)
            if not page.next:
                break
            cursor = page.next
        assert len(seen) == len(set(seen)), "an activity was served twice"
        missing = before - deleted - set(seen)
        assert not missing, f"skipped: {sorted(missing)}"
        assert not {s for s in seen if s.startswith("n")}, "newer rows appear at the top only"


@pytest.mark.parametrize("limit", [1, 4, 100])
@pytest.mark.parametrize("direction", [-1, 1])
def test_pages_over_several_feeds_and_tags_merge_without_repeats(
    client: feedkit.Client, limit: int, direction: int
) -> None:
    rows = []
    for i in range(40):
        feeds = [f"user:f{i % 3}"] + (["user:f1"] if i % 5 == 0 else [])
        tags = ["red"] if i % 2 else ["blue", "red"] if i % 7 == 0 else ["blue"]
        rows.append({"id": f"m{i:02}", "type": "post", "feeds": sorted(set(feeds)),
                     "user_id": "u", "filter_tags": tags})  # fmt: skip
    client.upsert_activities(rows)
    client.delete_activity("m10")
    sort = [{"field": "created_at", "direction": direction}]
    expected = [r["id"] for r in rows if r["id"] != "m10"]
    if direction == -1:
        expected.reverse()
    for flt in (
        {"feed": {"$in": ["user:f0", "user:f1", "user:f2"]}},
        {"filter_tags": {"$in": ["red", "blue"]}},
    ):
        seen, _ = walk(client, flt, limit, sort=sort)
        assert seen == expected
    only_f1 = [i for i in expected if int(i[1:]) % 3 == 1 or int(i[1:]) % 5 == 0]
    assert walk(client, {"feed": {"$in": ["user:f1", "user:nobody"]}}, limit, sort=sort)[0] == (
        only_f1
    )


@pytest.mark.parametrize("flt", [None, {"feed": "user:u"}, {"user_id": "u"}])
def test_next_pages_read_an_index_range_not_a_scan(flt: dict[str, object] | None) -> None:
    """A cursor becomes a row-value bound the planner can seek to: deep pages cost what the
    first page costs (the plan is checked, not the time)."""
    from feedkit.server.activities import ActivitiesService
    from feedkit.server.auth import Principal
    from feedkit.server.store import Store

    store = Store(":memory:")
    service = ActivitiesService(store)
    rows = [{"id": f"d{i}", "type": "post", "feeds": ["user:u"], "user_id": "u"} for i in range(30)]
    service.upsert_activities(Principal(None), {"activities": rows})
    first = service.query_activities(Principal(None), {"filter": flt, "limit": 5})
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    service.query_activities(Principal(None), {"filter": flt, "limit": 5, "next": first["next"]})
    store._db.set_trace_callback(None)
    page_sql = next(s for s in statements if "ORDER BY" in s)
    plan = " ".join(str(r) for r in store._db.execute("EXPLAIN QUERY PLAN " + page_sql))
    assert "SEARCH" in plan and "SCAN a " not in plan + " ", plan


def test_mixed_sort_directions_page_exactly(client: feedkit.Client) -> None:
    client.upsert_activities(
        [{"id": f"s{i:02}", "type": "post", "feeds": ["user:u"], "user_id": "u"} for i in range(23)]
    )
    for n, parent in enumerate(["s03", "s03", "s10"]):
        client.add_activity(id=f"r{n}", type="share", feeds=["user:v"], user_id="v",
                            parent_id=parent)  # fmt: skip
    sort = [{"field": "popularity", "direction": 1}, {"field": "created_at", "direction": -1}]
    seen, _ = walk(client, {"feed": "user:u"}, 4, sort=sort)
    expected = sorted((f"s{i:02}" for i in range(23) if i not in (3, 10)), reverse=True)
    assert seen == [*expected, "s10", "s03"]


# --------------------------------------------------------------------------------------------
# Filters SQLite cannot compile, numbers it cannot bind, forged cursors, many feeds (found by
# the hostile tests: every one of these was a 500)
# --------------------------------------------------------------------------------------------


def _nested_and(levels: int) -> dict[str, object]:
    flt: dict[str, object] = {"user_id": "alice"}
    for _ in range(levels):
        flt = {"$and": [flt]}
    return flt


def test_filters_nested_to_the_limit_work_and_deeper_ones_are_400(
    client: feedkit.Client,
) -> None:
    seed(client)
    assert ids(client, _nested_and(MAX_FILTER_LEVELS)) == ["a", "c"]
    with pytest.raises(APIError) as err:
        client.query_activities(_nested_and(MAX_FILTER_LEVELS + 1))
    assert (err.value.status, err.value.code) == (400, 4)
    assert "filter" in err.value.exception_fields


@pytest.mark.parametrize(
    "flt",
    [
        {"$or": [{"user_id": f"u{i}"} for i in range(MAX_FILTER_TERMS)]},
        {f"custom.k{i}": i for i in range(MAX_FILTER_TERMS + 1)},
        {"custom": {"$contains": {f"k{i}": i for i in range(MAX_FILTER_TERMS)}}},
        {"filter_tags": {"$contains": [f"t{i}" for i in range(MAX_FILTER_TERMS)]}},
    ],
    ids=["or", "and", "contains-object", "contains-list"],
)
def test_filters_with_too_many_conditions_are_400(
    client: feedkit.Client, flt: dict[str, object]
) -> None:
    with pytest.raises(APIError) as err:
        client.query_activities(flt)
    assert (err.value.status, err.value.code) == (400, 4)
    assert "filter" in err.value.exception_fields


def test_integers_past_int64_in_filters_compare_as_numbers(client: feedkit.Client) -> None:
    seed(client)
    post = {"type": "post", "feeds": ["user:z"], "user_id": "z"}
    client.upsert_activities([{**post, "id": "big", "custom": {"likes": 2**63 + 2**20}}])
    assert ids(client, {"custom.likes": {"$gt": 2**63}}) == ["big"]
    assert ids(client, {"custom.likes": {"$lt": 2**63}}) == ["a", "b", "c"]
    assert ids(client, {"popularity": {"$gt": 2**63}}) == []
    with pytest.raises(APIError) as err:
        client.query_activities({"created_at": {"$lt": 2**63}})
    assert "filter.created_at" in err.value.exception_fields


@pytest.mark.parametrize("values", [["x", "y", "z"], [{"a": 1}, 1, 2], [2**63, 1, 1], [1.5, 1, 1]])
def test_a_forged_cursor_with_a_valid_signature_is_refused(
    client: feedkit.Client, values: list[object]
) -> None:
    # The signature is a hash of the query, which anyone can compute: only its values' types
    # stand between a forged cursor and the SQL it binds.
    seed(client)
    sig = _cursor_sig(Compiled(), Sort.parse(None), "query")
    forged = encode_cursor(values, sig)
    assert client.query_activities(limit=1).next is not None
    with pytest.raises(APIError) as err:
        client.query_activities(limit=1, next=forged)
    assert (err.value.status, err.value.code) == (400, 4)
    assert "next" in err.value.exception_fields


def test_a_timeline_following_more_feeds_than_a_union_holds(client: feedkit.Client) -> None:
    count = 510  # SQLite's compound SELECT holds 500 terms: one per feed was a 500
    assert count > MAX_DRIVE_KEYS
    client.upsert_activities(
        [{"id": f"f{i:03}", "type": "post", "feeds": [f"user:f{i}"], "user_id": f"f{i}",
          "filter_tags": [f"t{i}"]} for i in range(count)]
    )  # fmt: skip
    for i in range(count):
        client.follow("timeline:many", f"user:f{i}")
    newest_first = [f"f{i:03}" for i in reversed(range(count))]
    assert [a["id"] for a in client.iter_feed("timeline:many", page_size=100)] == newest_first
    tags = {"filter_tags": {"$in": [f"t{i}" for i in range(count)]}}
    assert [a["id"] for a in client.iter_activities(tags, page_size=100)] == newest_first


def _steps(store: Any, run: Any) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``run()`` takes on the store."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    store._db.set_progress_handler(tick, 100)
    try:
        run()
    finally:
        store._db.set_progress_handler(None, 100)
    return count[0]


@pytest.mark.parametrize(
    "flt",
    [
        None,
        {"created_at": {"$gte": "2000-01-01T00:00:00Z", "$lt": "2100-01-01T00:00:00Z"}},
        {"$and": [{"user_id": "u"}, {"created_at": {"$lt": "2100-01-01T00:00:00Z"}}]},
    ],
    ids=["unfiltered", "created_at-range", "user-and-before"],
)
def test_a_deep_page_costs_what_the_first_page_costs(flt: dict[str, Any] | None) -> None:
    """Counted in SQLite's steps, not time: a page 1,900 rows deep reads about as much as the
    first, also when the filter bounds the sort column itself (as a time range does)."""
    from feedkit.server.activities import ActivitiesService
    from feedkit.server.auth import Principal
    from feedkit.server.store import Store

    store = Store(":memory:")
    service = ActivitiesService(store)
    for start in range(0, 2000, 100):
        rows = [{"id": f"d{i}", "type": "post", "feeds": ["user:u"], "user_id": "u"}
                for i in range(start, start + 100)]  # fmt: skip
        service.upsert_activities(Principal(None), {"activities": rows})
    body: dict[str, Any] = {"filter": flt, "limit": 50}
    first = _steps(store, lambda: service.query_activities(Principal(None), body))
    for _ in range(38):  # to 1,900 rows deep
        body["next"] = service.query_activities(Principal(None), body)["next"]
    deep = _steps(store, lambda: service.query_activities(Principal(None), body))
    assert deep <= 2 * first + 2, (first, deep)
