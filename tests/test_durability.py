"""What ``feedkit serve`` promises about the writes it acknowledges, and the limits it enforces.

A write the server acknowledged survives a SIGKILL right after the acknowledgement (the store
commits to SQLite in WAL mode before answering). ``--rate-limit`` answers 429 with Retry-After
once the window is used up; ``--max-body-bytes`` answers 413 and stores nothing.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _serve import (
    ACTIVITIES,
    Server,
    assert_error_body,
    new_secret,
    running,
    table_counts,
)

import feedkit

N_WRITES = 500
SOFT, HARD = "soft-deleted", "hard-deleted"
KILL_TIMEOUT_S = 10.0
RATE_LIMITED = 9


def rows(db_path: Path) -> dict[str, int | None]:
    """id -> deleted_at of every stored activity row."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT id, deleted_at FROM activities").fetchall())


def integrity(db_path: Path) -> str:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


# --------------------------------------------------------------------------------------------
# acknowledged writes survive SIGKILL
# --------------------------------------------------------------------------------------------


class Workload:
    """A seeded mix of writes through the feedkit client, remembering every acknowledgement:
    ``expected[id]`` is the last activity the server answered for that id, or SOFT / HARD."""

    def __init__(self, client: feedkit.Client, seed: int) -> None:
        self.client = client
        self.rng = random.Random(seed)
        self.expected: dict[str, Any] = {}
        self.serial = 0
        self.writes = 0

    def live(self) -> list[str]:
        return sorted(k for k, v in self.expected.items() if not isinstance(v, str))

    def new_activity(self) -> dict[str, Any]:
        self.serial += 1
        rng = self.rng
        user = rng.choice(["alice", "bob", "carol"])
        activity: dict[str, Any] = {
            "id": f"d-{self.serial:05d}",
            "type": rng.choice(["post", "video", "like"]),
            "feeds": [f"user:{user}", *rng.sample(["timeline:a", "timeline:b", "news:x"], 1)],
            "user_id": user,
            "text": f"write {self.serial} ✓ {rng.random()!r}",
            "custom": {"n": self.serial, "nested": {"f": rng.random(), "l": [1, "two", None]}},
            "filter_tags": rng.sample(["red", "green", "blue", "cyan"], rng.randint(0, 3)),
        }
        if rng.random() < 0.3:
            activity["expires_at"] = f"2031-0{rng.randint(1, 9)}-01T00:00:00.{self.serial:09d}Z"
        if rng.random() < 0.3:
            activity["location"] = {"lat": rng.uniform(-90, 90), "lng": rng.uniform(-180, 180)}
        if rng.random() < 0.2:
            activity["visibility"] = "tag"
            activity["visibility_tag"] = "premium"
        return activity

    def step(self) -> None:
        rng, client, live = self.rng, self.client, self.live()
        roll = rng.random()
        if roll < 0.30 or len(live) < 10:
            added = client.add_activity(self.new_activity())
            self.expected[added["id"]] = added
        elif roll < 0.45:
            batch = [self.new_activity() for _ in range(rng.randint(1, 8))]
            for existing in rng.sample(live, rng.randint(0, 2)):
                batch.append({**self.new_activity(), "id": existing, "text": "re-upserted"})
            for item in batch:
                old = self.expected.get(item["id"])
                if old is not None:
                    item["user_id"] = old["user"]["id"]
            for upserted in client.upsert_activities(batch):
                self.expected[upserted["id"]] = upserted
        elif roll < 0.70:
            target = rng.choice(live)
            patched = client.update_activity_partial(
                target,
                set={"text": f"patched {self.writes}", f"custom.p{rng.randint(0, 3)}": self.writes},
                unset=rng.sample(["custom.n", "filter_tags", "location", "expires_at"], 1),
            )
            self.expected[target] = patched
        elif roll < 0.78:
            target = rng.choice(live)
            updated = client.update_activity(
                target, text=f"replaced {self.writes}", custom={"full": True}
            )
            self.expected[target] = updated
        elif roll < 0.88:
            target = rng.choice(live)
            client.delete_activity(target)
            self.expected[target] = SOFT
        elif roll < 0.94:
            target = rng.choice(live)
            client.delete_activity(target, hard_delete=True)
            self.expected[target] = HARD
        else:
            targets = rng.sample(live, min(len(live), rng.randint(1, 4)))
            hard = rng.random() < 0.5
            assert sorted(client.delete_activities(targets, hard_delete=hard)) == sorted(targets)
            for target in targets:
                self.expected[target] = HARD if hard else SOFT
        self.writes += 1


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    secret = new_secret()
    db_path = tmp_path / "durable.db"
    with (
        running(db_path, api_secret=secret) as first,
        first.client(retry=feedkit.Retry(attempts=1)) as client,
    ):
        work = Workload(client, seed=20_241_128)
        for _ in range(N_WRITES):
            work.step()
        first.proc.kill()  # SIGKILL straight after the last acknowledgement
        assert first.proc.wait(timeout=KILL_TIMEOUT_S) == -signal.SIGKILL

    expected = work.expected
    live = work.live()
    assert work.writes == N_WRITES
    assert {SOFT, HARD} <= {v for v in expected.values() if isinstance(v, str)}
    assert len(live) > 50

    with (
        running(db_path, api_secret=secret) as second,
        second.client(retry=feedkit.Retry(attempts=1)) as client,
    ):
        for activity_id in live:
            assert client.get_activity(activity_id) == expected[activity_id], activity_id
        for activity_id, state in expected.items():
            if state == SOFT:
                with pytest.raises(feedkit.NotFoundError):
                    client.get_activity(activity_id)
        queried = {a["id"] for a in client.iter_activities({"id": {"$in": live[:100]}})}
        assert queried == set(live[:100])
        stored = rows(db_path)

    for activity_id, state in expected.items():
        if state == HARD:
            assert activity_id not in stored, activity_id
        elif state == SOFT:
            assert activity_id in stored, activity_id
            assert stored[activity_id] is not None, activity_id
        else:
            assert stored[activity_id] is None, activity_id
    assert set(stored) == {k for k, v in expected.items() if v != HARD}
    assert integrity(db_path) == "ok"


# --------------------------------------------------------------------------------------------
# rate limits
# --------------------------------------------------------------------------------------------


def _post(http: httpx.Client, activity_id: str) -> httpx.Response:
    return http.post(
        ACTIVITIES,
        json={"id": activity_id, "type": "post", "feeds": ["user:alice"], "user_id": "alice"},
    )


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[Server]:
    """A server allowing three AddActivity requests a minute."""
    args = ["--rate-limit", "AddActivity=3"]
    with running(tmp_path / "limited.db", api_secret=new_secret(), args=args) as server:
        yield server


def test_the_fourth_add_in_a_minute_is_rate_limited(limited_server: Server) -> None:
    with limited_server.http() as http:
        for i in range(3):
            ok = _post(http, f"r{i}")
            assert ok.status_code == 201, ok.text
            assert ok.headers["x-ratelimit-limit"] == "3"
            assert ok.headers["x-ratelimit-remaining"] == str(2 - i)
        limited = _post(http, "r3")
        body = assert_error_body(limited, 429, code=RATE_LIMITED)
        assert "exception_fields" not in body
        retry_after = int(limited.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert limited.headers["x-ratelimit-remaining"] == "0"
        # other operations have no limit configured
        assert http.get(f"{ACTIVITIES}/r0").status_code == 200
        assert http.get(f"{ACTIVITIES}/r3").status_code == 404

    with limited_server.client(retry=feedkit.Retry(attempts=1)) as client:
        for activity_id in ("r4", None):
            fields = {"type": "post", "feeds": ["user:alice"], "user_id": "alice"}
            if activity_id:
                fields["id"] = activity_id
            with pytest.raises(feedkit.RateLimitError) as exc:
                client.add_activity(fields)
            assert exc.value.status == 429
            assert exc.value.code == RATE_LIMITED
            assert exc.value.retry_after is not None
            assert 0 < exc.value.retry_after <= 60
            assert isinstance(exc.value, feedkit.APIError)
    assert table_counts(limited_server.db_path)["activities"] == 3


# --------------------------------------------------------------------------------------------
# request body size
# --------------------------------------------------------------------------------------------


def _big(activity_id: str, size: int = 5000) -> dict[str, Any]:
    return {
        "id": activity_id,
        "type": "post",
        "feeds": ["user:alice"],
        "user_id": "alice",
        "custom": {"blob": "x" * size},
    }


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[Server]:
    """A server refusing request bodies over 2000 bytes."""
    args = ["--max-body-bytes", "2000"]
    with running(tmp_path / "small.db", api_secret=new_secret(), args=args) as server:
        yield server


def test_an_oversized_body_is_refused_with_413(small_server: Server) -> None:
    before = table_counts(small_server.db_path)
    with small_server.http() as http:
        declared = http.post(ACTIVITIES, json=_big("big-declared"))
        assert_error_body(declared, 413)

        raw = httpx.Request("POST", "/", json=_big("big-chunked")).content
        pieces = [raw[i : i + 500] for i in range(0, len(raw), 500)]
        chunked = http.post(ACTIVITIES, content=iter(pieces))
        assert "content-length" not in chunked.request.headers
        assert_error_body(chunked, 413)

        batch = {"activities": [_big(f"big-batch-{i}", 400) for i in range(5)]}
        assert_error_body(http.post(f"{ACTIVITIES}/batch", json=batch), 413)

    with small_server.client(retry=feedkit.Retry(attempts=1)) as client:
        with pytest.raises(feedkit.APIError) as exc:
            client.add_activity(_big("big-client"))
        assert exc.value.status == 413
        assert table_counts(small_server.db_path) == before
        for activity_id in ("big-declared", "big-chunked", "big-client", "big-batch-0"):
            with pytest.raises(feedkit.NotFoundError):
                client.get_activity(activity_id)
        # a body under the limit is served as usual
        small = client.add_activity(_big("small", 1000))
        assert small["custom"] == {"blob": "x" * 1000}
    assert table_counts(small_server.db_path)["activities"] == 1


def _body_of(activity_id: str, size: int) -> bytes:
    """A JSON activity body of exactly ``size`` bytes."""
    empty = json.dumps(_big(activity_id, 0), separators=(",", ":")).encode()
    body = json.dumps(_big(activity_id, size - len(empty)), separators=(",", ":")).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_body_limit_is_inclusive(small_server: Server, chunked: bool) -> None:
    headers = {"Content-Type": "application/json"}
    with small_server.http() as http:
        for size, status in ((2000, 201), (2001, 413)):
            body = _body_of(f"exact-{size}", size)
            content = iter([body[:1000], body[1000:]]) if chunked else body
            response = http.post(ACTIVITIES, content=content, headers=headers)
            assert response.status_code == status, (size, response.text)
        assert http.get(f"{ACTIVITIES}/exact-2000").status_code == 200
        assert http.get(f"{ACTIVITIES}/exact-2001").status_code == 404
