"""Benchmark of ``feedkit.migrate``: a whole generated app into ``feedkit serve``, as ratios.

The machine this runs on is shared and noisy, so every figure is printed beside a peer
measured in the same run on the same generated app (``data/make_app.py``: users, posts,
follows, comments with replies, likes on posts and comments, saved posts; a few bad rows in
each), and targets are judged on the ratio:

1. Per step (kind), the rate of ``feedkit.migrate`` into a fresh ``feedkit serve`` against
   the official SDK's loop over the same rows (its batch method where the API has one:
   ``update_users``, ``upsert_activities``, ``follow_batch``, ``add_comments_batch``; one call
   a row for reactions and bookmarks) and against a raw SQLite insert of the same rows into
   the server's schema. Targets: >= 10x the SDK, >= 0.25x raw.
2. Peak RSS of a dry-run migration of an app ten and twenty times the size, each in a fresh
   child process. Target: twenty times within 10% of ten times.
3. The reference checks' cost: the same app migrated with them (``feedkit.migrate``) and
   without (each step by ``feedkit.import_rows``, no check). Target: checked <= 1.2x.

Run ``python benchmarks/bench_migrate.py`` (``--quick`` for a smoke run, ``--help`` for options).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pandas as pd
from bench_import import median_of, mib, print_sections, run_json_child, vm_hwm_kib
from bench_server import API_KEY, API_SECRET, chunks, connect, ingest_raw, remove_db, serving
from bench_server import verdict as _verdict

import feedkit
from feedkit.bulk import ImportReport
from feedkit.convert import convert
from feedkit.plan import Plan, Step
from feedkit.resources import RESOURCES
from feedkit.server.comment_store import INSERTED as COMMENT_INSERTED
from feedkit.server.comment_store import encode_doc as encode_comment_doc
from feedkit.server.reactions import ACTIVITY, COMMENT
from feedkit.server.reactions import COLUMNS as REACTION_COLUMNS
from feedkit.server.store import SCHEMA

SDK_TARGET = 10.0  # feedkit rows/s over the SDK loop's rows/s, per kind, at least
RAW_TARGET = 0.25  # feedkit rows/s over raw SQLite insert rows/s, per kind, at least
RSS_TARGET = 1.10  # peak RSS of the 20x app over the 10x app's, at most
REFS_TARGET = 1.20  # migration time with reference checks over without, at most
BATCH = 100
CONCURRENCY = 4
RAW_RUNS = 3

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "data" / "app"  # the tutorial app: its mappings and plan are the benchmark's
# The issue's app: users, posts, follows, comments, reactions (bookmarks follow the posts).
ISSUE_APP = (10_000, 100_000, 200_000, 100_000, 300_000)
ROWS = "rows.json"  # in an app's folder: the rows of each table, as make_app counted them
FILES = {"user": "users.csv", "activity": "posts.csv", "follow": "follows.csv",
         "comment": "comments.csv", "reaction": "likes.csv", "bookmark": "saved.csv"}  # fmt: skip


def verdict(ratio: float, target: float, at_least: bool = True) -> str:
    ok = ratio >= target if at_least else ratio <= target
    return f"(target {'>=' if at_least else '<='} {target:g}x) {_verdict(ok)}"


# -- the data ---------------------------------------------------------------------------------


def make_app_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_app", REPO / "data" / "make_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_app"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def app_counts(size: float) -> tuple[int, ...]:
    return tuple(max(1, round(n * size)) for n in ISSUE_APP)


def cached_app(size: float, cache_dir: Path) -> tuple[Path, str]:
    """The folder of an app ``size`` times the issue's (CSV tables, their mappings and the
    plan of data/app), in ``cache_dir``; generated when missing."""
    counts = app_counts(size)
    source = (REPO / "data" / "make_app.py").read_bytes()
    digest = hashlib.sha256(source + b"".join(p.read_bytes() for p in sorted(APP.glob("*.toml"))))
    folder = cache_dir / f"app-{'-'.join(map(str, counts))}-{digest.hexdigest()[:12]}"
    if folder.exists():
        return folder, "cached"
    started = time.perf_counter()
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.writing")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        make_app = make_app_module()
        rows = make_app.generate(tmp, shape=make_app.Shape.sized(*counts))
        (tmp / ROWS).write_text(json.dumps(rows))
        for toml in APP.glob("*.toml"):
            shutil.copyfile(toml, tmp / toml.name)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder, f"written in {time.perf_counter() - started:.1f}s"


def describe(folder: Path) -> str:
    """The rows of each table of the app in ``folder`` (counted once, when generated)."""
    known = json.loads((folder / ROWS).read_text()) if (folder / ROWS).exists() else {}
    rows = {k: known.get(f) or sum(1 for _ in open_rows(folder / f)) for k, f in FILES.items()}
    return ", ".join(f"{n:,} {RESOURCES[k].plural}" for k, n in rows.items())


def open_rows(path: Path) -> Iterator[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


# -- 1. per step: feedkit, the SDK, raw SQLite -------------------------------------------------


def stored(db: Path) -> dict[str, int]:
    tables = {"user": "users", "activity": "activities", "follow": "follows",
              "comment": "comments", "reaction": "reactions", "bookmark": "bookmarks"}  # fmt: skip
    conn = sqlite3.connect(db)
    try:
        return {k: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for k, t in tables.items()}  # fmt: skip
    finally:
        conn.close()


def migrate_feedkit(
    plan: Plan, work_dir: Path, via: str = "api"
) -> tuple[feedkit.MigrationReport, float]:
    """The checked migration into a fresh server: its report and its wall seconds."""
    db = work_dir / "migrate-feedkit.db"
    with serving(db, work_dir) as url, connect(url) as client:
        started = time.perf_counter()
        report = feedkit.migrate(client, plan, concurrency=CONCURRENCY, progress=False, via=via)
        wall = time.perf_counter() - started
    check_sent(report.steps)
    remove_db(db)
    return report, wall


def check_sent(steps: Sequence[tuple[Step, ImportReport]]) -> None:
    for step, r in steps:
        if r.failed or r.acknowledged != r.valid:
            raise RuntimeError(f"the {step.kind} step did not store every valid row:\n"
                               f"{r.summary() if hasattr(r, 'summary') else r}")  # fmt: skip


def invalid_rows(report: ImportReport) -> set[int]:
    return {int(r) for r in report.errors["row"].tolist()}


# The loop a user writes with the official SDK: pandas reads the table, each record becomes
# the SDK's request model, and goes out in batches of 100 where the API takes a batch.


def _sdk_user(r: dict[str, str]) -> Any:
    from getstream.models import UserRequest

    return UserRequest(
        id=r["user_id"], name=r["display_name"] or None, image=r["avatar"] or None,
        language=r["lang"] or None, teams=r["teams"].split(";") if r["teams"] else None,
        custom={"username": r["username"], "bio": r["bio"], "is_admin": r["is_admin"],
                "prefs": json.loads(r["prefs"]) if r["prefs"] else None},
    )  # fmt: skip


def _sdk_activity(r: dict[str, str]) -> Any:
    from getstream.models import ActivityRequest, Attachment

    return ActivityRequest(
        type="post", id=r["post_id"], user_id=r["author_id"], text=r["body"],
        feeds=[f"user:{r['author_id']}", *([r["wall"]] if r["wall"] else [])],
        filter_tags=r["tags"].split(",") if r["tags"] else None,
        attachments=(
            [Attachment(custom={}, type="image", image_url=r["image"])] if r["image"] else None
        ),
    )  # fmt: skip


def _sdk_follow(r: dict[str, str]) -> Any:
    from getstream.models import FollowRequest

    return FollowRequest(source=f"timeline:{r['follower_id']}", target=f"user:{r['followee_id']}",
                         push_preference=r["notify"] or None)  # fmt: skip


def _sdk_comment(r: dict[str, str]) -> Any:
    from getstream.models import AddCommentRequest

    return AddCommentRequest(
        id=r["comment_id"], comment=r["body"], object_id=r["post_id"], object_type="activity",
        parent_id=r["reply_to"] or None, user_id=r["author_id"],
    )  # fmt: skip


def _sdk_send(client: Any, kind: str, rows: list[dict[str, str]]) -> None:
    feeds = client.feeds
    if kind == "reaction":
        for r in rows:
            if r["comment_id"]:
                feeds.add_comment_reaction(id=r["comment_id"], type=r["kind"], user_id=r["user_id"])
            else:
                feeds.add_activity_reaction(
                    activity_id=r["post_id"], type=r["kind"], user_id=r["user_id"]
                )
        return
    if kind == "bookmark":
        for r in rows:
            feeds.add_bookmark(activity_id=r["post_id"], user_id=r["user_id"],
                               custom={"folder": r["folder"]} if r["folder"] else None)  # fmt: skip
        return
    for batch in chunks(rows, BATCH):
        if kind == "user":
            client.update_users(users={u.id: u for u in map(_sdk_user, batch)})
        elif kind == "activity":
            feeds.upsert_activities(activities=[_sdk_activity(r) for r in batch])
        elif kind == "follow":
            feeds.follow_batch(follows=[_sdk_follow(r) for r in batch])
        else:
            feeds.add_comments_batch(comments=[_sdk_comment(r) for r in batch])


def _parents_first(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Comments ordered so that each comes after the comment it answers (the old export
    lists a few replies first, and a batch that names an unknown parent is refused)."""
    parent = {r["comment_id"]: r["reply_to"] for r in rows}

    def depth(cid: str) -> int:
        d = 0
        while parent.get(cid):
            cid, d = parent[cid], d + 1
        return d

    return sorted(rows, key=lambda r: depth(r["comment_id"]))


@dataclass
class SdkRun:
    rows: int = 0
    rate: float = 0.0  # rows/s, the whole-table read prorated
    send_rate: float = 0.0  # rows/s of the loop alone


def migrate_sdk(
    plan: Plan, report: feedkit.MigrationReport, share: float, work_dir: Path
) -> dict[str, SdkRun]:
    """The SDK's loops into a fresh server, kind by kind in the migration's order, each over
    the first ``share`` of its table's valid rows (every user) whose references the loop
    stored before (untimed: which rows those are)."""
    import getstream.models  # noqa: F401  (imported untimed: ~1 s of dataclass set-up)
    from getstream import Stream

    invalid = {s.kind: invalid_rows(r) for s, r in report.steps}
    sent: dict[str, set[str]] = {"activity": set(), "comment": set()}
    runs: dict[str, SdkRun] = {}
    db = work_dir / "migrate-sdk.db"
    with serving(db, work_dir) as url:
        client = Stream(api_key=API_KEY, api_secret=API_SECRET, base_url=url, timeout=60.0)
        try:
            for step in plan.steps:
                kind = step.kind
                started = time.perf_counter()
                df = pd.read_csv(step.source, dtype=str, keep_default_na=False)
                read_s = time.perf_counter() - started
                total = len(df)
                take = total if kind == "user" else max(1, math.ceil(total * share))
                keep = [i for i in range(take) if i not in invalid[kind]]
                rows = [r for r in df.iloc[keep].to_dict("records") if _refs_sent(kind, r, sent)]
                if kind == "comment":
                    rows = _parents_first(rows)
                del df
                started = time.perf_counter()
                _sdk_send(client, kind, rows)
                loop_s = time.perf_counter() - started
                n = len(rows)
                runs[kind] = SdkRun(n, n / (read_s * n / total + loop_s), n / loop_s)
                if kind in sent:
                    sent[kind] |= {r["post_id" if kind == "activity" else "comment_id"]
                                   for r in rows}  # fmt: skip
        finally:
            client.close()
    counts = stored(db)
    remove_db(db)
    for kind, run in runs.items():
        if counts[kind] < run.rows:
            raise RuntimeError(f"the SDK stored {counts[kind]:,} of {run.rows:,} {kind} rows")
    return runs


def _refs_sent(kind: str, r: dict[str, str], sent: dict[str, set[str]]) -> bool:
    if kind == "comment":
        return r["post_id"] in sent["activity"]
    if kind == "reaction":
        if r["comment_id"]:
            return r["comment_id"] in sent["comment"]
        return r["post_id"] in sent["activity"]
    if kind == "bookmark":
        return r["post_id"] in sent["activity"]
    return True


# The raw ceiling: the same valid rows, as feedkit's request JSON (made untimed), inserted with
# sqlite3 alone into the server's tables, one transaction per 100 rows, WAL.

_FEED = ("INSERT OR IGNORE INTO feeds (fid, group_id, id, created_by, created_at, updated_at, "
         "doc) VALUES (?, ?, ?, NULL, ?, ?, '{}')")  # fmt: skip
_WRITES: dict[str, Callable[[sqlite3.Connection, dict[str, Any], int], None]] = {}


def _writes(kind: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def register(write: Callable[..., None]) -> Callable[..., None]:
        _WRITES[kind] = write
        return write

    return register


@_writes("user")
def _raw_user(db: sqlite3.Connection, u: dict[str, Any], at: int) -> None:
    db.execute(
        "INSERT INTO users (id, created_at, updated_at, doc) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, doc = excluded.doc",
        (u["id"], at, at, orjson.dumps({k: v for k, v in u.items() if k != "id"})),
    )


@_writes("follow")
def _raw_follow(db: sqlite3.Connection, f: dict[str, Any], at: int) -> None:
    for fid in (f["source"], f["target"]):
        db.execute(_FEED, (fid, *fid.split(":", 1), at, at))
    db.execute(
        "INSERT INTO follows (source, target, created_at, updated_at, push_preference) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, target) DO UPDATE SET "
        "updated_at = excluded.updated_at, push_preference = excluded.push_preference",
        (f["source"], f["target"], at, at, f.get("push_preference") or "none"),
    )


@_writes("comment")
def _raw_comment(db: sqlite3.Connection, c: dict[str, Any], at: int) -> None:
    record = {**c, "parent_id": c.get("parent_id"), "created_at": at, "updated_at": at,
              "text": c.get("comment")}  # fmt: skip
    db.execute(
        f"INSERT INTO comments ({', '.join(COMMENT_INSERTED)}, doc) "
        f"VALUES ({', '.join('?' * (len(COMMENT_INSERTED) + 1))})",
        [*(record[k] for k in COMMENT_INSERTED), encode_comment_doc(record)],
    )


@_writes("reaction")
def _raw_reaction(db: sqlite3.Connection, r: dict[str, Any], at: int) -> None:
    on_comment = bool(r.get("comment_id"))
    target = r["comment_id"] if on_comment else r["activity_id"]
    db.execute(
        f"INSERT INTO reactions ({', '.join(REACTION_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (object_type, object_id, user_id, type) DO UPDATE SET "
        "custom = excluded.custom, updated_at = excluded.updated_at",
        (COMMENT if on_comment else ACTIVITY, target, r["user_id"], r["type"], target,
         orjson.dumps(r.get("custom") or {}), at, at),
    )  # fmt: skip


@_writes("bookmark")
def _raw_bookmark(db: sqlite3.Connection, b: dict[str, Any], at: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO bookmarks (user_id, activity_id, folder_id, custom, created_at, "
        "updated_at) VALUES (?, ?, '', ?, ?, ?)",
        (b["user_id"], b["activity_id"], orjson.dumps(b.get("custom") or {}), at, at),
    )


def valid_json(step: Step, invalid: set[int]) -> list[dict[str, Any]]:
    """The step's rows feedkit sent, as the request JSON it made of them."""
    _, batches = convert(step.source, step.mapping)
    rows: list[dict[str, Any]] = []
    for b in batches:
        rows += [orjson.loads(t) for t, i in zip(b.json.to_pylist(), b.rows.tolist(), strict=True)
                 if i not in invalid]  # fmt: skip
    return rows


def insert_raw(path: Path, kind: str, rows: Sequence[dict[str, Any]]) -> float:
    """Seconds to insert ``rows`` of ``kind`` into a fresh file of the server's schema."""
    if kind == "activity":
        return ingest_raw(path, rows)  # bench_server's upsert: activities and their keys
    write = _WRITES[kind]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        started = time.perf_counter()
        clock = time.time_ns()
        for batch in chunks(rows, BATCH):
            db.execute("BEGIN IMMEDIATE")
            for row in batch:
                clock = max(time.time_ns(), clock + 1)
                write(db, row, clock)
            db.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        db.close()


def raw_rates(
    plan: Plan, report: feedkit.MigrationReport, work_dir: Path
) -> dict[str, list[float]]:
    invalid = {s.kind: invalid_rows(r) for s, r in report.steps}
    rates: dict[str, list[float]] = {}
    for step in plan.steps:
        rows = valid_json(step, invalid[step.kind])
        for n in range(RAW_RUNS):
            db = work_dir / f"raw-{step.kind}-{n}.db"
            rates.setdefault(step.kind, []).append(len(rows) / insert_raw(db, step.kind, rows))
            remove_db(db)
    return rates


def bench_steps(
    folder: Path, share: float, work_dir: Path, done: list[feedkit.MigrationReport], via: str
) -> Iterator[str]:
    """Part 1's lines; the checked migration's report is appended to ``done``."""
    plan = Plan.from_toml(folder / "plan.toml")
    yield (
        f"1. migration of the app into a fresh feedkit serve + SQLite file per run: "
        f"feedkit.migrate (via {via}, concurrency {CONCURRENCY}, batches of {BATCH}) per step"
    )
    report, wall = migrate_feedkit(plan, work_dir, via)
    done.append(report)
    sdk = migrate_sdk(plan, report, share, work_dir)
    raw = raw_rates(plan, report, work_dir)
    yield (
        f"   feedkit: {report.total('rows_read'):,} rows in {wall:.1f}s "
        f"({report.total('rows_read') / wall:,.0f} rows/s; {report.total('invalid'):,} invalid "
        "rows refused, as data/app/README.md says)"
    )
    for step, r in report.steps:
        kind = step.kind
        fk = r.rows_read / r.duration
        per_row = (
            "import pipeline" if r.task is not None
            else "one request a row" if step.resource.items is None else f"batches of {BATCH}"
        )  # fmt: skip
        s, ceiling = sdk[kind], statistics.median(raw[kind])
        yield (
            f"   {kind:<9} {r.rows_read:>9,} rows  feedkit {fk:>9,.0f} rows/s ({per_row})  "
            f"sdk {s.rate:>7,.0f} rows/s ({s.rows:,} rows; {s.send_rate:,.0f} without "
            f"read_csv)  raw {ceiling:>9,.0f} rows/s ({median_of(raw[kind])})"
        )
        for label, peer, target in (("sdk", s.rate, SDK_TARGET), ("raw", ceiling, RAW_TARGET)):
            ratio = fk / peer
            yield f"   migrate ratio {kind} feedkit/{label} {ratio:.2f}x {verdict(ratio, target)}"


# -- 2. peak memory of a dry run ---------------------------------------------------------------


def child_migrate(plan_path: str) -> int:
    """The child's side: a dry-run migration of ``plan_path``; one JSON line with its peak RSS
    before (libraries loaded) and after, the rows read and the seconds."""
    baseline = vm_hwm_kib()
    if baseline < 0:
        raise SystemExit("peak RSS is read from /proc/self/status: run part 2 on Linux")
    report = feedkit.migrate(None, plan_path, dry_run=True, progress=False)
    print(json.dumps({"peak_kib": vm_hwm_kib(), "baseline_kib": baseline,
                      "rows_read": report.total("rows_read"), "seconds": report.duration}),
          flush=True)  # fmt: skip
    return 0


def bench_memory(apps: dict[int, Path], runs: int, work_dir: Path) -> Iterator[str]:
    small, big = sorted(apps)
    yield (
        f"2. peak RSS of a dry-run feedkit.migrate of apps {small}x and {big}x the benchmark's, "
        f"each in a fresh child process ({runs} run{'s' if runs > 1 else ''} a size, alternated)"
    )
    tries: dict[int, list[dict[str, Any]]] = {k: [] for k in apps}
    for _ in range(runs):
        for k, folder in sorted(apps.items()):
            tries[k].append(run_json_child(
                ["--child-migrate", str(folder / "plan.toml")], None, work_dir, script=__file__
            ))  # fmt: skip
    peaks: dict[int, int] = {}
    for k in (small, big):
        done = sorted(tries[k], key=lambda r: int(r["peak_kib"]))
        median = done[len(done) // 2]
        peaks[k] = int(median["peak_kib"])
        rows = int(median["rows_read"])
        yield (
            f"   {k:>3}x: {rows:>11,} rows  peak {mib(peaks[k]):>9}  "
            f"({', '.join(mib(int(r['peak_kib'])) for r in tries[k])}; libraries loaded: "
            f"{mib(int(median['baseline_kib']))}; {rows / float(median['seconds']):,.0f} rows/s)"
        )
    ratio = peaks[big] / peaks[small]
    yield f"   rss ratio {big}x/{small}x {ratio:.3f}x {verdict(ratio, RSS_TARGET, at_least=False)}"


# -- 3. the reference checks' cost -------------------------------------------------------------


def bench_refs(
    folder: Path, work_dir: Path, checked: feedkit.MigrationReport | None = None
) -> Iterator[str]:
    """Part 3's lines; ``checked`` is part 1's migration when it was of the same app."""
    plan = Plan.from_toml(folder / "plan.toml")
    yield (
        f"3. reference checks: {describe(folder)}, migrated into a fresh server with the checks "
        "(feedkit.migrate) and without (feedkit.import_rows per step, no check)"
    )
    if checked is None:
        checked, _ = migrate_feedkit(plan, work_dir)
    db = work_dir / "migrate-unchecked.db"
    with serving(db, work_dir) as url, connect(url) as client:
        started = time.perf_counter()
        unchecked = [(s, feedkit.import_rows(client, s.source, s.mapping, concurrency=CONCURRENCY,
                                             progress=False)) for s in plan.steps]  # fmt: skip
        unchecked_s = time.perf_counter() - started
    remove_db(db)
    refused = sum(int((r.errors["code"] == "unknown_reference").sum()) for _, r in checked.steps)
    failed = sum(r.failed for _, r in unchecked)
    yield (
        f"   with checks {checked.duration:.1f}s ({refused} rows refused as unknown_reference), "
        f"without {unchecked_s:.1f}s ({failed} rows failed at the server instead)"
    )
    for (step, a), (_, b) in zip(checked.steps, unchecked, strict=True):
        yield f"   {step.kind:<9} checked {a.duration:6.2f}s  unchecked {b.duration:6.2f}s"
    ratio = checked.duration / unchecked_s
    yield (
        f"   refs ratio checked/unchecked {ratio:.2f}x "
        f"{verdict(ratio, REFS_TARGET, at_least=False)}"
    )


# -- the command ------------------------------------------------------------------------------

FULL: dict[str, Any] = {
    "size": 1.0,
    "sdk_share": 0.05,
    "refs_size": 0.1,
    "rss_runs": 3,  # a size's peak varies by ~10% between runs (the allocator): the median
    "via": "auto",
}
QUICK: dict[str, Any] = {
    "size": 0.02,
    "sdk_share": 0.1,
    "refs_size": 0.02,
    "rss_runs": 1,
    "via": "auto",
}
RSS_TIMES = (10, 20)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options = (
        ("size", float, "the app of part 1, times the issue's (10k users, 100k posts, 200k "
                        "follows, 100k comments, 300k reactions); part 2 runs 10x and 20x it"),
        ("sdk-share", float, "of each table, the share the slow SDK loops send (every user)"),
        ("refs-size", float, "the app of part 3 (migrated twice), times the issue's"),
        ("rss-runs", int, "dry runs of each size in part 2 (the median peak is compared)"),
        ("via", str, "feedkit.migrate's via in part 1: auto (each step chooses; a big step of "
                     "reactions or bookmarks takes the import pipeline) or api"),
    )  # fmt: skip
    for name, kind, what in options:
        key = name.replace("-", "_")
        full, quick = (f"{v:g}" if isinstance(v, float | int) else v
                       for v in (FULL[key], QUICK[key]))  # fmt: skip
        help = f"{what} (default {full}; --quick {quick})"
        parser.add_argument(f"--{name}", type=kind, help=help)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "feedkit-bench-cache",
        help="where generated apps are kept between runs (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: the smaller defaults")
    parser.add_argument("--child-migrate", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.size, args.refs_size, args.sdk_share, args.rss_runs) <= 0 or args.sdk_share > 1:
        parser.error("sizes and --rss-runs must be positive, --sdk-share at most 1")
    if args.via not in ("api", "auto"):
        parser.error("--via is api or auto")
    return args


def _sections(args: argparse.Namespace, work_dir: Path) -> Iterator[str]:
    sizes = {args.size, args.refs_size, *(args.size * k for k in RSS_TIMES)}
    apps = {size: cached_app(size, args.cache_dir) for size in sorted(sizes)}
    for size, (folder, how) in apps.items():
        yield f"data: the app at {size:g}x the issue's: {describe(folder)}: {how} ({folder})"
    yield ""
    done: list[feedkit.MigrationReport] = []
    yield from bench_steps(apps[args.size][0], args.sdk_share, work_dir, done, args.via)
    yield ""
    yield from bench_memory({k: apps[args.size * k][0] for k in RSS_TIMES}, args.rss_runs, work_dir)
    yield ""
    # part 1's migration is the checked one when it was of the same app, through the API
    same = args.refs_size == args.size and args.via == "api"
    yield from bench_refs(apps[args.refs_size][0], work_dir, done[0] if same else None)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_migrate:
        return child_migrate(args.child_migrate)
    return print_sections("migration", _sections, args, ("pyarrow", "pandas", "getstream"))


if __name__ == "__main__":
    sys.exit(main())
