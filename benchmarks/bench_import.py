"""Benchmark of the bulk import: Parquet -> request-ready JSON -> ``feedkit serve``, as ratios.

The machine this runs on is shared and noisy, so every figure is printed beside a peer
measured in the same run on the same generated Parquet file, and targets are judged on the
ratio:

1. Conversion rate: ``feedkit.convert.convert`` (validated, request-ready JSON) against the
   loop a user writes today (``pd.read_parquet``, ``to_dict("records")``, the official SDK's
   ``ActivityRequest`` models, JSON) and against a vectorised reference (polars expressions
   building the same fields, ``write_ndjson``). Target: feedkit >= 0.5x polars.
2. End-to-end import into a fresh ``feedkit serve``: ``import_activities`` against the official
   SDK's ``upsert_activities`` loop (batches of 100, one thread) and against the ceiling of a
   raw SQLite upsert of the same activities. Targets: >= 10x the SDK, >= 0.25x the raw ceiling.
3. Peak RSS of importing ``--big`` and twice as many rows, each in a fresh child process (a dry
   run: read, convert, batch, no sending), plus one sending run of ``--big`` rows into a
   server. Target: twice the rows within 10% of the peak.

Run ``python benchmarks/bench_import.py`` (``--quick`` for a smoke run, ``--help`` for options).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from bench_server import (
    API_KEY,
    API_SECRET,
    connect,
    ingest_raw,
    remove_db,
    serving,
    size_label,
    verdict,
)

import feedkit
from feedkit.convert import convert

CONVERT_TARGET = 0.5  # feedkit rows/s over polars rows/s, at least
SDK_TARGET = 10.0  # feedkit import rows/s over the SDK loop's rows/s, at least
RAW_TARGET = 0.25  # feedkit import rows/s over raw SQLite upsert rows/s, at least
RSS_TARGET = 1.10  # peak RSS at 2x the rows over the peak at 1x, at most
BATCH = 100
CONCURRENCY = 4
RUNS = 3  # conversion, raw-ceiling and dry-run RSS runs: cheap, so take the median of a few
CHILD_TIMEOUT_S = 3600.0  # one child import (the sending run of 1M rows takes minutes)

# -- the data ---------------------------------------------------------------------------------

GENERATOR_VERSION = "1"  # bump when the generated data changes, so cached files are rebuilt
ROW_GROUP = 50_000  # rows generated and written at a time: generation memory stays flat
POSTS_PER_AUTHOR = 50
TOPICS = (
    "python", "data-eng", "ml", "rust", "webdev", "cycling", "running", "climbing", "coffee",
    "baking", "gardening", "photography", "travel", "books", "jazz", "football", "chess",
    "boardgames", "film", "diy",
)  # fmt: skip
TAGS = (
    "howto", "news", "question", "showcase", "til", "meta", "rant", "review", "release",
    "event", "job", "help", "opinion", "tutorial", "meme", "photo", "video", "longread",
    "beginner", "advanced", "tools", "community", "weekend", "announcement", "poll",
)  # fmt: skip
LANGS = ("en", "es", "ja", "de", "fr")
LANG_WEIGHTS = (0.79, 0.07, 0.05, 0.05, 0.04)
CITIES = (
    (48.8566, 2.3522), (51.5072, -0.1276), (40.7128, -74.006), (35.6762, 139.6503),
    (52.52, 13.405), (41.3874, 2.1686), (37.7749, -122.4194), (-33.8688, 151.2093),
    (45.5019, -73.5674), (59.3293, 18.0686), (-23.5505, -46.6333), (19.4326, -99.1332),
)  # fmt: skip
OPENERS = (
    "Just finished", "Spent the morning on", "Finally tried", "Hot take about", "Quick tip on",
    "Anyone else struggling with", "Three weeks into", "Loving", "Notes from", "Day 4 of",
    "Unpopular opinion on", "Small win today with", "Can't stop thinking about",
)  # fmt: skip
THINGS = (
    "type hints", "a 120 km gravel loop", "sourdough with 80% hydration", "the borrow checker",
    "migrating 4 TB from Postgres to Parquet", "a Bach partita", "our new espresso grinder",
    "the Sicilian defence", "tubeless tires", "a 900-line SQL view", "winter tomatoes",
    "la crème brûlée de ma grand-mère", "東京の夜景", "the café on the corner", "film photography",
    "a bikepacking weekend", "incremental dbt models", "\"clean code\" debates", "my first 10k",
)  # fmt: skip
COMMENTS = (
    "and it was worth every minute", "would do it again tomorrow", "still not sure how I feel",
    "the docs were wrong, of course", "took three tries but it works 🎉",
    "my team thinks I'm crazy", "results below, feedback welcome", "c'était génial",
    "lesson learned: read the manual first", "10/10, no notes ✨",
    "it broke twice, then it clicked", "the hardest part was starting",
    "wrote up the details on the blog", "ask me anything about it",
)  # fmt: skip
TAILS = (
    "", "", "", "#weekend", "🚀", "(thread)", "https://example.com/notes",
    "cc @u0000042", "more soon…", "👇", "#til", "🙏",
)  # fmt: skip
TITLES = (
    "Weekly notes", "What I learned", "A small guide", "Field report", "Release day",
    "Lessons from production", "Gear review", "Recipe", "Trip report", "Reading list",
)  # fmt: skip
TEXT_POOL = 4096
DAY_S = 86_400
EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z: the first post

POSTS_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("author", pa.string()),
        ("topic", pa.string()),
        ("body", pa.string()),
        ("title", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("expires", pa.timestamp("us", tz="UTC")),
        ("tags", pa.list_(pa.string())),
        ("lat", pa.float64()),
        ("lng", pa.float64()),
        ("likes", pa.int64()),
        ("lang", pa.string()),
        ("image", pa.string()),
    ]
)

# The mapping a user writes for these posts (data/posts.toml without the columns it lacks).
MAPPING = feedkit.Mapping.build(
    {
        "id": "{post_id}",
        "type": "post",
        "user_id": "{author}",
        "feeds": ["user:{author}", "topic:{topic}"],
        "text": "{body}",
        "expires_at": "{expires}",
        "filter_tags": "{tags}",
        "location": {"lat": "lat", "lng": "lng"},
        "custom": ["likes", "lang"],
        "search_data": {"title": "{title}"},
        "attachments": [{"type": "image", "image_url": "{image}"}],
    }
)


def post_texts(rng: random.Random) -> list[str]:
    """Post bodies of about 100-200 characters, a few with a paragraph break."""
    texts = []
    for _ in range(TEXT_POOL):
        text = f"{rng.choice(OPENERS)} {rng.choice(THINGS)}, {rng.choice(COMMENTS)}."
        while len(text) < rng.randrange(100, 190):
            sep = "\n\n" if rng.random() < 0.05 else " "
            text += f"{sep}{rng.choice(OPENERS)} {rng.choice(THINGS)}: {rng.choice(COMMENTS)}."
        # Room for a tail (a hashtag, a link) of up to 26 characters; cut at a word.
        texts.append(text if len(text) <= 170 else text[:170].rsplit(" ", 1)[0] + "…")
    return texts


def _posts(start: int, n: int, authors: pa.Array, texts: pa.Array, seed: int) -> pa.RecordBatch:
    """Rows ``start .. start+n`` of the posts: vectorised, and the same for a given seed."""
    rng = np.random.default_rng([seed, start])
    index = pa.array(np.arange(start, start + n, dtype=np.int64))
    post_id = pc.binary_join_element_wise(
        "p", pc.utf8_lpad(pc.cast(index, pa.string()), 9, "0"), ""
    )
    # A few prolific authors and a long tail, as in any community.
    author = authors.take(pa.array((len(authors) * rng.random(n) ** 2.5).astype(np.int64)))
    topic = pa.array(TOPICS).take(pa.array(rng.integers(0, len(TOPICS), n)))
    tail = pa.array(TAILS).take(pa.array(rng.integers(0, len(TAILS), n)))
    body = pc.utf8_trim_whitespace(
        pc.binary_join_element_wise(texts.take(pa.array(rng.integers(0, len(texts), n))), tail, " ")
    )
    title = pa.array(TITLES).take(pa.array(rng.integers(0, len(TITLES), n)))
    title = pc.if_else(pa.array(rng.random(n) < 0.45), title, pa.scalar(None, pa.string()))
    created_s = EPOCH + index.to_numpy() * 20 + rng.integers(0, 20, n)
    created = pa.array(created_s * 1_000_000, pa.timestamp("us", tz="UTC"))
    expires_s = created_s + rng.integers(365 * DAY_S, 3 * 365 * DAY_S, n)
    expires = pa.array(
        expires_s * 1_000_000, pa.timestamp("us", tz="UTC"), mask=rng.random(n) >= 0.1
    )
    # 0-4 distinct tags per post: the first k of a random permutation of the vocabulary.
    counts = rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.12, 0.08])
    order = np.argsort(rng.random((n, len(TAGS))), axis=1)[:, :4]
    picked = order[np.arange(4)[None, :] < counts[:, None]]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    tags = pa.ListArray.from_arrays(pa.array(offsets), pa.array(TAGS).take(pa.array(picked)))
    placed = rng.random(n) < 0.3
    city = np.array(CITIES)[rng.integers(0, len(CITIES), n)]
    jitter = rng.uniform(-0.06, 0.06, (n, 2))
    lat = pa.array(np.round(city[:, 0] + jitter[:, 0], 5), mask=~placed)
    lng = pa.array(np.round(city[:, 1] + jitter[:, 1], 5), mask=~placed)
    likes = pa.array(np.minimum(np.exp(rng.normal(1.8, 1.6, n)), 60_000).astype(np.int64))
    lang = pa.array(LANGS).take(pa.array(rng.choice(len(LANGS), n, p=LANG_WEIGHTS)))
    image = pc.binary_join_element_wise("https://cdn.example.com/img/", post_id, ".jpg", "")
    image = pc.if_else(pa.array(rng.random(n) < 0.2), image, pa.scalar(None, pa.string()))
    columns = [post_id, author, topic, body, title, created, expires, tags, lat, lng, likes,
               lang, image]  # fmt: skip
    return pa.RecordBatch.from_arrays(columns, schema=POSTS_SCHEMA)


def write_posts(path: Path, rows: int, seed: int = 7) -> float:
    """Write ``rows`` posts to a Parquet file (zstd, row groups of ``ROW_GROUP``), generated
    and written one row group at a time; returns seconds taken. The file appears under its
    name only when complete."""
    started = time.perf_counter()
    rng = random.Random(seed)
    texts = pa.array(post_texts(rng))
    authors = pa.array([f"u{i:07d}" for i in range(max(10, rows // POSTS_PER_AUTHOR))])
    tmp = path.with_name(f"{path.name}.{os.getpid()}.writing")
    try:
        with pq.ParquetWriter(tmp, POSTS_SCHEMA, compression="zstd") as writer:
            for start in range(0, rows, ROW_GROUP):
                batch = _posts(start, min(ROW_GROUP, rows - start), authors, texts, seed)
                writer.write_batch(batch, row_group_size=ROW_GROUP)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return time.perf_counter() - started


def cached_posts(rows: int, cache_dir: Path) -> tuple[Path, str]:
    """The Parquet file of ``rows`` posts in ``cache_dir``, written when missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"posts-{rows}-g{GENERATOR_VERSION}-pa{pa.__version__}.parquet"
    if path.exists():
        return path, "cached"
    return path, f"written in {write_posts(path, rows):.1f}s"


# -- 1. conversion ----------------------------------------------------------------------------


def convert_feedkit(path: Path) -> tuple[float, int]:
    """Seconds to stream ``path`` through ``feedkit.convert.convert``, and rows converted.
    Every JSON text is touched (its length summed) so nothing is left lazy."""
    start = time.perf_counter()
    _, batches = convert(path, MAPPING)
    rows = chars = 0
    for batch in batches:
        if batch.errors:
            raise RuntimeError(f"the generated data should be valid: {batch.errors[:3]}")
        rows += len(batch.json)
        chars += pc.sum(pc.binary_length(batch.json)).as_py() or 0
    elapsed = time.perf_counter() - start
    if not chars:
        raise RuntimeError("feedkit wrote no JSON")
    return elapsed, rows


def _present(value: Any) -> bool:
    """Not None, NaN or NaT (what a pandas record holds for a missing value)."""
    return value is not None and value == value


def sdk_request(row: dict[str, Any]) -> Any:
    """The official SDK's model of one post, built field by field the way its docs show."""
    from getstream.models import ActivityRequest, Attachment, Location

    lat, lng, expires, title, image = (row[k] for k in ("lat", "lng", "expires", "title", "image"))
    tags = [str(t) for t in row["tags"]] if row["tags"] is not None else []
    return ActivityRequest(
        type="post",
        feeds=[f"user:{row['author']}", f"topic:{row['topic']}"],
        id=row["post_id"],
        user_id=row["author"],
        text=row["body"],
        expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ") if _present(expires) else None,
        filter_tags=tags or None,
        location=Location(lat=lat, lng=lng) if _present(lat) and _present(lng) else None,
        custom={"likes": int(row["likes"]), "lang": row["lang"]},
        search_data={"title": title} if _present(title) else None,
        attachments=(
            [Attachment(custom={}, type="image", image_url=image)] if _present(image) else None
        ),
    )


def read_frame(path: Path) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    df = pd.read_parquet(path)
    return df, time.perf_counter() - start


def convert_naive(df: pd.DataFrame, subset: int) -> float:
    """Seconds for the loop a user writes today over the first ``subset`` rows of ``df``:
    records, the SDK's models, and each model's JSON (the SDK's ``to_dict`` then ``json``)."""
    import getstream.models  # noqa: F401  (imported untimed: ~1 s of dataclass set-up)

    start = time.perf_counter()
    chars = 0
    for row in df.iloc[:subset].to_dict("records"):
        chars += len(json.dumps(sdk_request(row).to_dict()))
    elapsed = time.perf_counter() - start
    if not chars:
        raise RuntimeError("the naive loop wrote no JSON")
    return elapsed


def convert_polars(path: Path) -> float | None:
    """Seconds for a vectorised reference: polars builds the same fields from the same file
    and writes NDJSON to memory. None when polars is not installed.

    It is not the same job, and the differences favour polars: it validates nothing, writes
    absent fields as ``null`` instead of leaving them out (and attachments without their
    empty ``custom``), holds the whole file in memory where feedkit streams batches, and
    uses every core."""
    try:
        import polars as pl
    except ImportError:
        return None
    start = time.perf_counter()
    df = pl.read_parquet(path, columns=MAPPING.columns)
    tags, lat, lng = pl.col("tags"), pl.col("lat"), pl.col("lng")
    out = df.select(
        id=pl.col("post_id"),
        type=pl.lit("post"),
        user_id=pl.col("author"),
        feeds=pl.concat_list(
            pl.format("user:{}", pl.col("author")), pl.format("topic:{}", pl.col("topic"))
        ),
        text=pl.col("body"),
        expires_at=pl.col("expires").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        filter_tags=pl.when(tags.list.len() > 0).then(tags),
        location=pl.when(lat.is_not_null() & lng.is_not_null()).then(pl.struct(lat=lat, lng=lng)),
        custom=pl.struct("likes", "lang"),
        search_data=pl.when(pl.col("title").is_not_null()).then(pl.struct("title")),
        attachments=pl.when(pl.col("image").is_not_null()).then(
            pl.concat_list(pl.struct(type=pl.lit("image"), image_url=pl.col("image")))
        ),
    )
    buffer = io.BytesIO()
    out.write_ndjson(buffer)
    elapsed = time.perf_counter() - start
    if not buffer.tell():
        raise RuntimeError("polars wrote no JSON")
    return elapsed


def _polars_threads() -> int:
    import polars as pl

    return int(pl.thread_pool_size())


def median_of(rates: Sequence[float]) -> str:
    return f"median of {len(rates)}: {', '.join(f'{r:,.0f}' for r in rates)}"


def bench_conversion(path: Path, rows: int, subset: int) -> Iterator[str]:
    """The conversion section's lines."""
    subset = min(subset, rows)
    yield f"1. conversion: {rows:,} rows of Parquet -> request-ready activity JSON, in memory"
    feedkit_rates: list[float] = []
    polars_rates: list[float] = []
    for _ in range(RUNS):  # alternated, so drift on the shared box hits both
        elapsed, converted = convert_feedkit(path)
        if converted != rows:
            raise RuntimeError(f"feedkit converted {converted:,} of {rows:,} rows")
        feedkit_rates.append(rows / elapsed)
        polars_s = convert_polars(path)
        if polars_s is not None:
            polars_rates.append(rows / polars_s)
    df, read_s = read_frame(path)
    loop_s = convert_naive(df, subset)
    del df
    # The read is of the whole file; the loop is timed on a subset and scaled to all rows.
    naive = rows / (read_s + loop_s * rows / subset)
    fk = statistics.median(feedkit_rates)
    yield (f"   {'feedkit convert()':<34}{fk:>11,.0f} rows/s  ({median_of(feedkit_rates)})")
    yield (
        f"   {'naive pandas + SDK models':<34}{naive:>11,.0f} rows/s  (read_parquet "
        f"{read_s:.2f}s for all rows, model loop on {subset:,} rows: "
        f"{subset / loop_s:,.0f} rows/s)"
    )
    if polars_rates:
        pl_rate = statistics.median(polars_rates)
        yield (
            f"   {'polars expressions + write_ndjson':<34}{pl_rate:>11,.0f} rows/s  "
            f"({median_of(polars_rates)}; {_polars_threads()} threads, no validation, "
            "nulls written)"
        )
    yield f"   conversion ratio feedkit/naive {fk / naive:.2f}x (no target)"
    if polars_rates:
        ratio = fk / pl_rate
        yield (
            f"   conversion ratio feedkit/polars {ratio:.2f}x (target >= {CONVERT_TARGET}x) "
            f"{verdict(ratio >= CONVERT_TARGET)}"
        )
    else:
        yield (
            "   conversion ratio feedkit/polars skipped: polars is not installed "
            "(pip install polars to measure it)"
        )


# -- 2. end-to-end import ---------------------------------------------------------------------


def _stored(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM activities").fetchone()[0])
    finally:
        conn.close()


def import_feedkit(path: Path, rows: int, work_dir: Path) -> float:
    """Rows/s of ``import_activities`` from ``path`` into a fresh server."""
    db = work_dir / "import-feedkit.db"
    with serving(db, work_dir) as url, connect(url) as client:
        report = feedkit.import_activities(
            client, path, MAPPING, concurrency=CONCURRENCY, batch_size=BATCH, progress=False
        )
    if not report.ok or report.acknowledged != rows:
        raise RuntimeError(f"the feedkit import did not store every row:\n{report.summary()}")
    stored = _stored(db)
    remove_db(db)
    if stored != rows:
        raise RuntimeError(f"expected {rows:,} stored activities, found {stored:,}")
    return rows / report.duration


def import_sdk(path: Path, rows: int, subset: int, work_dir: Path) -> tuple[float, float]:
    """Rows/s of the official SDK's loop: ``pd.read_parquet`` (prorated to ``subset``), then
    ``upsert_activities`` of ``ActivityRequest`` models in batches of 100 from one thread, on
    the first ``subset`` rows; and the rows/s of its send loop alone."""
    import getstream.models  # noqa: F401  (imported untimed, as in convert_naive)
    from getstream import Stream

    db = work_dir / "import-sdk.db"
    with serving(db, work_dir) as url:
        client = Stream(api_key=API_KEY, api_secret=API_SECRET, base_url=url, timeout=60.0)
        try:
            df, read_s = read_frame(path)
            start = time.perf_counter()
            records = df.iloc[:subset].to_dict("records")
            for i in range(0, subset, BATCH):
                client.feeds.upsert_activities(
                    activities=[sdk_request(row) for row in records[i : i + BATCH]]
                )
            loop_s = time.perf_counter() - start
            del df, records
        finally:
            client.close()
    stored = _stored(db)
    remove_db(db)
    if stored != subset:
        raise RuntimeError(f"expected {subset:,} stored activities, found {stored:,}")
    return subset / (read_s * subset / rows + loop_s), subset / loop_s


def bench_import(path: Path, rows: int, subset: int, work_dir: Path) -> Iterator[str]:
    """The end-to-end section's lines."""
    subset = min(subset, rows)
    yield (
        f"2. end-to-end import of {rows:,} rows into a fresh feedkit serve + SQLite file per "
        f"run, batches of {BATCH}"
    )
    raw_rates: list[float] = []

    def raw(n: int) -> None:
        # The same activities feedkit sends, built untimed and dropped after each run, so
        # the runs in this process never share the heap with them.
        activities = feedkit.to_activities(path, MAPPING).activities
        db = work_dir / f"raw-{n}.db"
        raw_rates.append(rows / ingest_raw(db, activities))
        remove_db(db)

    # Raw runs are interleaved with the served ones so drift on the shared box hits all.
    raw(0)
    fk = import_feedkit(path, rows, work_dir)
    raw(1)
    sdk, sdk_send = import_sdk(path, rows, subset, work_dir)
    for n in range(2, RUNS):
        raw(n)
    ceiling = statistics.median(raw_rates)
    yield (
        f"   {'raw sqlite3 upsert (ceiling)':<34}{ceiling:>11,.0f} rows/s  ({median_of(raw_rates)})"
    )
    yield (
        f"   {'feedkit import_activities':<34}{fk:>11,.0f} rows/s  "
        f"(concurrency {CONCURRENCY}, Parquet read and conversion included)"
    )
    yield (
        f"   {'official SDK upsert_activities':<34}{sdk:>11,.0f} rows/s  "
        f"(one thread, first {subset:,} rows; read_parquet prorated; {sdk_send:,.0f} rows/s "
        f"without it)"
    )
    for label, peer, target in (("sdk", sdk, SDK_TARGET), ("raw", ceiling, RAW_TARGET)):
        ratio = fk / peer
        yield (
            f"   import ratio feedkit/{label} {ratio:.2f}x (target >= {target:g}x) "
            f"{verdict(ratio >= target)}"
        )


# -- 3. peak memory ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    """One import in a child process: its peak RSS (KiB), and what it reported."""

    peak_kib: int
    baseline_kib: int
    rows_read: int
    acknowledged: int
    seconds: float


def vm_hwm_kib(pid: int | str = "self") -> int:
    """The peak resident set so far of this process, or of a child ``pid`` still running
    (Linux); -1 elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def child_import(path: str, url: str | None) -> int:
    """The child's side: import ``path`` (sending to ``url``, or a dry run) and print one JSON
    line with the report, the peak RSS before the import began (the libraries loaded) and the
    peak RSS at the end."""
    baseline = vm_hwm_kib()
    if baseline < 0:
        raise SystemExit("peak RSS is read from /proc/self/status: run part 3 on Linux")
    with child_client(url) if url else feedkit.connect(":memory:") as client:
        report = feedkit.import_activities(
            client,
            path,
            MAPPING,
            concurrency=CONCURRENCY,
            batch_size=BATCH,
            progress=False,
            dry_run=not url,
        )
    result = {
        "peak_kib": vm_hwm_kib(),
        "baseline_kib": baseline,
        "rows_read": report.rows_read,
        "acknowledged": report.acknowledged,
        "seconds": report.duration,
        "ok": report.ok,
    }
    print(json.dumps(result), flush=True)
    return 0 if report.ok else 1


def child_client(url: str) -> feedkit.Client:
    """The child's client of the server at ``url``, with the credentials that
    :func:`run_json_child` put in its environment (never on its command line)."""
    return feedkit.connect(
        base_url=url,
        api_key=os.environ["FEEDKIT_BENCH_API_KEY"],
        api_secret=os.environ["FEEDKIT_BENCH_API_SECRET"],
    )


def run_json_child(
    args: Sequence[str], url: str | None, work_dir: Path, *, script: str = __file__
) -> dict[str, Any]:
    """Run ``script args`` in a fresh interpreter, within ``CHILD_TIMEOUT_S``, and return the
    JSON object it printed last; with ``url``, the server's credentials go in its environment.

    A child measures its own peak RSS (its VmHWM at exit), not the parent's ``ru_maxrss``
    (from ``wait4`` or ``RUSAGE_CHILDREN``): Linux carries the RSS a process had when it
    called exec into that figure, and a forked child starts with this process's pages, so
    every child would report at least this (big) process's size.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_", "FEEDKIT_BENCH"))}
    if url:
        env.update(FEEDKIT_BENCH_API_KEY=API_KEY, FEEDKIT_BENCH_API_SECRET=API_SECRET)
    cmd = [sys.executable, str(Path(script).resolve()), *args]
    try:
        done = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=work_dir,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the child {args} took over {CHILD_TIMEOUT_S:g}s") from None
    output = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"the child {args} failed ({done.returncode}): {output[-3000:]}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def run_child(path: Path, url: str | None, work_dir: Path) -> ChildRun:
    """Run one import in a fresh interpreter; its peak RSS is the VmHWM it reports at exit."""
    args = ["--child-import", str(path), *(["--child-url", url] if url else [])]
    result = run_json_child(args, url, work_dir)
    return ChildRun(
        peak_kib=int(result["peak_kib"]),
        baseline_kib=int(result["baseline_kib"]),
        rows_read=int(result["rows_read"]),
        acknowledged=int(result["acknowledged"]),
        seconds=float(result["seconds"]),
    )


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def bench_memory(
    big: int, files: dict[int, tuple[Path, str]], work_dir: Path, send: bool
) -> Iterator[str]:
    """The peak-memory section's lines."""
    sizes = (big, 2 * big)
    yield (
        f"3. peak RSS of import_activities from Parquet, each in a fresh child process "
        f"(concurrency {CONCURRENCY}, batches of {BATCH}, "
        f"read_rows {feedkit.ImportOptions().read_rows:,})"
    )
    # A child's peak varies by +-5% from run to run (which batches its threads hold at
    # once), so each size runs RUNS times, alternated, and the median peak is compared.
    tries: dict[int, list[ChildRun]] = {size: [] for size in sizes}
    for _ in range(RUNS):
        for size in sizes:
            run = run_child(files[size][0], None, work_dir)
            if run.rows_read != size:
                raise RuntimeError(f"the dry run read {run.rows_read:,} of {size:,} rows")
            tries[size].append(run)
    runs: dict[int, ChildRun] = {}
    for size in sizes:
        runs[size] = sorted(tries[size], key=lambda r: r.peak_kib)[len(tries[size]) // 2]
        peaks = ", ".join(mib(r.peak_kib) for r in tries[size])
        yield (
            f"   dry run (read, convert, batch; no send), {size_label(size):>4} rows: peak "
            f"{mib(runs[size].peak_kib):>9}  (median of {RUNS}: {peaks}; libraries loaded: "
            f"{mib(runs[size].baseline_kib)}; {size / runs[size].seconds:,.0f} rows/s)"
        )
    ratio = runs[sizes[1]].peak_kib / runs[sizes[0]].peak_kib
    yield (
        f"   rss ratio {size_label(sizes[1])}/{size_label(sizes[0])} {ratio:.3f}x "
        f"(target <= {RSS_TARGET}x) {verdict(ratio <= RSS_TARGET)}"
    )
    if not send:
        yield "   sending run skipped (--no-send)"
        return
    path, _ = files[big]
    db = work_dir / "rss-send.db"
    with serving(db, work_dir) as url:
        run = run_child(path, url, work_dir)
    stored = _stored(db)
    remove_db(db)
    if run.acknowledged != big or stored != big:
        raise RuntimeError(f"the sending run stored {stored:,} of {big:,} rows")
    yield (
        f"   sending into feedkit serve, {size_label(big):>4} rows: peak {mib(run.peak_kib):>9}"
        f"  ({big / run.seconds:,.0f} rows/s)"
    )
    yield (
        f"   rss ratio send/dry-run {run.peak_kib / runs[big].peak_kib:.3f}x at "
        f"{size_label(big)} rows (no target)"
    )


# -- the command ------------------------------------------------------------------------------


FULL = {"rows": 200_000, "subset": 20_000, "big": 1_000_000}
QUICK = {"rows": 20_000, "subset": 2_000, "big": 50_000}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = (
        ("rows", "rows converted and imported in parts 1 and 2"),
        ("subset", "rows of the slow SDK loops (timed, then scaled to --rows)"),
        ("big", "rows of the smaller peak-RSS import (the other is twice as many)"),
    )
    for name, what in sizes:
        parser.add_argument(
            f"--{name}", type=int, help=f"{what} (default {FULL[name]:,}; --quick {QUICK[name]:,})"
        )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "feedkit-bench-cache",
        help="where generated Parquet files are kept between runs (default: %(default)s)",
    )
    parser.add_argument(
        "--no-send", action="store_true", help="skip the sending run of part 3 (minutes at 1M)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: the smaller defaults shown above"
    )
    parser.add_argument("--child-import", help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("rows", "subset", "big"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def versions(names: Sequence[str] = ("pyarrow", "pandas", "polars", "getstream")) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except Exception:
            found.append(f"{name} missing")
    return ", ".join(found)


def _sections(args: argparse.Namespace, work_dir: Path) -> Iterator[str]:
    files = {n: cached_posts(n, args.cache_dir) for n in (args.rows, args.big, 2 * args.big)}
    for n, (path, how) in sorted(files.items()):
        mib = path.stat().st_size / 2**20
        yield f"data: {n:,} posts, {mib:,.1f} MiB of Parquet: {how} ({path})"
    yield ""
    path = files[args.rows][0]
    yield from bench_conversion(path, args.rows, args.subset)
    yield ""
    yield from bench_import(path, args.rows, args.subset, work_dir)
    yield ""
    yield from bench_memory(args.big, files, work_dir, not args.no_send)


def print_sections(
    title: str,
    sections: Callable[[argparse.Namespace, Path], Iterator[str]],
    args: argparse.Namespace,
    libraries: Sequence[str] = ("pyarrow", "pandas", "polars", "getstream"),
) -> int:
    """Print the run's header (``title``, the ``libraries``' versions, CPUs, load), then
    every line of ``sections(args, work_dir)`` as it comes, in a temporary work folder
    removed at the end."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(
        f"feedkit {title} benchmark: python {platform.python_version()}, "
        f"{versions(libraries)}, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load {load:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="feedkit-bench-") as tmp:
        for line in sections(args, Path(tmp)):
            print(line, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_import:
        return child_import(args.child_import, args.child_url)
    return print_sections("import", _sections, args)


if __name__ == "__main__":
    sys.exit(main())
