"""Benchmark of the export: a served store -> DataFrame and Parquet, as ratios to peers of one run.

The machine this runs on is shared and noisy, so every figure is printed beside a peer
measured in the same run against the same ``feedkit serve`` and store, and targets are judged
on the ratio:

1. Export rate of a whole store (no filter, ``include_expired_activities``), pages of 100:
   ``feedkit.query_to_dataframe`` against the official SDK's ``query_activities`` paging
   with its parsed models, and against raw JSON paging with httpx + ``pandas.json_normalize``.
   The json_normalize peer is given what feedkit has, twice over: feedkit with one cursor
   against it with one cursor (the decoding comparison), and feedkit's default (``RANGES``
   threads over ``created_at`` ranges) against it on the same threads over the very same
   ranges. Targets: feedkit >= 10x the SDK (both on the SDK's subset: the first pages), >= 3x
   json_normalize on both lines. The raw paging alone is printed too, so the reader sees how
   much of every path is the server.
2. Peak RSS of ``feedkit.to_parquet`` exporting ``--big`` activities and half as many, each
   in a fresh child process. Target: twice the activities within 10% of the peak.

Run ``python benchmarks/bench_export.py`` (``--quick`` for a smoke run, ``--help`` for options).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pandas as pd
import pyarrow.parquet as pq
from bench_import import (
    CITIES,
    LANG_WEIGHTS,
    LANGS,
    TITLES,
    child_client,
    median_of,
    mib,
    post_texts,
    print_sections,
    run_json_child,
    vm_hwm_kib,
)
from bench_server import (
    API_KEY,
    API_SECRET,
    TAGS,
    TOPICS,
    TYPES,
    build_store,
    connect,
    rfc3339,
    server_process,
    size_label,
    store_key,
    users_for,
    verdict,
)

import feedkit
from feedkit.paging import RANGES_PER_WORKER, time_ranges

SDK_TARGET = 10.0  # feedkit activities/s over the SDK paging loop's, at least
NORMALIZE_TARGET = 3.0  # feedkit activities/s over httpx paging + json_normalize's, at least
RSS_TARGET = 1.10  # peak RSS at --big activities over the peak at half as many, at most
PAGE = 100  # the protocol's largest page, as every path here asks for
RUNS = 3  # feedkit and the json_normalize peer run alternately this many times; the median
RANGES = 4  # threads of feedkit's default against a server in another process (and the peer's)
HTTP_TIMEOUT_S = 120.0  # one page request
QUERY = "/api/v2/feeds/activities/query"

# -- the data ---------------------------------------------------------------------------------

GENERATOR_VERSION = "1"  # bump when the generated data changes, so cached stores are rebuilt
SOURCES = ("ios", "android", "web", "api")
CAMPAIGNS = ("spring-sale", "launch-week", "black-friday", "newsletter")
DAY_S = 86_400


def generate_export_activities(rows: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """``rows`` activities as a client sends them, with every kind of field an export meets.

    Text of 100-200 characters (accents, emoji, CJK); a Zipf-like author (~100 activities
    each) and a topic feed; ``custom`` with an int, a string, a float, a bool and a nested
    object (``client.source``, ``client.build``), plus a sparse ``campaign`` on 10%; 0-3
    filter tags; interest tags on 15%; a location on 30%; ``expires_at`` on 12% (2% already
    expired, so only ``include_expired_activities`` sees them); an image attachment with a
    custom size on 20%; a search_data title on 45%; mentions on 5%; private on 2%.
    """
    rng = random.Random(seed)
    texts = post_texts(rng)
    users = users_for(rows)
    now_s = int(time.time())
    for i in range(rows):
        user = f"u{int(users * rng.random() ** 2.5)}"
        custom: dict[str, Any] = {
            "likes": int(min(60_000.0, rng.lognormvariate(1.8, 1.6))),
            "lang": rng.choices(LANGS, LANG_WEIGHTS)[0],
            "score": round(rng.random(), 4),
            "verified": rng.random() < 0.1,
            "client": {"source": rng.choice(SOURCES), "build": rng.randrange(100, 400)},
        }
        if rng.random() < 0.1:
            custom["campaign"] = rng.choice(CAMPAIGNS)
        activity: dict[str, Any] = {
            "id": f"x{i:08d}",
            "type": rng.choice(TYPES),
            "feeds": [f"user:{user}", f"topic:t{rng.randrange(TOPICS)}"],
            "user_id": user,
            "text": texts[rng.randrange(len(texts))],
            "custom": custom,
        }
        tags = rng.randrange(4)
        if tags:
            activity["filter_tags"] = rng.sample(TAGS, tags)
        if rng.random() < 0.15:
            activity["interest_tags"] = rng.sample(TAGS, rng.randrange(1, 3))
        if rng.random() < 0.3:
            lat, lng = rng.choice(CITIES)
            activity["location"] = {
                "lat": round(lat + rng.uniform(-0.06, 0.06), 5),
                "lng": round(lng + rng.uniform(-0.06, 0.06), 5),
            }
        draw = rng.random()
        if draw < 0.02:
            activity["expires_at"] = rfc3339(now_s - rng.randrange(DAY_S, 30 * DAY_S))
        elif draw < 0.12:
            activity["expires_at"] = rfc3339(now_s + rng.randrange(30 * DAY_S, 3 * 365 * DAY_S))
        if rng.random() < 0.2:
            activity["attachments"] = [
                {
                    "type": "image",
                    "image_url": f"https://cdn.example.com/img/{activity['id']}.jpg",
                    "custom": {"width": 1080, "height": rng.choice((720, 1080, 1350))},
                }
            ]
        if rng.random() < 0.45:
            activity["search_data"] = {"title": rng.choice(TITLES)}
        if rng.random() < 0.05:
            activity["mentioned_user_ids"] = [f"u{rng.randrange(users)}"]
        if rng.random() < 0.02:
            activity["visibility"] = "private"
        yield activity


def cached_export_store(rows: int, cache_dir: Path) -> tuple[Path, str]:
    """The store of ``rows`` export activities in ``cache_dir``, built when missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    # The server benchmark's key covers the schema; this one adds the export generator's.
    path = cache_dir / f"export-g{GENERATOR_VERSION}-{store_key(rows)}"
    if path.exists():
        return path, "cached"
    seconds = build_store(path, rows, generate_export_activities(rows))
    return path, f"built in {seconds:.1f}s"


# -- 1. export rate ---------------------------------------------------------------------------


def export_feedkit(url: str, rows: int, limit: int | None = None, concurrency: int = 1) -> float:
    """Activities/s of ``feedkit.query_to_dataframe`` of the whole store of ``rows``
    activities (read on ``concurrency`` threads), or of its first ``limit``."""
    expected = rows if limit is None else min(limit, rows)
    with connect(url) as client:
        start = time.perf_counter()
        frame = feedkit.query_to_dataframe(
            client,
            limit=limit,
            progress=False,
            page_size=PAGE,
            concurrency=concurrency,
            include_expired_activities=True,
        )
        elapsed = time.perf_counter() - start
    if len(frame) != expected:
        raise RuntimeError(f"feedkit exported {len(frame):,} of {expected:,} activities")
    return expected / elapsed


def export_sdk(url: str, subset: int) -> float:
    """Activities/s of the official SDK paging ``query_activities`` with its parsed models,
    collecting the first ``subset`` activities (at least) of the store."""
    import getstream.models  # noqa: F401  (imported untimed: ~1 s of dataclass set-up)
    from getstream import Stream

    client = Stream(api_key=API_KEY, api_secret=API_SECRET, base_url=url, timeout=HTTP_TIMEOUT_S)
    collected: list[Any] = []
    try:
        cursor: str | None = None
        start = time.perf_counter()
        while len(collected) < subset:
            response = client.feeds.query_activities(
                limit=PAGE, next=cursor, include_expired_activities=True
            )
            collected += response.data.activities
            cursor = response.data.next
            if not cursor:
                break
        elapsed = time.perf_counter() - start
    finally:
        client.close()
    if len(collected) < subset or not collected[0].id:
        raise RuntimeError(f"the SDK collected {len(collected):,} of {subset:,} activities")
    return len(collected) / elapsed


@dataclass(frozen=True)
class RawPaging:
    """The raw JSON path: every activity, decoded, and where the time went."""

    activities: list[dict[str, Any]]
    seconds: float
    server_seconds: float  # the sum of the answers' own ``duration``: the server's handler


def page_raw(url: str, filter: dict[str, Any] | None = None) -> RawPaging:
    """Every activity of the store (or of ``filter``) through httpx alone: POST the query with
    ``next`` until there is none, auth as PROTOCOL.md says, each answer decoded with
    ``response.json()``."""
    headers = {
        "Authorization": jwt.encode({}, API_SECRET, algorithm="HS256"),
        "stream-auth-type": "jwt",
    }
    activities: list[dict[str, Any]] = []
    server_s = 0.0
    with httpx.Client(
        base_url=url, headers=headers, params={"api_key": API_KEY}, timeout=HTTP_TIMEOUT_S
    ) as http:
        cursor: str | None = None
        start = time.perf_counter()
        while True:
            body: dict[str, Any] = {"limit": PAGE, "include_expired_activities": True}
            if filter:
                body["filter"] = filter
            if cursor:
                body["next"] = cursor
            response = http.post(QUERY, json=body)
            response.raise_for_status()
            data = response.json()
            activities += data["activities"]
            server_s += float(data["duration"].removesuffix("ms")) / 1000
            cursor = data.get("next")
            if not cursor:
                break
        elapsed = time.perf_counter() - start
    return RawPaging(activities, elapsed, server_s)


@dataclass(frozen=True)
class NormalizeRun:
    """Seconds of the json_normalize path: its raw paging (and the server's handler time
    within it), then ``pd.json_normalize``."""

    paging: float
    handler: float
    normalize: float

    @property
    def seconds(self) -> float:
        return self.paging + self.normalize


def export_normalize(url: str, rows: int) -> NormalizeRun:
    """The raw paging of the whole store, then ``pd.json_normalize`` of every activity."""
    return _normalized(page_raw(url), rows)


def export_normalize_ranges(url: str, rows: int, threads: int) -> NormalizeRun:
    """The raw paging on ``threads`` threads over the same ``created_at`` ranges feedkit reads
    (``feedkit.paging.time_ranges``, found in the timed part as feedkit finds them), each
    range paged by its own httpx client and the pages kept in range order, then
    ``pd.json_normalize`` of every activity."""
    start = time.perf_counter()
    with connect(url) as client:
        ranges = time_ranges(
            client, None, {"include_expired_activities": True}, threads * RANGES_PER_WORKER
        )
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda f: page_raw(url, f), ranges or [{}]))
    elapsed = time.perf_counter() - start
    activities = [a for part in parts for a in part.activities]
    handler = sum(part.server_seconds for part in parts)
    return _normalized(RawPaging(activities, elapsed, handler), rows)


def _normalized(raw: RawPaging, rows: int) -> NormalizeRun:
    start = time.perf_counter()
    frame = pd.json_normalize(raw.activities)
    elapsed = time.perf_counter() - start
    if len(frame) != rows or len(raw.activities) != rows:
        raise RuntimeError(f"json_normalize made {len(frame):,} of {rows:,} rows")
    return NormalizeRun(raw.seconds, raw.server_seconds, elapsed)


def bench_rates(db: Path, rows: int, subset: int, work_dir: Path) -> Iterator[str]:
    """The export-rate section's lines."""
    subset = min(subset, rows)
    yield (
        f"1. export of the whole store, {rows:,} activities (no filter, "
        f"include_expired_activities), pages of {PAGE}, from one feedkit serve"
    )
    fk_rates: list[float] = []
    fk_ranges_rates: list[float] = []
    fk_subset_rates: list[float] = []
    runs: list[NormalizeRun] = []
    ranges_runs: list[NormalizeRun] = []

    def each(url: str) -> None:
        runs.append(export_normalize(url, rows))
        fk_rates.append(export_feedkit(url, rows))
        ranges_runs.append(export_normalize_ranges(url, rows, RANGES))
        fk_ranges_rates.append(export_feedkit(url, rows, concurrency=RANGES))
        # The SDK's rate is of the first pages only, which cost the server least; feedkit's
        # on the same pages is the fair peer of it.
        fk_subset_rates.append(export_feedkit(url, rows, limit=subset))

    with server_process(db, work_dir) as server:
        # Alternated, so drift on the shared box hits all; the slow SDK runs once between.
        each(server.url)
        sdk = export_sdk(server.url, subset)
        for _ in range(1, RUNS):
            each(server.url)
        server_kib = vm_hwm_kib(server.proc.pid)
    nz_rates = [rows / run.seconds for run in runs]
    nz_ranges_rates = [rows / run.seconds for run in ranges_runs]
    fk, nz = statistics.median(fk_rates), statistics.median(nz_rates)
    fk_ranges, nz_ranges = statistics.median(fk_ranges_rates), statistics.median(nz_ranges_rates)
    fk_subset = statistics.median(fk_subset_rates)
    page_s = statistics.median(run.paging for run in runs)
    handler_s = statistics.median(run.handler for run in runs)
    normalize_s = statistics.median(run.normalize for run in runs)
    ranged = f"{RANGES} threads, same ranges"
    yield (
        f"   {'raw paging: httpx + response.json()':<52}{rows / page_s:>9,.0f} activities/s  "
        f"({page_s:.2f}s, of which the server's handler {handler_s:.2f}s = "
        f"{handler_s / page_s:.0%}; information only)"
    )
    yield (
        f"   {'feedkit query_to_dataframe, one cursor':<52}{fk:>9,.0f} activities/s  "
        f"({median_of(fk_rates)})"
    )
    yield (
        f"   {'raw paging + pd.json_normalize, one cursor':<52}{nz:>9,.0f} activities/s  "
        f"({median_of(nz_rates)}; normalize {normalize_s:.2f}s)"
    )
    yield (
        f"   {'feedkit query_to_dataframe, ' + ranged:<52}{fk_ranges:>9,.0f} activities/s  "
        f"({median_of(fk_ranges_rates)}; feedkit's default for a server in another process)"
    )
    yield (
        f"   {'raw paging + json_normalize, ' + ranged:<52}{nz_ranges:>9,.0f} activities/s  "
        f"({median_of(nz_ranges_rates)})"
    )
    yield (
        f"   {'official SDK query_activities models':<52}{sdk:>9,.0f} activities/s  "
        f"(first {subset:,} activities; feedkit on the same: {fk_subset:,.0f}/s, "
        f"{median_of(fk_subset_rates)})"
    )
    yield (
        f"   raw paging is {page_s * fk / rows:.0%} of feedkit's time and "
        f"{page_s * nz / rows:.0%} of json_normalize's (one cursor); server peak RSS "
        f"{mib(server_kib)}"
    )
    for label, ratio, target in (
        ("feedkit/sdk", fk_subset / sdk, SDK_TARGET),
        ("feedkit-1cursor/json_normalize-1cursor", fk / nz, NORMALIZE_TARGET),
        (f"feedkit-{RANGES}ranges/json_normalize-{RANGES}ranges", fk_ranges / nz_ranges,
         NORMALIZE_TARGET),
    ):  # fmt: skip
        yield (
            f"   export ratio {label} {ratio:.2f}x (target >= {target:g}x) "
            f"{verdict(ratio >= target)}"
        )


# -- 2. peak memory ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildExport:
    """One ``to_parquet`` in a child process: its peak RSS (KiB) and what it wrote."""

    peak_kib: int
    baseline_kib: int
    count: int
    seconds: float


def child_export(url: str, out: str) -> int:
    """The child's side: ``to_parquet`` the whole store at ``url`` into ``out`` and print one
    JSON line with the count, the peak RSS before the export (the libraries loaded) and the
    peak RSS at the end."""
    baseline = vm_hwm_kib()
    if baseline < 0:
        raise SystemExit("peak RSS is read from /proc/self/status: run part 2 on Linux")
    with child_client(url) as client:
        start = time.perf_counter()
        count = feedkit.to_parquet(
            client, out, filter={}, progress=False, include_expired_activities=True
        )
        elapsed = time.perf_counter() - start
    result = {
        "peak_kib": vm_hwm_kib(),
        "baseline_kib": baseline,
        "count": count,
        "seconds": elapsed,
    }
    print(json.dumps(result), flush=True)
    return 0


def run_export_child(url: str, out: Path, work_dir: Path) -> ChildExport:
    args = ["--child-export", str(out), "--child-url", url]
    result = run_json_child(args, url, work_dir, script=__file__)
    return ChildExport(
        peak_kib=int(result["peak_kib"]),
        baseline_kib=int(result["baseline_kib"]),
        count=int(result["count"]),
        seconds=float(result["seconds"]),
    )


def bench_memory(stores: dict[int, Path], big: int, work_dir: Path) -> Iterator[str]:
    """The peak-memory section's lines."""
    sizes = (big // 2, big)
    yield (
        "2. peak RSS of to_parquet(client, path, filter={}) from feedkit serve, each in a fresh "
        f"child process (pages of {PAGE}, row groups of 10,000)"
    )
    runs: dict[int, ChildExport] = {}
    for size in sizes:
        out = work_dir / f"export-{size}.parquet"
        with server_process(stores[size], work_dir) as server:
            run = run_export_child(server.url, out, work_dir)
            server_kib = vm_hwm_kib(server.proc.pid)
        written = pq.ParquetFile(out).metadata.num_rows
        if run.count != size or written != size:
            raise RuntimeError(
                f"to_parquet exported {run.count:,} ({written:,} written) of {size:,}"
            )
        runs[size] = run
        yield (
            f"   {size_label(size):>5} activities: peak {mib(run.peak_kib):>9}  "
            f"(libraries loaded: {mib(run.baseline_kib)}; {size / run.seconds:,.0f} activities/s; "
            f"{out.stat().st_size / 2**20:,.1f} MiB of Parquet; server peak {mib(server_kib)})"
        )
        out.unlink()
    small, large = (runs[n] for n in sizes)
    labels = f"{size_label(sizes[1])}/{size_label(sizes[0])}"
    pace = (sizes[1] / large.seconds) / (sizes[0] / small.seconds)
    yield (
        f"   activities/s {labels} {pace:.2f}x (information: 1.00x when a page costs the same "
        "at every depth of the export)"
    )
    ratio = large.peak_kib / small.peak_kib
    ok = verdict(ratio <= RSS_TARGET)
    yield f"   rss ratio {labels} {ratio:.3f}x (target <= {RSS_TARGET}x) {ok}"


# -- the command ------------------------------------------------------------------------------


FULL = {"rows": 100_000, "subset": 20_000, "big": 1_000_000}
QUICK = {"rows": 10_000, "subset": 2_000, "big": 50_000}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = (
        ("rows", "activities in the store exported in part 1"),
        ("subset", "activities the slow SDK loop collects in part 1"),
        ("big", "activities of the bigger to_parquet export (the other has half as many)"),
    )
    for name, what in sizes:
        parser.add_argument(
            f"--{name}", type=int, help=f"{what} (default {FULL[name]:,}; --quick {QUICK[name]:,})"
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
    parser.add_argument("--child-export", help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("rows", "subset"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.big < 2:
        parser.error("--big must be at least 2")
    return args


def _sections(args: argparse.Namespace, work_dir: Path) -> Iterator[str]:
    sizes = sorted({args.rows, args.big // 2, args.big})
    stores = {}
    for n in sizes:
        path, how = cached_export_store(n, args.cache_dir)
        stores[n] = path
        size_mib = path.stat().st_size / 2**20
        yield f"data: store of {n:,} activities, {size_mib:,.0f} MiB of SQLite: {how} ({path})"
    yield ""
    yield from bench_rates(stores[args.rows], args.rows, args.subset, work_dir)
    yield ""
    yield from bench_memory(stores, args.big, work_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_export:
        return child_export(args.child_url, args.child_export)
    return print_sections("export", _sections, args, ("pyarrow", "pandas", "httpx", "getstream"))


if __name__ == "__main__":
    sys.exit(main())
