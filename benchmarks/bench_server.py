"""Benchmark of ``feedkit serve``: upsert ingest and read latency, as ratios to peers of one run.

The machine this runs on is shared and noisy, so every figure is printed beside a peer
measured in the same run, and targets are judged on the ratio:

1. Upsert ingest: N activities sent with ``Client.upsert_activities`` in batches of 100 to a
   fresh ``feedkit serve`` (one client thread, then a pool), against the ceiling of a raw
   SQLite upsert of the same rows into the same schema in this process. Target >= 0.3x.
2. Read latency at a small and a big store (10k and 1M activities by default): a feed page,
   two filtered queries, a second page and a timeline feed that follows other feeds, through
   HTTP, both servers measured side by side with requests interleaved. Target: the big store
   within 2x of the small one (median). Then, at both sizes, the feed page read as a user on
   an engaged store (the same activities with reactions and comments, a hot few with hundreds)
   against the plain store. Target: engaged within 2x of plain (median).

Run ``python benchmarks/bench_server.py`` (``--quick`` for a smoke run, ``--help`` for options).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson

import feedkit
from feedkit.serve import ServerProcess, spawn
from feedkit.server.comment_store import DOC_DEFAULTS as COMMENT_DOC_DEFAULTS
from feedkit.server.comment_store import INSERTED as COMMENT_INSERTED
from feedkit.server.comment_store import encode_doc as encode_comment_doc
from feedkit.server.reactions import ACTIVITY
from feedkit.server.reactions import COLUMNS as REACTION_COLUMNS
from feedkit.server.store import COLUMNS, DOC_FIELDS, SCHEMA, activity_keys, row_values

API_KEY = "bench-key"
API_SECRET = "bench-secret-for-a-local-server-only"
BATCH = 100
PAGE = 25
INGEST_TARGET = 0.3  # feedkit rows/s over raw SQLite rows/s, at least
READ_TARGET = 2.0  # big-store median latency over small-store median latency, at most
STARTUP_TIMEOUT_S = 120.0
RAW_RUNS = 3  # the raw peer is cheap: run it around the feedkit runs and take the median

# -- the data ---------------------------------------------------------------------------------

GENERATOR_VERSION = "2"  # bump when the generated data changes, so cached stores are rebuilt
ACTIVITIES_PER_USER = 100
TOPICS = 100
FOLLOWS = 10  # user feeds that each timeline:<user> follows
TAGS = (
    "green", "red", "blue", "amber", "violet", "teal", "news", "sport", "music", "film",
    "food", "travel", "tech", "science", "art", "books", "games", "health", "money", "pets",
)  # fmt: skip
LANGS = ("en", "en", "en", "fr", "de", "es", "pt", "ja")
TYPES = ("post",) * 14 + ("share",) * 3 + ("video",) * 2 + ("photo",)
WORDS = (
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "morning", "coffee",
    "city", "lights", "river", "walk", "weekend", "market", "fresh", "bread", "music",
    "festival", "tonight", "great", "match", "final", "score", "new", "release", "review",
    "trail", "running", "sunset", "photo", "garden", "update", "team", "meeting", "notes",
    "launch", "day", "thanks", "everyone",
)  # fmt: skip
TEXT_POOL = 2048
DAY_S = 86_400


def users_for(rows: int) -> int:
    """Users in a store of ``rows`` activities: about 100 activities each, so a user's feed
    page and a user_id query fill a page of 25 at every size (10k users at 1M)."""
    return max(1, rows // ACTIVITIES_PER_USER)


def rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_activities(rows: int, seed: int, *, prefix: str = "a") -> Iterator[dict[str, Any]]:
    """``rows`` activities as a client sends them: 2 feeds, ~100 chars of text, custom likes
    and lang, 0-3 filter tags, a location on 1 in 5, a future expires_at on 1 in 10."""
    rng = random.Random(seed)
    texts = []
    for _ in range(TEXT_POOL):
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < 100:
            words.append(rng.choice(WORDS))
        texts.append(" ".join(words)[:100])
    users = users_for(rows)
    now_s = int(time.time())
    for i in range(rows):
        user = f"u{rng.randrange(users)}"
        activity: dict[str, Any] = {
            "id": f"{prefix}{i:08d}",
            "type": rng.choice(TYPES),
            "feeds": [f"user:{user}", f"topic:t{rng.randrange(TOPICS)}"],
            "user_id": user,
            "text": texts[rng.randrange(TEXT_POOL)],
            "custom": {"likes": rng.randrange(1000), "lang": rng.choice(LANGS)},
        }
        tags = rng.randrange(4)
        if tags:
            activity["filter_tags"] = rng.sample(TAGS, tags)
        if rng.random() < 0.2:
            activity["location"] = {
                "lat": round(rng.uniform(-60, 70), 5),
                "lng": round(rng.uniform(-180, 180), 5),
            }
        if rng.random() < 0.1:
            activity["expires_at"] = rfc3339(now_s + rng.randrange(30 * DAY_S, 3 * 365 * DAY_S))
        yield activity


def stored_record(activity: dict[str, Any], created_at: int) -> dict[str, Any]:
    """The record the server stores for a new ``activity`` (as ``ActivitiesService._build`` makes
    it): every column of ``COLUMNS`` and every field of ``DOC_FIELDS``."""
    expires = activity.get("expires_at")
    location = activity.get("location")
    return {
        "id": activity["id"],
        "type": activity["type"],
        "user_id": activity["user_id"],
        "visibility": activity.get("visibility") or "public",
        "visibility_tag": activity.get("visibility_tag"),
        "parent_id": activity.get("parent_id"),
        "expires_at": (
            int(datetime.fromisoformat(expires).timestamp()) * 1_000_000_000 if expires else None
        ),
        "deleted_at": None,
        "created_at": created_at,
        "updated_at": created_at,
        "share_count": 0,
        "popularity": 0,
        "text": activity.get("text"),
        "feeds": list(activity["feeds"]),
        "attachments": [
            dict(a, custom=a.get("custom") or {}) for a in activity.get("attachments") or []
        ],
        "custom": dict(activity.get("custom") or {}),
        "restrict_replies": activity.get("restrict_replies") or "everyone",
        "location": (
            {"lat": float(location["lat"]), "lng": float(location["lng"])} if location else None
        ),
        "mentioned_user_ids": list(activity.get("mentioned_user_ids") or []),
        "poll_id": activity.get("poll_id"),
        "search_data": dict(activity.get("search_data") or {}),
        "filter_tags": list(activity.get("filter_tags") or []),
        "interest_tags": list(activity.get("interest_tags") or []),
        "edited_at": None,
    }


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- the server -------------------------------------------------------------------------------


def server_process(db: Path, log_dir: Path) -> ServerProcess:
    """``feedkit serve --db db`` on 127.0.0.1 and a free port, started; a context manager
    that stops it."""
    return spawn(
        db, api_key=API_KEY, api_secret=API_SECRET, timeout=STARTUP_TIMEOUT_S, log_dir=log_dir
    )


@contextmanager
def serving(db: Path, log_dir: Path) -> Iterator[str]:
    """``feedkit serve --db db`` on 127.0.0.1 and a free port; yields its URL."""
    with server_process(db, log_dir) as server:
        yield server.url


def connect(url: str) -> feedkit.Client:
    return feedkit.connect(base_url=url, api_key=API_KEY, api_secret=API_SECRET)


# -- 1. upsert ingest -------------------------------------------------------------------------

_STORED = (*COLUMNS, "mentions", "doc")  # what row_values() gives, in order
_UPSERT = (
    f"INSERT INTO activities ({', '.join(_STORED)}) "
    f"VALUES ({', '.join('?' * len(_STORED))}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _STORED if c not in ("id", "created_at"))
    + " RETURNING rid"
)


def ingest_raw(path: Path, activities: Sequence[dict[str, Any]]) -> float:
    """Seconds to upsert ``activities`` with sqlite3 alone, one transaction per batch: the
    ceiling a server on the same schema could reach."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        start = time.perf_counter()
        clock = time.time_ns()
        for batch in chunks(activities, BATCH):
            db.execute("BEGIN IMMEDIATE")
            for activity in batch:
                clock = max(time.time_ns(), clock + 1)
                record = stored_record(activity, clock)
                rid = db.execute(_UPSERT, row_values(record)).fetchone()[0]
                db.executemany(
                    "INSERT OR IGNORE INTO activity_keys VALUES (?, ?, ?)",
                    [(k, clock, rid) for k in activity_keys(record)],
                )
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
        check_count(db, len(activities))
        return elapsed
    finally:
        db.close()


def ingest_feedkit(url: str, activities: Sequence[dict[str, Any]], threads: int) -> float:
    """Seconds to upsert ``activities`` through HTTP in batches of 100, spread over
    ``threads`` client threads, each with its own client."""
    batches = list(chunks(activities, BATCH))
    clients = [connect(url) for _ in range(threads)]

    def work(k: int) -> None:
        for batch in batches[k::threads]:
            clients[k].upsert_activities(batch)

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(work, k) for k in range(threads)]:
                future.result()
        return time.perf_counter() - start
    finally:
        for client in clients:
            client.close()


def check_count(db: sqlite3.Connection, expected: int) -> None:
    stored = db.execute("SELECT count(*) FROM activities").fetchone()[0]
    if stored != expected:
        raise RuntimeError(f"expected {expected} stored activities, found {stored}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_ingest(rows: int, concurrency: int, work_dir: Path) -> list[str]:
    """The ingest section's lines: the raw ceiling, then feedkit at 1 and N threads."""
    activities = list(generate_activities(rows, seed=1, prefix="i"))
    runs: dict[int, float] = {}
    raw_rates: list[float] = []

    def raw(n: int) -> None:
        path = work_dir / f"raw-{n}.db"
        raw_rates.append(rows / ingest_raw(path, activities))
        remove_db(path)

    def served(threads: int) -> None:
        path = work_dir / f"ingest-{threads}.db"
        with serving(path, work_dir) as url:
            runs[threads] = rows / ingest_feedkit(url, activities, threads)
        check = sqlite3.connect(path)
        try:
            check_count(check, rows)
        finally:
            check.close()
        remove_db(path)

    # Raw runs are interleaved with the served ones so drift on the shared box hits both.
    raw(0)
    served(1)
    raw(1)
    if concurrency != 1:
        served(concurrency)
    for n in range(2, RAW_RUNS):
        raw(n)
    ceiling = statistics.median(raw_rates)
    lines = [
        f"1. upsert ingest: {rows:,} activities, batches of {BATCH}, fresh SQLite file per run",
        f"   raw sqlite3 upsert (ceiling)  {ceiling:>9,.0f} rows/s  "
        f"(median of {len(raw_rates)}: {', '.join(f'{r:,.0f}' for r in raw_rates)})",
    ]
    for threads, rate in runs.items():
        ratio = rate / ceiling
        label = f"feedkit serve, {threads} client{'s' if threads > 1 else ''}"
        lines.append(
            f"   {label:<30}{rate:>9,.0f} rows/s  ingest ratio feedkit/raw {ratio:.3f}x "
            f"(target >= {INGEST_TARGET}x) {verdict(ratio >= INGEST_TARGET)}"
        )
    return lines


# -- 2. read latency --------------------------------------------------------------------------


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def store_key(rows: int) -> str:
    """Cache key of a built store: its size and everything its content depends on."""
    digest = hashlib.sha256(
        "\n".join([GENERATOR_VERSION, SCHEMA, *COLUMNS, *DOC_FIELDS]).encode()
    ).hexdigest()[:12]
    return f"store-{rows}-{digest}.db"


def build_store(path: Path, rows: int, activities: Iterable[dict[str, Any]] | None = None) -> float:
    """Write a store of ``rows`` activities straight into the server's schema, with the
    ``users`` and ``feeds`` rows the server would have created; returns seconds taken.
    ``activities`` (``rows`` of them, as a client sends them) default to this benchmark's.

    The file is built under a temporary name and renamed at the end, so an interrupted build
    never leaves a half store in the cache. Like the server, it runs no ANALYZE.
    """
    start = time.perf_counter()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.building")
    remove_db(tmp)
    db = sqlite3.connect(tmp, isolation_level=None)
    done = False
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-262144")
        db.execute("PRAGMA temp_store=MEMORY")
        db.executescript(SCHEMA)
        # Indexes are cheaper built once at the end; running SCHEMA again recreates them.
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall():
            db.execute(f'DROP INDEX "{name}"')
        db.execute("CREATE TEMP TABLE staged_keys (k TEXT, created_at INTEGER, rid INTEGER)")
        insert = (
            f"INSERT INTO activities (rid, {', '.join(_STORED)}) "
            f"VALUES ({', '.join('?' * (len(_STORED) + 1))})"
        )
        users: dict[str, int] = {}
        feeds: dict[str, tuple[str, int]] = {}
        step = 10_000_000  # 10 ms between activities, ending now
        first = time.time_ns() - rows * step
        rid = 0
        db.execute("BEGIN")
        if activities is None:
            activities = generate_activities(rows, seed=2)
        for batch in chunks(activities, 10_000):
            values, keys = [], []
            for activity in batch:
                rid += 1
                created = first + rid * step
                record = stored_record(activity, created)
                values.append([rid, *row_values(record)])
                keys += [(k, created, rid) for k in activity_keys(record)]
                users.setdefault(record["user_id"], created)
                for fid in record["feeds"]:
                    feeds.setdefault(fid, (record["user_id"], created))
            db.executemany(insert, values)
            db.executemany("INSERT INTO staged_keys VALUES (?, ?, ?)", keys)
        db.execute(
            "INSERT INTO activity_keys SELECT k, created_at, rid FROM staged_keys "
            "ORDER BY k, created_at, rid"
        )
        db.executemany(
            "INSERT INTO users (id, created_at, updated_at, doc) VALUES (?, ?, ?, '{}')",
            [(u, at, at) for u, at in users.items()],
        )
        db.executemany(
            "INSERT INTO feeds (fid, group_id, id, created_by, created_at, updated_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, '{}')",
            [(f, *f.split(":", 1), by, at, at) for f, (by, at) in feeds.items()],
        )
        _add_timelines(db, users_for(rows), first + (rid + 1) * step)
        db.execute("COMMIT")
        db.execute("DROP TABLE temp.staged_keys")
        db.executescript(SCHEMA)
        db.execute("PRAGMA journal_mode=WAL")
        check_count(db, rows)
        done = True
    finally:
        db.close()
        if not done:
            remove_db(tmp)
    os.replace(tmp, path)
    return time.perf_counter() - start


def _add_timelines(db: sqlite3.Connection, users: int, at: int) -> None:
    """A ``timeline:u<N>`` feed per user following ``FOLLOWS`` user feeds, as the server's
    follow call writes them (feeds created by no user, one ``follows`` row each)."""
    rng = random.Random(5)
    follows = [
        (f"timeline:u{u}", f"user:u{target}", at, at)
        for u in range(users)
        for target in rng.sample(range(users), min(FOLLOWS, users))
    ]
    db.executemany(
        "INSERT OR IGNORE INTO feeds (fid, group_id, id, created_by, created_at, updated_at, "
        "doc) VALUES (?, ?, ?, NULL, ?, ?, '{}')",
        [
            (fid, *fid.split(":", 1), at, at)
            for fid in dict.fromkeys(f for row in follows for f in row[:2])
        ],
    )
    db.executemany(
        "INSERT INTO follows (source, target, created_at, updated_at) VALUES (?, ?, ?, ?)",
        follows,
    )


def cached_store(rows: int, cache_dir: Path) -> tuple[Path, str]:
    """The store of ``rows`` activities in ``cache_dir``, built when missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / store_key(rows)
    if path.exists():
        return path, "cached"
    return path, f"built in {build_store(path, rows):.1f}s"


# -- the engaged stores: the same activities, with reactions and comments -------------------

ENGAGEMENT_VERSION = "2"  # bump when the generated engagement changes
REACTION_TYPES = ("like",) * 6 + ("love",) * 2 + ("haha", "wow", "sad")
REACTION_WEIGHTS = (40, 20, 15, 10, 8, 7)  # of 0, 1, ... 5 reactions on a usual activity
COMMENT_WEIGHTS = (55, 25, 12, 8)  # of 0, 1, 2, 3 comments on a usual activity
HOT_SHARE = 0.003  # activities with hundreds of reactions and comments
HOT_REACTIONS = (100, 600)
HOT_COMMENTS = (50, 300)
HOT_REPLIES = 0.3  # of a hot activity's comments, the share that answer an earlier one
REACTORS = 1_000  # at least this many users react and comment, whatever the store's size


def engaged_key(rows: int) -> str:
    """Cache key of an engaged store: its plain store's key, and everything the engagement
    written over it depends on."""
    digest = hashlib.sha256(
        "\n".join([ENGAGEMENT_VERSION, store_key(rows), *REACTION_COLUMNS, *COMMENT_INSERTED,
                   *COMMENT_DOC_DEFAULTS]).encode()
    ).hexdigest()[:12]  # fmt: skip
    return f"engaged-{rows}-{digest}.db"


def generate_engagement(
    activities: Iterable[tuple[str, int]], users: int, until: int, seed: int
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """For each ``(id, created_at)`` activity, its reactions and comments as rows of the
    server's tables (``reactions`` in ``REACTION_COLUMNS`` order, comments in
    ``COMMENT_INSERTED`` order then the doc), made between its creation and ``until``: most
    activities get 0-5 reactions of a few types and 0-3 comments, a hot ``HOT_SHARE`` hundreds
    of each, some of their comments replies."""
    rng = random.Random(seed)
    reactors = max(users, REACTORS)
    texts = [" ".join(rng.choices(WORDS, k=rng.randrange(4, 14))) for _ in range(TEXT_POOL)]
    empty = orjson.dumps({})
    for aid, created in activities:
        hot = rng.random() < HOT_SHARE
        if hot:
            n_reactions = rng.randrange(*HOT_REACTIONS)
            n_comments = rng.randrange(*HOT_COMMENTS)
        else:
            n_reactions = rng.choices(range(len(REACTION_WEIGHTS)), REACTION_WEIGHTS)[0]
            n_comments = rng.choices(range(len(COMMENT_WEIGHTS)), COMMENT_WEIGHTS)[0]
        # One draw per time, whatever the span (randrange draws more for some spans), so the
        # same seed makes the same reactions and comments in every build.
        span = max(2, until - created)
        reactions = []
        for user in sorted(rng.sample(range(reactors), n_reactions)):
            at = created + 1 + int(rng.random() * (span - 1))
            record = dict(zip(REACTION_COLUMNS, (ACTIVITY, aid, f"u{user}", rng.choice(
                REACTION_TYPES), aid, empty, at, at), strict=True))  # fmt: skip
            reactions.append(tuple(record[c] for c in REACTION_COLUMNS))
        comments: list[dict[str, Any]] = []
        for at in sorted(created + 1 + int(rng.random() * (span - 1)) for _ in range(n_comments)):
            parent = rng.choice(comments)["id"] if comments and rng.random() < (
                HOT_REPLIES if hot else 0) else None  # fmt: skip
            comments.append({
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "object_type": ACTIVITY, "object_id": aid, "parent_id": parent,
                "user_id": f"u{rng.randrange(reactors)}", "created_at": at, "updated_at": at,
                "text": texts[rng.randrange(TEXT_POOL)],
            })  # fmt: skip
        yield (
            reactions,
            [(*(c[k] for k in COMMENT_INSERTED), encode_comment_doc(c)) for c in comments],
        )


def build_engaged_store(plain: Path, path: Path, rows: int) -> float:
    """Copy the plain store of ``rows`` activities and write reactions and comments on its
    activities straight into the server's tables (and the ``users`` rows of their authors,
    as the server makes them); returns seconds taken. Built under a temporary name, like
    :func:`build_store`."""
    start = time.perf_counter()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.building")
    remove_db(tmp)
    shutil.copyfile(plain, tmp)
    db = sqlite3.connect(tmp, isolation_level=None)
    done = False
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-262144")
        indexes = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('reactions', 'comments')"
        )]  # fmt: skip
        for name in indexes:  # cheaper built once at the end; SCHEMA recreates them
            db.execute(f'DROP INDEX "{name}"')
        until = time.time_ns()
        activities = db.execute("SELECT id, created_at FROM activities ORDER BY rid").fetchall()
        reaction_marks = ", ".join("?" * len(REACTION_COLUMNS))
        comment_marks = ", ".join("?" * (len(COMMENT_INSERTED) + 1))
        made: list[tuple[Any, ...]] = []
        db.execute("BEGIN")
        for batch in chunks(
            generate_engagement(activities, users_for(rows), until, seed=6), 10_000
        ):
            db.executemany(
                f"INSERT INTO reactions ({', '.join(REACTION_COLUMNS)}) VALUES ({reaction_marks})",
                [r for reactions, _ in batch for r in reactions],
            )
            made += [c for _, comments in batch for c in comments]
        made.sort(key=lambda c: c[COMMENT_INSERTED.index("created_at")])  # rids in write order
        db.executemany(
            f"INSERT INTO comments ({', '.join(COMMENT_INSERTED)}, doc) VALUES ({comment_marks})",
            made,
        )
        db.execute(
            "INSERT OR IGNORE INTO users (id, created_at, updated_at, doc) "
            "SELECT user_id, min(created_at), min(created_at), '{}' FROM "
            "(SELECT user_id, created_at FROM reactions UNION ALL "
            "SELECT user_id, created_at FROM comments) GROUP BY user_id"
        )
        db.execute("COMMIT")
        db.executescript(SCHEMA)
        db.execute("PRAGMA journal_mode=WAL")
        done = True
    finally:
        db.close()
        if not done:
            remove_db(tmp)
    os.replace(tmp, path)
    return time.perf_counter() - start


def cached_engaged_store(rows: int, cache_dir: Path) -> tuple[Path, str]:
    """The engaged store of ``rows`` activities in ``cache_dir``, built when missing (from
    the plain store, built first when missing too)."""
    path = cache_dir / engaged_key(rows)
    if path.exists():
        return path, "cached"
    plain, _ = cached_store(rows, cache_dir)
    return path, f"built in {build_engaged_store(plain, path, rows):.1f}s"


def engagement_counts(path: Path) -> tuple[int, int]:
    """Reactions and comments held by a store."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (db.execute("SELECT count(*) FROM reactions").fetchone()[0],
                db.execute("SELECT count(*) FROM comments").fetchone()[0])  # fmt: skip
    finally:
        db.close()


@dataclass(frozen=True)
class ReadCase:
    """One kind of read: ``prepare(client, users, n)`` returns ``n`` requests to time, for a
    store of ``users`` users."""

    label: str
    prepare: Callable[[feedkit.Client, int, int], list[Callable[[], feedkit.Page]]]


def _feed_page(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    rng = random.Random(3)
    return [
        partial(client.read_feed, f"user:u{rng.randrange(users)}", limit=PAGE) for _ in range(n)
    ]


def _by_user(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    rng = random.Random(4)
    return [
        partial(client.query_activities, {"user_id": f"u{rng.randrange(users)}"}, limit=PAGE)
        for _ in range(n)
    ]


def _timeline(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    rng = random.Random(5)
    return [
        partial(client.read_feed, f"timeline:u{rng.randrange(users)}", limit=PAGE) for _ in range(n)
    ]


_GREEN = {"filter_tags": {"$contains": "green"}}


def _by_tag(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    return [partial(client.query_activities, _GREEN, limit=PAGE)] * n


def _by_tag_page2(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    cursor = client.query_activities(_GREEN, limit=PAGE).next
    if cursor is None:
        raise RuntimeError("the filter_tags query has no second page; use a bigger store")
    return [partial(client.query_activities, _GREEN, limit=PAGE, next=cursor)] * n


def _feed_page_as(client: feedkit.Client, users: int, n: int) -> list[Callable[[], feedkit.Page]]:
    """Case (a)'s pages, each read as a user (the viewer's own reactions are read too)."""
    rng = random.Random(3)
    return [
        partial(client.read_feed, f"user:u{rng.randrange(users)}", limit=PAGE,
                user_id=f"u{rng.randrange(users)}")
        for _ in range(n)
    ]  # fmt: skip


READ_CASES = (
    ReadCase("(a) read_feed user:u<N>", _feed_page),
    ReadCase("(b) query user_id=u<N>", _by_user),
    ReadCase("(c) query filter_tags green", _by_tag),
    ReadCase("(d) (c) page 2 via next", _by_tag_page2),
    ReadCase("(e) read_feed timeline:u<N>", _timeline),
)
# Read on an engaged store and on the plain store of the same size, side by side.
ENGAGED_CASE = ReadCase("(f) (a) as user:u<M>", _feed_page_as)


def _timed(request: Callable[[], feedkit.Page]) -> float:
    start = time.perf_counter()
    page = request()
    elapsed = time.perf_counter() - start
    if len(page) != PAGE:
        raise RuntimeError(f"expected a full page of {PAGE}, got {len(page)}")
    return elapsed


def _p95(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def _interleaved(
    clients: Sequence[feedkit.Client],
    sizes: Sequence[int],
    case: ReadCase,
    requests: int,
    warmup: int,
) -> tuple[list[float], list[float]]:
    """Milliseconds of ``requests`` timed reads of ``case`` on each of two servers, after
    ``warmup``, alternating which goes first so neither always follows the other."""
    total = warmup + requests
    plans = [
        case.prepare(client, users_for(size), total)
        for client, size in zip(clients, sizes, strict=True)
    ]
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(total):
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            elapsed = _timed(plans[k][i])
            if i >= warmup:
                times[k].append(elapsed * 1000)
    return times


def _ratio_line(label: str, times: tuple[list[float], list[float]], kind: str, name: str) -> str:
    """One case's line: median and p95 of both, and the ratio of the second to the first."""
    a50, b50 = statistics.median(times[0]), statistics.median(times[1])
    a95, b95 = _p95(times[0]), _p95(times[1])
    ratio = b50 / a50
    return (
        f"   {label:<30}{a50:>9.2f}{a95:>9.2f}{b50:>9.2f}{b95:>9.2f}   "
        f"{kind} ratio {name} {ratio:.2f}x (p95 {b95 / a95:.2f}x) "
        f"(target <= {READ_TARGET}x) {verdict(ratio <= READ_TARGET)}"
    )


def _head(first: str, second: str) -> list[str]:
    head = (
        f"   {'request':<30}{first + ' p50':>9}{first + ' p95':>9}{second + ' p50':>9}"
        f"{second + ' p95':>9}   ratio of medians (of p95s)"
    )
    return [head, "   " + "-" * (len(head) - 3)]


def bench_reads(
    small: int, big: int, requests: int, warmup: int, cache_dir: Path, work_dir: Path
) -> Iterator[str]:
    """The read section's lines, one per case as it completes: the small store against the
    big one, then each engaged store against the plain one of its size."""
    stores = {size: cached_store(size, cache_dir) for size in (small, big)}
    engaged = {size: cached_engaged_store(size, cache_dir) for size in (small, big)}
    yield from [
        f"2. read latency through HTTP, limit {PAGE}: {requests} requests per case after "
        f"{warmup} warmup, two servers side by side with requests interleaved",
        *(
            f"   store of {size:,} activities, {users_for(size):,} users, {TOPICS} topics, "
            f"timelines following {FOLLOWS} user feeds: {how} ({path})"
            for size, (path, how) in stores.items()
        ),
    ]
    for size, (path, how) in engaged.items():
        reactions, comments = engagement_counts(path)
        yield (
            f"   engaged store of {size:,}: the same activities with {reactions:,} reactions "
            f"and {comments:,} comments ({HOT_SHARE:.1%} hot): {how} ({path})"
        )
    s_lbl, b_lbl = size_label(small), size_label(big)
    yield from _head(s_lbl, b_lbl)
    with ExitStack() as stack:

        def client(path: Path) -> feedkit.Client:
            return stack.enter_context(connect(stack.enter_context(serving(path, work_dir))))

        plain = {size: client(path) for size, (path, _) in stores.items()}
        for case in READ_CASES:
            times = _interleaved((plain[small], plain[big]), (small, big), case, requests, warmup)
            yield _ratio_line(case.label, times, "read", f"{b_lbl}/{s_lbl}")
        yield "   a feed page with reactions and comments against the same page without"
        yield from _head("pl", "eng")
        for size, (path, _) in engaged.items():
            times = _interleaved(
                (plain[size], client(path)), (size, size), ENGAGED_CASE, requests, warmup
            )
            label = f"{ENGAGED_CASE.label[:4]}{size_label(size)} {ENGAGED_CASE.label[4:]}"
            yield _ratio_line(label, times, "engagement", "engaged/plain")
    yield "   (milliseconds per request, client call included)"


def size_label(n: int) -> str:
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale and n % (scale // 10) == 0:
            return f"{n / scale:g}{unit}"
    return str(n)


# -- the command ------------------------------------------------------------------------------


FULL = {"rows": 100_000, "small": 10_000, "big": 1_000_000, "requests": 200, "warmup": 20}
QUICK = {**FULL, "rows": 5_000, "big": 50_000, "requests": 40, "warmup": 5}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = (
        ("rows", "activities to ingest"),
        ("small", "activities in the small store"),
        ("big", "activities in the big store"),
        ("requests", "timed requests per read case"),
        ("warmup", "untimed requests per read case, first"),
    )
    for name, what in sizes:
        parser.add_argument(
            f"--{name}", type=int, help=f"{what} (default {FULL[name]:,}; --quick {QUICK[name]:,})"
        )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="client threads of the 2nd ingest run"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "feedkit-bench-cache",
        help="where built stores are kept between runs (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: the smaller defaults shown above"
    )
    parser.add_argument(
        "--only", choices=("ingest", "reads"), help="run one part only (default: both)"
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("rows", "small", "big", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.requests < 2 or args.warmup < 0:
        parser.error("--requests must be at least 2 and --warmup at least 0")
    if args.small >= args.big:
        parser.error("--small must be smaller than --big")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"feedkit server benchmark: python {platform.python_version()}, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load {load:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="feedkit-bench-") as tmp:
        work_dir = Path(tmp)
        if args.only != "reads":
            for line in bench_ingest(args.rows, args.concurrency, work_dir):
                print(line, flush=True)
            print(flush=True)
        if args.only != "ingest":
            for line in bench_reads(
                args.small, args.big, args.requests, args.warmup, args.cache_dir, work_dir
            ):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
