"""Benchmark of the vendor's import pipeline: the import file and ``feedkit serve``'s import.

The machine this runs on is shared and noisy, so every figure is printed beside a peer
measured in the same run, and targets are judged on the ratio:

1. Import-file writing: ``feedkit.write_import_file`` of ``bench_import``'s generated posts
   against polars building the same fields and ``write_ndjson`` (``bench_import``'s
   conversion peer). Target >= 0.5x. Every 50th line is checked against the import schemas
   (``feedkit.server.import_lines.check_line``).
2. The pipeline into a fresh ``feedkit serve``: ``import_rows(..., via="import")`` (write,
   upload, server-side import, polls) end to end against ``import_rows(..., via="api")`` (the
   REST path) into another fresh server: target >= 3x. And the server's part (the task's
   history: created -> completed) against a bulk-load ceiling: the same rows pre-encoded
   outside the timed part, written by sqlite3 alone into the store's schema in one
   transaction, index keys sorted, indexes built after the rows: target >= 0.5x.
3. Against ``feedkit serve --rate-limit`` with the hosted limits (300 batch upserts a
   minute): the pipeline end to end against the REST path, which waits on the limit:
   target >= 20x (judged only when the REST path's requests exceed a minute's limit).
4. Peak RSS of ``write_import_file`` at ``--big`` rows and twice as many, each in a fresh
   child process: within 10%.

Run ``python benchmarks/bench_pipeline.py`` (``--quick`` for a smoke run, ``--help`` for options).
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from bench_import import (
    MAPPING,
    _stored,
    cached_posts,
    convert_polars,
    median_of,
    mib,
    print_sections,
    run_json_child,
    vm_hwm_kib,
)
from bench_server import (
    API_KEY,
    API_SECRET,
    STARTUP_TIMEOUT_S,
    connect,
    remove_db,
    size_label,
    stored_record,
    verdict,
)

import feedkit
from feedkit.serve import spawn
from feedkit.server.import_lines import check_line
from feedkit.server.store import SCHEMA, activity_keys, row_values

WRITE_TARGET = 0.5  # feedkit import-file rows/s over polars rows/s, at least
LIMITED_TARGET = 20.0  # against the hosted limits: REST seconds over pipeline seconds, at least
HOSTED_LIMITS = ("UpsertActivities=300",)  # batch upserts a minute (issue 17), as --rate-limit
E2E_TARGET = 3.0  # pipeline end-to-end rows/s over the REST path's rows/s, at least
SERVER_TARGET = 0.5  # the server's import rows/s over the bulk-load ceiling's, at least
RSS_TARGET = 1.10  # the writer's peak RSS at 2x the rows over the peak at 1x, at most
CHECK_EVERY = 50  # every 50th line of the import file is checked against the schemas
RUNS = 3  # the writer runs are cheap: the median of a few, alternated with polars
CONCURRENCY = 4
BATCH = 100


# -- 1. the import file -----------------------------------------------------------------------


def write_feedkit(path: Path, out: Path) -> tuple[float, feedkit.ImportFile]:
    """Seconds to write the import file of ``path`` at ``out``, and its report."""
    start = time.perf_counter()
    written = feedkit.write_import_file(path, MAPPING, out)
    return time.perf_counter() - start, written


def checked_lines(out: Path, every: int = CHECK_EVERY) -> tuple[int, list[str]]:
    """How many of every ``every``-th line of ``out`` were checked, and the refusals."""
    checked, refused = 0, []
    with open(out, "rb") as f:
        for n, raw in enumerate(f):
            if n % every:
                continue
            checked += 1
            _, _, reason = check_line(raw)
            if reason is not None:
                refused.append(f"line {n + 1}: {reason}")
    return checked, refused


def bench_writer(path: Path, rows: int, work_dir: Path) -> Iterator[str]:
    """The import-file section's lines."""
    yield f"1. import file: {rows:,} rows of Parquet -> the JSON lines of a bulk import"
    out = work_dir / "write.jsonl"
    feedkit_rates: list[float] = []
    polars_rates: list[float] = []
    written: feedkit.ImportFile | None = None
    for _ in range(RUNS):  # alternated, so drift on the shared box hits both
        out.unlink(missing_ok=True)
        elapsed, written = write_feedkit(path, out)
        if written.rows_read != rows or written.invalid:
            raise RuntimeError(f"the import file is not whole: {written.summary()}")
        feedkit_rates.append(rows / elapsed)
        polars_s = convert_polars(path)
        if polars_s is not None:
            polars_rates.append(rows / polars_s)
    assert written is not None
    size = out.stat().st_size
    fk = statistics.median(feedkit_rates)
    yield (
        f"   {'feedkit write_import_file':<34}{fk:>11,.0f} rows/s  ({median_of(feedkit_rates)}; "
        f"{size / 2**20:,.0f} MiB file, {written.activities:,} activity and "
        f"{written.users:,} user lines)"
    )
    checked, refused = checked_lines(out)
    out.unlink()
    yield (
        f"   schema check of every {CHECK_EVERY}th line: {checked:,} lines checked, "
        f"{len(refused):,} refused{': ' + '; '.join(refused[:3]) if refused else ''}"
    )
    if refused:
        raise RuntimeError(f"the import file has invalid lines: {refused[:3]}")
    if not polars_rates:
        yield "   write ratio feedkit/polars skipped: polars is not installed"
        return
    pl_rate = statistics.median(polars_rates)
    yield (
        f"   {'polars expressions + write_ndjson':<34}{pl_rate:>11,.0f} rows/s  "
        f"({median_of(polars_rates)}; to memory, no validation, no user lines)"
    )
    ratio = fk / pl_rate
    yield (
        f"   write ratio feedkit/polars {ratio:.2f}x (target >= {WRITE_TARGET}x) "
        f"{verdict(ratio >= WRITE_TARGET)}"
    )


# -- 2. the pipeline into feedkit serve -------------------------------------------------------


@dataclass(frozen=True)
class PipelineRun:
    """One ``via="import"`` run: end to end seconds, the server's part, the task's states."""

    seconds: float
    server_s: float
    states: str


def server_seconds(task: dict[str, Any]) -> float:
    """Seconds from the task's creation to its completion, from its history."""
    done = [h["created_at"] for h in task.get("history") or [] if h["next_state"] == "completed"]
    if not done:
        raise RuntimeError(f"the import task did not complete: {task.get('state')}")
    return (int(done[-1]) - int(task["created_at"])) / 1e9


@contextmanager
def served(db: Path, work_dir: Path, args: Sequence[str]) -> Iterator[str]:
    """``feedkit serve --db db ARGS`` on 127.0.0.1 and a free port; yields its URL."""
    with spawn(db, api_key=API_KEY, api_secret=API_SECRET, args=args,
               timeout=STARTUP_TIMEOUT_S, log_dir=work_dir) as server:  # fmt: skip
        yield server.url


def via_import(path: Path, rows: int, work_dir: Path, args: Sequence[str] = ()) -> PipelineRun:
    """``import_rows(via="import")`` of ``path`` into a fresh server (``feedkit serve ARGS``)."""
    db = work_dir / "pipeline.db"
    with served(db, work_dir, args) as url, connect(url) as client:
        report = feedkit.import_rows(client, path, MAPPING, via="import", progress=False)
    task = report.task or {}
    stored = _stored(db)
    remove_db(db)
    if stored != rows or task.get("error_count"):
        raise RuntimeError(f"the pipeline stored {stored:,} of {rows:,} rows: {task}")
    states = " -> ".join(h["next_state"] for h in task.get("history") or [])
    return PipelineRun(report.duration, server_seconds(task), states)


def via_api(path: Path, rows: int, work_dir: Path, args: Sequence[str] = ()) -> float:
    """Seconds of ``import_rows(via="api")`` of ``path`` into a fresh server (``ARGS``)."""
    db = work_dir / "rest.db"
    with served(db, work_dir, args) as url, connect(url) as client:
        report = feedkit.import_rows(client, path, MAPPING, via="api", concurrency=CONCURRENCY,
                                     batch_size=BATCH, progress=False)  # fmt: skip
    stored = _stored(db)
    remove_db(db)
    if stored != rows or not report.ok:
        raise RuntimeError(f"the REST path stored {stored:,} of {rows:,} rows")
    return float(report.duration)


@dataclass
class Encoded:
    """The rows of an import file as the store writes them, encoded ahead of the timing."""

    activities: list[list[Any]]
    keys: list[tuple[str, int, int]]
    users: list[tuple[str, int, int]]
    feeds: list[tuple[str, str, str, str, int, int]]


def encode_file(out: Path) -> Encoded:
    """The store's rows for every line of the import file ``out`` (users and activities)."""
    encoded = Encoded([], [], [], [])
    users: dict[str, int] = {}
    feeds: dict[str, tuple[str, int]] = {}
    clock = time.time_ns()
    with open(out, "rb") as f:
        for raw in f:
            line = orjson.loads(raw)
            data, clock = line["data"], clock + 1
            if line["type"] == "user":
                users.setdefault(data["id"], clock)
                continue
            rid = len(encoded.activities) + 1
            record = stored_record({**data, "feeds": data.pop("fids")}, clock)
            encoded.activities.append([rid, *row_values(record)])
            encoded.keys += [(k, clock, rid) for k in activity_keys(record)]
            for fid in record["feeds"]:
                feeds.setdefault(fid, (record["user_id"], clock))
    encoded.keys.sort()
    encoded.users = [(u, at, at) for u, at in users.items()]
    for fid, (by, at) in feeds.items():
        group, feed_id = fid.split(":", 1)
        encoded.feeds.append((fid, group, feed_id, by, at, at))
    return encoded


def bulk_load(db_path: Path, encoded: Encoded) -> float:
    """Seconds to write ``encoded`` into a fresh store with sqlite3 alone: one transaction,
    the rows first, then every index (the ceiling of a lean bulk path on this schema)."""
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        indexes = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for (name,) in indexes:
            db.execute(f'DROP INDEX "{name}"')
        width = len(encoded.activities[0]) if encoded.activities else 1
        columns = db.execute("SELECT * FROM activities LIMIT 0").description
        names = ", ".join(c[0] for c in columns[:width])
        start = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO activities ({names}) VALUES ({', '.join('?' * width)})",
            encoded.activities,
        )
        db.executemany("INSERT INTO activity_keys VALUES (?, ?, ?)", encoded.keys)
        db.executemany(
            "INSERT INTO users (id, created_at, updated_at, doc) VALUES (?, ?, ?, '{}')",
            encoded.users,
        )
        db.executemany(
            "INSERT INTO feeds (fid, group_id, id, created_by, created_at, updated_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, '{}')",
            encoded.feeds,
        )
        db.execute("COMMIT")
        db.executescript(SCHEMA)  # the indexes, built after the rows
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    if _stored(db_path) != len(encoded.activities):
        raise RuntimeError("the bulk load did not store every activity")
    return elapsed


def bench_pipeline(path: Path, rows: int, work_dir: Path) -> Iterator[str]:
    """The pipeline section's lines."""
    yield (
        f"2. {rows:,} activities into a fresh feedkit serve + SQLite file per run: the import "
        "pipeline against the REST path and a bulk-load ceiling"
    )
    out = work_dir / "ceiling.jsonl"
    feedkit.write_import_file(path, MAPPING, out)
    encoded = encode_file(out)
    out.unlink()
    ceiling_db = work_dir / "ceiling.db"
    ceiling_s = bulk_load(ceiling_db, encoded)
    remove_db(ceiling_db)
    del encoded
    pipeline = via_import(path, rows, work_dir)
    rest_s = via_api(path, rows, work_dir)
    yield (
        f"   {'bulk load, sqlite3 alone (ceiling)':<34}{rows / ceiling_s:>11,.0f} rows/s  "
        "(pre-encoded, one transaction, keys sorted, indexes after)"
    )
    yield (
        f"   {'pipeline: the server part':<34}{rows / pipeline.server_s:>11,.0f} rows/s  "
        f"(task created -> completed: {pipeline.states})"
    )
    yield (
        f"   {'pipeline end to end (via=import)':<34}{rows / pipeline.seconds:>11,.0f} rows/s  "
        f"(server {pipeline.server_s:.1f}s; the rest {pipeline.seconds - pipeline.server_s:.1f}s:"
        " writing, upload, polls every 0.5 s)"
    )
    yield (
        f"   {'REST path (via=api)':<34}{rows / rest_s:>11,.0f} rows/s  "
        f"(concurrency {CONCURRENCY}, batches of {BATCH})"
    )
    e2e = rest_s / pipeline.seconds
    yield (
        f"   pipeline ratio import/api {e2e:.2f}x (target >= {E2E_TARGET:g}x) "
        f"{verdict(e2e >= E2E_TARGET)}"
    )
    server = ceiling_s / pipeline.server_s
    yield (
        f"   pipeline ratio server/bulk-load {server:.2f}x (target >= {SERVER_TARGET:g}x) "
        f"{verdict(server >= SERVER_TARGET)}"
    )


# -- 3. against the hosted rate limits --------------------------------------------------------


def bench_limited(path: Path, rows: int, work_dir: Path) -> Iterator[str]:
    """The rate-limited section's lines."""
    limits = ["--rate-limit", *" --rate-limit ".join(HOSTED_LIMITS).split()]
    yield (
        f"3. {rows:,} activities into feedkit serve {' '.join(limits)}: the pipeline against "
        "the REST path (which waits on the limit)"
    )
    pipeline = via_import(path, rows, work_dir, limits)
    rest_s = via_api(path, rows, work_dir, limits)
    requests = math.ceil(rows / BATCH)
    limit = int(HOSTED_LIMITS[0].rpartition("=")[2])
    reached = (
        f"{requests:,} batch requests, over the limit of {limit} a minute"
        if requests > limit
        else f"only {requests:,} batch requests, under the limit of {limit} a minute: "
        "the limit was not reached, so this is not yet the rate-limited ratio"
    )
    yield f"   {'pipeline end to end (via=import)':<34}{pipeline.seconds:>10.1f} s"
    yield f"   {'REST path (via=api)':<34}{rest_s:>10.1f} s  ({reached})"
    ratio = rest_s / pipeline.seconds
    judged = (
        f"(target >= {LIMITED_TARGET:g}x) {verdict(ratio >= LIMITED_TARGET)}"
        if requests > limit
        else "(no target)"
    )
    yield f"   limited ratio import/api {ratio:.2f}x {judged}"


# -- 4. the writer's peak memory --------------------------------------------------------------


def child_write(path: str) -> int:
    """The child's side: write the import file of ``path`` beside it in the working folder
    and print one JSON line with the peak RSS before and after."""
    baseline = vm_hwm_kib()
    if baseline < 0:
        raise SystemExit("peak RSS is read from /proc/self/status: run part 4 on Linux")
    out = Path(f"child-{os.getpid()}.jsonl")
    start = time.perf_counter()
    written = feedkit.write_import_file(path, MAPPING, out)
    seconds = time.perf_counter() - start
    out.unlink()
    result = {"peak_kib": vm_hwm_kib(), "baseline_kib": baseline,
              "rows_read": written.rows_read, "seconds": seconds}  # fmt: skip
    print(orjson.dumps(result).decode(), flush=True)
    return 0


def bench_memory(big: int, files: dict[int, tuple[Path, str]], work_dir: Path) -> Iterator[str]:
    """The peak-memory section's lines."""
    sizes = (big, 2 * big)
    yield "4. peak RSS of write_import_file, each in a fresh child process"
    peaks: dict[int, int] = {}
    for size in sizes:
        tries = [run_json_child(["--child-write", str(files[size][0])], None, work_dir,
                                script=__file__) for _ in range(RUNS)]  # fmt: skip
        if any(int(t["rows_read"]) != size for t in tries):
            raise RuntimeError(f"a child wrote fewer than {size:,} rows")
        peaks[size] = sorted(int(t["peak_kib"]) for t in tries)[len(tries) // 2]
        yield (
            f"   {size_label(size):>4} rows: peak {mib(peaks[size]):>9}  (median of {RUNS}: "
            f"{', '.join(mib(int(t['peak_kib'])) for t in tries)}; libraries loaded: "
            f"{mib(int(tries[0]['baseline_kib']))}; "
            f"{size / float(tries[0]['seconds']):,.0f} rows/s)"
        )
    ratio = peaks[sizes[1]] / peaks[sizes[0]]
    yield (
        f"   rss ratio {size_label(sizes[1])}/{size_label(sizes[0])} {ratio:.3f}x "
        f"(target <= {RSS_TARGET}x) {verdict(ratio <= RSS_TARGET)}"
    )


# -- the command ------------------------------------------------------------------------------


FULL = {"write_rows": 2_000_000, "rows": 1_000_000, "limited_rows": 200_000, "big": 1_000_000}
QUICK = {"write_rows": 20_000, "rows": 5_000, "limited_rows": 2_000, "big": 50_000}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = (
        ("write_rows", "rows of the import file written in part 1"),
        ("rows", "activities through the pipeline and the REST path in part 2"),
        ("limited_rows", "activities into the rate-limited server in part 3 (0 skips it)"),
        ("big", "rows of the smaller peak-RSS write (the other is twice as many)"),
    )
    for name, what in sizes:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            help=f"{what} (default {FULL[name]:,}; --quick {QUICK[name]:,})",
        )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "feedkit-bench-cache",
        help="where generated Parquet files are kept between runs (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: the smaller defaults shown above"
    )
    parser.add_argument("--child-write", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
        if getattr(args, name) < (0 if name == "limited_rows" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small")
    return args


def _sections(args: argparse.Namespace, work_dir: Path) -> Iterator[str]:
    sizes = (
        args.write_rows,
        args.rows,
        args.big,
        2 * args.big,
        *([args.limited_rows] if args.limited_rows else []),
    )
    files = {n: cached_posts(n, args.cache_dir) for n in sizes}
    for n, (path, how) in sorted(files.items()):
        yield f"data: {n:,} posts, {path.stat().st_size / 2**20:,.1f} MiB of Parquet: {how}"
    yield ""
    yield from bench_writer(files[args.write_rows][0], args.write_rows, work_dir)
    yield ""
    yield from bench_pipeline(files[args.rows][0], args.rows, work_dir)
    yield ""
    if args.limited_rows:
        yield from bench_limited(files[args.limited_rows][0], args.limited_rows, work_dir)
    else:
        yield "3. against feedkit serve --rate-limit (the hosted limits): not measured (0 rows)"
    yield ""
    yield from bench_memory(args.big, files, work_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_write:
        return child_write(args.child_write)
    return print_sections("pipeline", _sections, args)


if __name__ == "__main__":
    sys.exit(main())
