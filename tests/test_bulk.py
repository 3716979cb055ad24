"""The bulk import: accounting, dry runs, checkpoints, crashes, faults and refused items."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import feedkit
from feedkit.bulk import ImportInterrupted
from feedkit.checkpoint import CheckpointError
from feedkit.server.app import create_app
from feedkit.transport import InProcessTransport

DATA = Path(__file__).resolve().parents[1] / "data"
MAPPING = feedkit.Mapping.from_toml(DATA / "posts.toml")


def stored(db_path: Path) -> dict[str, dict[str, object]]:
    """id -> the activity as the server returns it, read through a fresh client."""
    with feedkit.connect(db_path) as client:
        return {a["id"]: a for a in client.iter_activities(include_expired_activities=True)}


def expected_by_id(source: object) -> dict[str, dict[str, object]]:
    return {a["id"]: a for a in feedkit.to_activities(source, MAPPING).activities}


def assert_equal_to_source(got: dict[str, object], want: dict[str, object]) -> None:
    """The stored activity carries every field of its source row, exactly."""
    for key, value in want.items():
        if key == "user_id":
            assert got["user"]["id"] == value  # type: ignore[index]
        elif key == "mentioned_user_ids":
            assert [u["id"] for u in got["mentioned_users"]] == value  # type: ignore[union-attr]
        elif key == "expires_at":
            assert got[key] == feedkit.schema.parse_time(value)
        elif key == "attachments":
            assert got[key] == value
        else:
            assert got[key] == value, key


@pytest.fixture
def client() -> Iterator[feedkit.Client]:
    with feedkit.connect(":memory:") as c:
        yield c


def test_report_accounts_for_every_row(client: feedkit.Client, tmp_path: Path) -> None:
    errors_csv = tmp_path / "errors.csv"
    report = feedkit.import_activities(
        client, DATA / "posts.csv", MAPPING, progress=False, errors_path=errors_csv, batch_size=37
    )
    assert report.rows_read == 3000
    assert report.valid + report.invalid == report.rows_read
    assert report.acknowledged == report.sent == report.valid == 2985
    assert report.failed == 0 and not report.ok  # 15 rows are invalid
    assert len(pd.read_csv(errors_csv)) == report.errors_total == len(report.errors) == 15
    assert "rows read" in report.summary() and "<table" in report._repr_html_()
    got = {a["id"]: a for a in client.iter_activities(include_expired_activities=True)}
    want = expected_by_id(DATA / "posts.csv")
    assert got.keys() == want.keys()
    for aid in random.Random(1).sample(sorted(want), 200):
        assert_equal_to_source(got[aid], want[aid])


def test_dry_run_sends_nothing(client: feedkit.Client) -> None:
    report = feedkit.import_activities(client, DATA / "posts.parquet", MAPPING, dry_run=True,
                                       progress=False)  # fmt: skip
    assert report.valid == 2989 and report.invalid == 11 and report.sent == 0
    assert list(client.query_activities()) == []


def test_options_are_checked(client: feedkit.Client) -> None:
    with pytest.raises(TypeError, match="unknown option"):
        feedkit.import_activities(client, DATA / "posts.csv", MAPPING, batchsize=5)
    with pytest.raises(ValueError, match="batch_size"):
        feedkit.import_activities(client, DATA / "posts.csv", MAPPING, batch_size=101)


def test_rerun_with_checkpoint_sends_only_the_rest(tmp_path: Path) -> None:
    db, journal = tmp_path / "s.db", tmp_path / "ck"
    with feedkit.connect(db) as client:
        first = feedkit.import_activities(client, DATA / "posts.parquet", MAPPING,
                                          checkpoint=journal, progress=False)  # fmt: skip
        again = feedkit.import_activities(client, DATA / "posts.parquet", MAPPING,
                                          checkpoint=journal, progress=False)  # fmt: skip
    assert first.acknowledged == 2989 and again.sent == 0 and again.skipped == 2989
    other = tmp_path / "other.parquet"  # another source: nothing of it was acknowledged
    pd.read_parquet(DATA / "posts.parquet").head(10).to_parquet(other)
    with feedkit.connect(db) as client:
        third = feedkit.import_activities(client, other, MAPPING, checkpoint=journal,
                                          progress=False)  # fmt: skip
    assert third.skipped == 0 and third.sent == third.acknowledged == third.valid == 10


def test_a_checkpoint_is_bound_to_its_destination(tmp_path: Path) -> None:
    journal = tmp_path / "ck"
    with feedkit.connect(tmp_path / "a.db") as a:
        feedkit.import_activities(a, DATA / "posts.parquet", MAPPING, checkpoint=journal,
                                  progress=False)  # fmt: skip
    for other in (tmp_path / "b.db", ":memory:"):  # another store: refused, nothing sent
        refused = pytest.raises(CheckpointError, match="another destination")
        with feedkit.connect(other) as b, refused:
            feedkit.import_activities(b, DATA / "posts.parquet", MAPPING, checkpoint=journal,
                                      progress=False)  # fmt: skip
        with feedkit.connect(other) as b:
            assert len(b.query_activities()) == 0


def test_interrupt_raises_with_the_report_and_a_rerun_resumes(
    client: feedkit.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, calls = tmp_path / "ck", iter(range(10**6))
    real = client.request

    def interrupted_after_three(*args: object, **kwargs: object) -> dict[str, object]:
        if next(calls) >= 3:  # Ctrl-C while the fourth request is in flight, and after it
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client, "request", interrupted_after_three)
    with pytest.raises(ImportInterrupted) as stop:
        feedkit.import_activities(client, DATA / "posts.parquet", MAPPING, checkpoint=journal,
                                  concurrency=1, progress=False)  # fmt: skip
    assert isinstance(stop.value, KeyboardInterrupt)  # the CLI's Ctrl-C handling still applies
    first = stop.value.report
    assert first.interrupted and not first.ok and first.acknowledged == first.sent == 300
    assert first.failed == 0 and "rerun with the same checkpoint" in first.summary()
    monkeypatch.undo()
    again = feedkit.import_activities(client, DATA / "posts.parquet", MAPPING,
                                      checkpoint=journal, progress=False)  # fmt: skip
    assert again.skipped == 300 and again.acknowledged == again.sent == 2989 - 300
    everything = client.iter_activities(include_expired_activities=True)
    assert not again.interrupted and sum(1 for _ in everything) == 2989


class Faulty(httpx.BaseTransport):
    """Answers some requests with 429, 503, or a dropped connection (before or after the
    server saw the request), deterministically from a seed."""

    def __init__(self, inner: httpx.BaseTransport, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            fault = (
                self.rng.choice(["429", "503", "drop", "lost"])
                if (self.rng.random() < self.rate)
                else None
            )
            if fault:
                self.injected[fault] = self.injected.get(fault, 0) + 1
        if fault == "429":
            return httpx.Response(429, headers={"Retry-After": "0"}, json={
                "code": 9, "message": "slow down", "StatusCode": 429, "duration": "0ms",
                "more_info": "", "details": []})  # fmt: skip
        if fault == "503":
            return httpx.Response(503, text="unavailable")
        if fault == "drop":
            raise httpx.ConnectError("connection reset before the request was sent")
        response = self.inner.handle_request(request)
        if fault == "lost":
            raise httpx.ReadError("connection reset after the server handled the request")
        return response


def test_faults_every_valid_row_delivered_once() -> None:
    app = create_app(":memory:", api_key="k", api_secret="s" * 40)
    faulty = Faulty(InProcessTransport(app), rate=0.3, seed=7)
    retry = feedkit.Retry(attempts=12, backoff=0.001, max_backoff=0.01)
    with feedkit.Client("http://faulty", "k", "s" * 40, transport=faulty, retry=retry) as client:
        report = feedkit.import_activities(client, DATA / "posts.parquet", MAPPING,
                                           progress=False, batch_size=20)  # fmt: skip
        assert sum(faulty.injected.values()) > 20 and len(faulty.injected) == 4
        assert report.acknowledged == report.valid == 2989 and report.failed == 0
        faulty.rate = 0.0
        got = [a["id"] for a in client.iter_activities(include_expired_activities=True)]
    assert len(got) == len(set(got)) == 2989
    assert set(got) == set(expected_by_id(DATA / "posts.parquet"))


def test_refused_items_are_reported_and_the_rest_stored(client: feedkit.Client) -> None:
    frame = pd.DataFrame({"pid": [f"r{i}" for i in range(10)], "who": ["ann"] * 10})
    frame.loc[4, "who"] = ""  # user_id empty: valid for the schema, refused by the server
    mapping = feedkit.Mapping.build({"id": "{pid}", "type": "post", "user_id": "{who}",
                                     "feeds": ["topic:all"]})  # fmt: skip
    report = feedkit.import_activities(client, frame, mapping, progress=False)
    assert report.acknowledged == 9 and report.failed == 1
    assert report.errors[["row", "code"]].values.tolist() == [[4, "send_failed"]]
    assert "user_id" in report.errors["message"][0]
    assert len(client.query_activities()) == 9


def big_csv(tmp_path: Path, copies: int) -> Path:
    frame = pd.read_parquet(DATA / "posts.parquet")
    parts = []
    for k in range(copies):
        part = frame.copy()
        part["post_id"] = part["post_id"].map(lambda p, k=k: f"{p}-{k}" if p else p)
        parts.append(part)
    path = tmp_path / "big.parquet"
    pd.concat(parts, ignore_index=True).to_parquet(path)
    return path


def test_sigkill_at_random_points_then_resume_is_exact(tmp_path: Path) -> None:
    source = big_csv(tmp_path, 4)  # 12,000 rows
    db, journal = tmp_path / "crash.db", tmp_path / "crash.ck"
    cmd = [sys.executable, "-m", "feedkit", "import", str(source), "--mapping",
           str(DATA / "posts.toml"), "--db", str(db), "--checkpoint", str(journal),
           "--batch-size", "25", "--concurrency", "2", "--no-progress"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_", "FEEDKIT_"))}
    rng = random.Random(2026)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)  # fmt: skip
        target = rng.randint(3, 60)  # journal lines before the kill
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            lines = journal.read_text().count("\n") if journal.exists() else 0
            if lines >= target:
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        proc.wait(timeout=30)
    assert kills >= 2, "the import finished before it could be killed"
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr  # the sample's bad rows, reported
    assert "failed                 0" in done.stdout
    want = expected_by_id(source)
    got = stored(db)
    assert got.keys() == want.keys()
    for aid in random.Random(3).sample(sorted(want), 300):
        assert_equal_to_source(got[aid], want[aid])
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM activities").fetchone()[0] == len(want)
