"""The 100,000-row import of the reliability tests: its source, and the check that a store
holds exactly the source's valid rows.

The source is ``data/posts.parquet`` repeated with a suffix on every id (and on every
``reply_to``, so replies point at posts of the same copy and shares are counted), cut at the
row count asked for: realistic posts, with the sample's deliberately bad rows repeated in every
copy, so the report's invalid count is exercised. ``assert_exact`` reads the store back through
the embedded server and compares every activity with what the converter made of its row.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

import feedkit
from feedkit.schema import parse_time
from feedkit.server.store import activity_keys

DATA = Path(__file__).resolve().parents[1] / "data"
MAPPING_PATH = DATA / "posts.toml"
MAPPING = feedkit.Mapping.from_toml(MAPPING_PATH)


def write_source(path: Path, rows: int = 100_000) -> Path:
    """``rows`` posts in a Parquet file at ``path``: copies of the sample, ids suffixed."""
    sample = pd.read_parquet(DATA / "posts.parquet")
    parts = []
    for k in range(-(-rows // len(sample))):
        part = sample.copy()
        for column in ("post_id", "reply_to"):
            part[column] = part[column].map(lambda v, k=k: f"{v}-{k}" if pd.notna(v) and v else v)
        parts.append(part)
    pd.concat(parts, ignore_index=True).head(rows).to_parquet(path)
    return path


class Expected:
    """What the converter makes of a source: the valid activities by id, and the counts."""

    def __init__(self, source: Path) -> None:
        conversion = feedkit.to_activities(source, MAPPING)
        self.rows_read = conversion.rows_read
        self.activities = {a["id"]: a for a in conversion.activities}
        self.valid = len(conversion.activities)
        self.invalid = conversion.invalid
        assert len(self.activities) == self.valid, "the source's ids must be distinct"
        assert self.valid + self.invalid == self.rows_read


def _as_request(served: Mapping[str, Any]) -> dict[str, Any]:
    """A served activity in the converter's terms (user ids rather than user objects)."""
    out = dict(served)
    out["user_id"] = served["user"]["id"]
    out["mentioned_user_ids"] = [u["id"] for u in served.get("mentioned_users") or []]
    return out


def _same(key: str, got: Any, want: Any) -> bool:
    if key == "expires_at":
        return bool(got == parse_time(want))
    if key == "location":
        return bool(got == {"lat": float(want["lat"]), "lng": float(want["lng"])})
    return bool(got == want)


def assert_exact(db_path: Path, expected: Expected) -> dict[str, int]:
    """The store holds each valid row once, equal to its source, and nothing else; its feed
    index and share counts agree with its activities; ``PRAGMA integrity_check`` is ok.
    Returns what was checked."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        total, distinct = db.execute(
            "SELECT count(*), count(DISTINCT id) FROM activities"
        ).fetchone()
        keys = Counter(db.execute("SELECT rid FROM activity_keys").fetchall())
    assert total == distinct == expected.valid, (total, distinct, expected.valid)

    with feedkit.connect(db_path) as client:
        served = {}
        for activity in client.iter_activities(include_expired_activities=True):
            assert activity["id"] not in served, f"{activity['id']} served twice"
            served[activity["id"]] = activity
    assert served.keys() == expected.activities.keys()

    fields = 0
    children = Counter(a["parent_id"] for a in served.values() if a.get("parent_id"))
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        rids = dict(db.execute("SELECT id, rid FROM activities").fetchall())
    for aid, want in expected.activities.items():
        got = _as_request(served[aid])
        for key, value in want.items():
            assert _same(key, got.get(key), value), (aid, key, got.get(key), value)
            fields += 1
        assert got["share_count"] == children[aid], (aid, got["share_count"], children[aid])
        assert keys[(rids[aid],)] == len(activity_keys(want)), aid
    assert sum(keys.values()) == sum(len(activity_keys(a)) for a in expected.activities.values())
    return {"activities": len(served), "fields": fields, "shares": sum(children.values())}
