"""Every page of a feed or a query, in order: one cursor after another, or a query split into
``created_at`` ranges read concurrently.

A query sorted by ``created_at`` (the default, newest first) is split into half-open time
ranges, ``created_at >= lo and created_at < hi``, each ANDed with the caller's filter and paged
with its own cursors by one of ``concurrency`` threads. ``created_at`` never changes, so every
activity that existed when the export began lies in exactly one range and each range's keyset
cursors are exact: the pages are those of one sequential read, in the same order, with the
round trips overlapped: the server answers one range while this process reads the answer of
another. That pays most where round trips are long (a server on another machine), and still
on this machine when the server is another process (its own core); not for the embedded
server, which shares this process's GIL. Ranges are cut evenly between the oldest and the
newest time matched; pages of a range that is not yet due wait in memory (as the reader made
them), so this is for exports that end in memory anyway (DataFrames).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from feedkit.client import Client
from feedkit.results import answer_activities
from feedkit.schema import MAX_PAGE, format_time

__all__ = ["RANGES_PER_WORKER", "iter_pages", "time_ranges"]

P = TypeVar("P")
Page = list[dict[str, Any]]
# Reads an answer's bytes into a page (of any form) and the answer's ``next`` cursor.
Reader = Callable[[bytes], tuple[P, str | None]]
RANGES_PER_WORKER = 4  # ranges per thread: uneven ranges still keep every thread busy
_ASC = [{"field": "created_at", "direction": 1}]


def iter_pages(
    client: Client,
    *,
    feed: str | None = None,
    filter: Mapping[str, Any] | None = None,
    sort: list[dict[str, Any]] | None = None,
    page_size: int = MAX_PAGE,
    concurrency: int = 1,
    read: Reader[P] = answer_activities,  # type: ignore[assignment]  # P is Page by default
    **options: Any,
) -> Iterator[P]:
    """Every page of a feed or a query, following ``next``: by default its activities as
    plain dicts; ``read`` turns each answer's bytes into a page of another form (the
    exporter reads them into Arrow), in the thread that fetched it.

    ``concurrency`` > 1 reads a query in time ranges on that many threads (see the module);
    feeds, and queries sorted on anything but ``created_at``, are read one page at a time.
    """
    if feed is not None:
        client.require_feed(feed)  # a read never creates the feed it names
        yield from _cursor_pages(lambda nxt: client.feed_read(
            read, feed, limit=page_size, next=nxt, **options))  # fmt: skip
        return
    direction = _created_at_direction(sort)
    if concurrency <= 1 or direction is None:
        yield from _query_pages(client, read, filter, sort, page_size, options)
        return
    first, cursor = client.query_read(read, filter, sort=sort, limit=page_size, **options)
    if not cursor:  # one page: nothing to split
        yield first
        return
    ranges = time_ranges(client, filter, options, concurrency * RANGES_PER_WORKER)
    if ranges is None:  # every activity at one instant: follow the first page's cursor
        yield first
        yield from _cursor_pages(lambda nxt: client.query_read(
            read, filter, sort=sort, limit=page_size, next=nxt, **options), cursor)  # fmt: skip
        return
    if direction > 0:
        ranges.reverse()
    yield from _concurrent(client, read, ranges, sort, page_size, concurrency, options)


def _created_at_direction(sort: list[dict[str, Any]] | None) -> int | None:
    """-1 or 1 when the order is by created_at alone (default: newest first), else None."""
    if not sort:
        return -1
    if len(sort) == 1 and sort[0].get("field") == "created_at":
        return 1 if sort[0].get("direction", -1) == 1 else -1
    return None


def _cursor_pages(
    answer: Callable[[str | None], tuple[P, str | None]], cursor: str | None = None
) -> Iterator[P]:
    """Pages of ``answer(next)`` until an answer has no ``next``."""
    while True:
        page, cursor = answer(cursor)
        yield page
        if not cursor:
            return


def _query_pages(
    client: Client,
    read: Reader[P],
    filter: Mapping[str, Any] | None,
    sort: list[dict[str, Any]] | None,
    page_size: int,
    options: Mapping[str, Any],
) -> Iterator[P]:
    return _cursor_pages(lambda nxt: client.query_read(
        read, filter, sort=sort, limit=page_size, next=nxt, **options))  # fmt: skip


def time_ranges(
    client: Client, filter: Mapping[str, Any] | None, options: Mapping[str, Any], parts: int
) -> list[dict[str, Any]] | None:
    """``parts`` filters, newest range first, that split what ``filter`` matches by
    ``created_at`` into disjoint ranges covering everything (the first is open above, the last
    below); None when the matched activities share one instant."""
    newest = client.query_answer(filter, limit=1, **options).get("activities") or []
    oldest = client.query_answer(filter, sort=_ASC, limit=1, **options).get("activities") or []
    if not newest or not oldest:
        return None
    lo, hi = int(oldest[0]["created_at"]), int(newest[0]["created_at"])
    if hi <= lo:
        return None
    parts = max(1, min(parts, hi - lo))
    cuts = [lo + (hi - lo) * k // parts for k in range(parts - 1, 0, -1)]  # descending
    bounds: list[tuple[int | None, int | None]] = []
    upper: int | None = None
    for cut in [*cuts, None]:
        bounds.append((cut, upper))
        upper = cut
    return [_and(filter, _range(low, high)) for low, high in bounds]


def _range(low: int | None, high: int | None) -> dict[str, Any]:
    ops: dict[str, str] = {}
    if low is not None:
        ops["$gte"] = format_time(low)
    if high is not None:
        ops["$lt"] = format_time(high)
    return {"created_at": ops}


def _and(filter: Mapping[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {"$and": [dict(filter), extra]} if filter else extra


def _concurrent(
    client: Client,
    read: Reader[P],
    ranges: list[dict[str, Any]],
    sort: list[dict[str, Any]] | None,
    page_size: int,
    concurrency: int,
    options: Mapping[str, Any],
) -> Iterator[P]:
    """Each range paged on a thread; pages yielded in range order, at most ``concurrency``
    ranges in flight."""

    def pages(f: dict[str, Any]) -> list[P]:
        return list(_query_pages(client, read, f, sort, page_size, options))

    with ThreadPoolExecutor(concurrency, thread_name_prefix="feedkit-export") as pool:
        pending: deque[Future[list[P]]] = deque()
        try:
            for f in ranges:
                pending.append(pool.submit(pages, f))
                if len(pending) >= concurrency:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:  # stopped early (a limit, an error): ranges not started are dropped
            for fut in pending:
                fut.cancel()
