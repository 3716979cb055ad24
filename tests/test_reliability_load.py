"""Load on ``feedkit serve``: concurrent clients on 127.0.0.1 for a fixed time, then an audit.

Eight worker threads, each with its own HTTP connection and its own ids, mix batch upserts,
partial updates, feed reads and queries for ``DURATION_S`` seconds. Every answer must be a
success (the server runs without a rate limit, so a 429 is a failure too), and every read
must be right about what that worker has written (reads run beside other workers' writes,
so they check only the worker's own ids). Afterwards, with the server stopped, the store
must hold exactly the acknowledged writes, each with its last acknowledged content, with
consistent index rows, and pass ``PRAGMA integrity_check``.

Latency percentiles and throughput are printed and written to RELIABILITY.md. They describe
this machine at the moment of the run; nothing asserts on them.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from _reliability import record, table
from _serve import ACTIVITIES, Server, new_secret, running, table_counts

from feedkit.server.store import activity_keys

pytestmark = pytest.mark.reliability

WORKERS = 8
DURATION_S = 15.0
JOIN_TIMEOUT_S = DURATION_S + 60.0  # a worker mid-request finishes it, bounded by its timeout
REQUEST_TIMEOUT_S = 30.0
KINDS = ("upsert", "partial", "feed", "query")
MAX_UPSERT = 5  # activities in one batch upsert, at most
FEED_PAGE = 25
WEIGHTS = (3, 3, 2, 2)


@dataclass
class Worker:
    """One client: its ids, what the server acknowledged for each, and what it measured."""

    n: int
    rng: random.Random
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last content
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: list[str] = field(default_factory=list)
    serial: int = 0

    @property
    def user(self) -> str:
        return f"w{self.n}"

    def content(self, activity_id: str) -> dict[str, Any]:
        self.serial += 1
        return {
            "id": activity_id,
            "type": "post",
            "user_id": self.user,
            "feeds": [f"user:{self.user}", f"topic:t{self.rng.randrange(4)}"],
            "text": f"{activity_id} v{self.serial}",
            "filter_tags": [f"{self.user}-tag{self.rng.randrange(3)}"],
            "custom": {"serial": self.serial, "worker": self.n},
        }

    def step(self, http: httpx.Client) -> None:
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        if kind == "partial" and not self.acked:
            kind = "upsert"
        start = time.perf_counter()
        check = getattr(self, f"_{kind}")(http)
        self.latencies[kind].append(time.perf_counter() - start)
        check()

    def _fail(self, what: str, response: httpx.Response) -> None:
        self.errors.append(f"worker {self.n} {what}: {response.status_code} {response.text[:300]}")

    def _upsert(self, http: httpx.Client) -> Any:
        fresh = self.rng.random() < 0.5 or not self.acked
        ids = [
            f"{self.user}-{len(self.acked) + i}" if fresh else self.rng.choice(list(self.acked))
            for i in range(self.rng.randint(1, MAX_UPSERT))
        ]
        bodies = [self.content(i) for i in dict.fromkeys(ids)]
        response = http.post(f"{ACTIVITIES}/batch", json={"activities": bodies})

        def check() -> None:
            if response.status_code != 201:
                return self._fail("upsert", response)
            for body in bodies:
                self.acked[body["id"]] = body
            return None

        return check

    def _partial(self, http: httpx.Client) -> Any:
        activity_id = self.rng.choice(list(self.acked))
        self.serial += 1
        changes = {"text": f"{activity_id} p{self.serial}", "custom.serial": self.serial}
        response = http.patch(f"{ACTIVITIES}/{activity_id}", json={"set": changes})

        def check() -> None:
            if response.status_code != 200:
                return self._fail("partial update", response)
            body = dict(self.acked[activity_id])
            body["text"] = changes["text"]
            body["custom"] = {**body["custom"], "serial": self.serial}
            self.acked[activity_id] = body
            if response.json()["activity"]["text"] != body["text"]:
                self.errors.append(f"worker {self.n} partial update answered stale text")
            return None

        return check

    def _feed(self, http: httpx.Client) -> Any:
        response = http.post(
            f"/api/v2/feeds/feed_groups/user/feeds/{self.user}", json={"limit": FEED_PAGE}
        )
        known = dict(self.acked)

        def check() -> None:
            if response.status_code != 201:
                return self._fail("feed read", response)
            got = response.json()["activities"]
            stamps = [a["created_at"] for a in got]
            if stamps != sorted(stamps, reverse=True):
                self.errors.append(f"worker {self.n} feed page out of order")
            for activity in got:
                want = known.get(activity["id"])
                if want is None or activity["user"]["id"] != self.user:
                    self.errors.append(f"worker {self.n} feed holds {activity['id']!r}")
            return None

        return check

    def _query(self, http: httpx.Client) -> Any:
        tag = f"{self.user}-tag{self.rng.randrange(3)}"
        flt = {"user_id": self.user, "filter_tags": {"$contains": tag}}
        response = http.post(f"{ACTIVITIES}/query", json={"filter": flt, "limit": 50})

        def check() -> None:
            if response.status_code != 201:
                return self._fail("query", response)
            for activity in response.json()["activities"]:
                if tag not in activity["filter_tags"] or activity["user"]["id"] != self.user:
                    self.errors.append(f"worker {self.n} query answered {activity['id']!r}")
            return None

        return check


def _work(server: Server, worker: Worker, deadline: float) -> None:
    try:
        with server.http() as http:
            http.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
            while time.monotonic() < deadline:
                worker.step(http)
    except Exception as exc:  # a transport error is an error of the run, not a crash of it
        worker.errors.append(f"worker {worker.n}: {type(exc).__name__}: {exc}")


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[Server, list[Worker], float]]:
    with running(tmp_path / "load.db", api_secret=new_secret()) as server:
        workers = [Worker(n, random.Random(n)) for n in range(WORKERS)]
        start = time.monotonic()
        deadline = start + DURATION_S
        threads = [threading.Thread(target=_work, args=(server, w, deadline)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
        assert not any(t.is_alive() for t in threads), "a worker did not finish in time"
        elapsed = time.monotonic() - start
        assert "internal error" not in server.output()
        yield server, workers, elapsed
    # the server is stopped here: the audit reads the file alone


def _percentiles(samples: list[float]) -> list[str]:
    if len(samples) < 2:
        return ["-"] * 4
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return [f"{v * 1000:.1f}" for v in (cuts[49], cuts[94], cuts[98], max(samples))]


def test_concurrent_clients_get_no_errors_and_the_store_stays_consistent(
    loaded: tuple[Server, list[Worker], float],
) -> None:
    server, workers, elapsed = loaded
    errors = [e for w in workers for e in w.errors]
    assert not errors, errors[:20]
    requests = {k: sum(len(w.latencies[k]) for w in workers) for k in KINDS}
    assert all(requests[k] > 0 for k in KINDS), requests

    # audit: every acknowledged write, with its last acknowledged content, and nothing else
    acked = {aid: body for w in workers for aid, body in w.acked.items()}
    with sqlite3.connect(server.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = {
            r[0]: (r[1], r[2], r[3], orjson.loads(r[4]))
            for r in db.execute("SELECT id, type, user_id, deleted_at, doc FROM activities")
        }
        keys = sorted(db.execute("SELECT k, rid FROM activity_keys").fetchall())
        rids = dict(db.execute("SELECT id, rid FROM activities").fetchall())
    assert set(rows) == set(acked)
    for aid, body in acked.items():
        kind, user, deleted, doc = rows[aid]
        assert (kind, user, deleted) == (body["type"], body["user_id"], None), aid
        for name in ("text", "feeds", "filter_tags", "custom"):
            assert doc[name] == body[name], (aid, name, doc[name], body[name])
    expected_keys = sorted(
        (k, rids[aid]) for aid, body in acked.items() for k in activity_keys(body)
    )
    assert keys == expected_keys
    counts = table_counts(server.db_path)
    assert counts["activities"] == len(acked)
    assert counts["users"] == WORKERS

    total = sum(requests.values())
    rows_out = [[k, requests[k], *_percentiles([s for w in workers for s in w.latencies[k]])]
                for k in KINDS]  # fmt: skip
    every = [s for w in workers for k in KINDS for s in w.latencies[k]]
    rows_out.append(["all", total, *_percentiles(every)])
    report = table(["operation", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows_out)
    print(f"\n{report}\n{total / elapsed:.0f} requests/s over {elapsed:.1f} s")
    record(
        "load",
        "Load: concurrent clients on one server",
        f"{WORKERS} client threads against one `feedkit serve` (SQLite file, no rate limit) "
        f"over 127.0.0.1 for {elapsed:.1f} s: {total:,} requests, **{total / elapsed:.0f} "
        "requests/s**, 0 errors (any non-2xx counts, 429 included). Mix: batch upserts of 1 "
        f"to {MAX_UPSERT} activities (half new, half overwrites), partial updates of `text` and "
        f"a dotted `custom.*` path, feed reads ({FEED_PAGE} a page), tag queries; each worker "
        "checks its reads against its own writes.\n\n"
        + report
        + f"\n\nAudit after the server stopped: the store holds exactly the {len(acked):,} "
        "acknowledged activities, each with its last acknowledged `text`, `feeds`, "
        f"`filter_tags` and `custom`; the {len(keys):,} index rows (`activity_keys`) are "
        "exactly those the activities imply; `PRAGMA integrity_check` is `ok`. Latencies "
        "are those of this machine at that moment, shared with other work; no test "
        "asserts on them.",
        test="tests/test_reliability_load.py::"
        "test_concurrent_clients_get_no_errors_and_the_store_stays_consistent",
    )
