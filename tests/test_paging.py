"""Reading a query in concurrent created_at ranges gives exactly the pages of one sequential
read: the same activities, once each, in the same order, even with many activities sharing
an instant at the ranges' edges (and while writes happen: see test_export)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import feedkit
from feedkit import paging
from feedkit.server.store import Store


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[feedkit.Client]:
    """An embedded store whose clock repeats each instant a few times: ties everywhere."""
    ticks = itertools.count(1_800_000_000_000_000_000, 1_000)
    lock = threading.Lock()
    state = {"now": next(ticks), "left": 0}

    def tick(self: Store) -> int:
        with lock:
            if state["left"] == 0:
                state["now"], state["left"] = next(ticks), 3
            state["left"] -= 1
            return state["now"]

    monkeypatch.setattr(Store, "tick", tick)
    with feedkit.connect(":memory:") as c:
        yield c


def _fill(client: feedkit.Client, n: int) -> None:
    for start in range(0, n, 100):
        client.upsert_activities([
            {"id": f"a{i:05}", "type": "post", "feeds": [f"user:u{i % 3}"], "user_id": "u",
             "filter_tags": ["even" if i % 2 == 0 else "odd"]}
            for i in range(start, min(n, start + 100))
        ])  # fmt: skip


def _ids(pages: Iterator[list[dict[str, Any]]]) -> list[str]:
    return [a["id"] for page in pages for a in page]


@pytest.mark.parametrize(
    ("filter", "sort"),
    [
        (None, None),
        ({"filter_tags": {"$in": ["even"]}}, None),
        (None, [{"field": "created_at", "direction": 1}]),
        ({"user_id": "u"}, [{"field": "created_at", "direction": -1}]),
    ],
)
@pytest.mark.parametrize("concurrency", [2, 3, 8])
def test_ranges_read_exactly_what_one_cursor_reads(
    client: feedkit.Client,
    filter: dict[str, Any] | None,
    sort: list[dict[str, Any]] | None,
    concurrency: int,
) -> None:
    _fill(client, 650)
    one = _ids(paging.iter_pages(client, filter=filter, sort=sort, page_size=40))
    many = _ids(paging.iter_pages(client, filter=filter, sort=sort, page_size=40,
                                  concurrency=concurrency))  # fmt: skip
    assert len(one) == (325 if filter and "filter_tags" in filter else 650)
    assert many == one


def test_ranges_are_disjoint_and_cover_every_activity(client: feedkit.Client) -> None:
    _fill(client, 300)
    ranges = paging.time_ranges(client, None, {}, 7)
    assert ranges is not None and len(ranges) == 7
    assert "$lt" not in ranges[0]["created_at"] and "$gte" not in ranges[-1]["created_at"]
    seen: list[str] = []
    for r in ranges:
        seen += _ids(paging.iter_pages(client, filter=r, page_size=100))
    assert sorted(seen) == [f"a{i:05}" for i in range(300)]
    filtered = paging.time_ranges(client, {"user_id": "u"}, {}, 2)
    assert filtered is not None and filtered[0]["$and"][0] == {"user_id": "u"}


def test_one_instant_or_one_page_is_not_split(client: feedkit.Client) -> None:
    _fill(client, 3)  # the clock gives all three the same instant
    assert paging.time_ranges(client, None, {}, 4) is None
    assert _ids(paging.iter_pages(client, page_size=2, concurrency=4)) == ["a00002", "a00001",
                                                                         "a00000"]  # fmt: skip
    assert _ids(paging.iter_pages(client, page_size=5, concurrency=4)) == ["a00002", "a00001",
                                                                         "a00000"]  # fmt: skip


def test_other_sorts_and_feeds_are_read_with_one_cursor(
    client: feedkit.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(client, 120)
    monkeypatch.setattr(paging, "time_ranges", lambda *a, **k: pytest.fail("split"))
    by_popularity = [{"field": "popularity", "direction": -1}]
    assert len(_ids(paging.iter_pages(client, sort=by_popularity, concurrency=4))) == 120
    assert len(_ids(paging.iter_pages(client, feed="user:u0", concurrency=4))) == 40


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:3030", "http://[::1]:9", "https://feeds.stream-io-api.com"],
)
def test_concurrent_ranges_by_default_for_any_server_in_another_process(base_url: str) -> None:
    from feedkit.export import default_concurrency

    with feedkit.Client(base_url, "key", "s" * 40) as remote:
        assert default_concurrency(remote) == 4
    with feedkit.connect(":memory:") as embedded:
        assert default_concurrency(embedded) == 1
