"""The SQLite store's layout: versioned, and older files migrated when they are opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import feedkit
from feedkit.cli import main
from feedkit.server.store import COLUMNS, DEFERRED_INDEXES, SCHEMA, STORE_VERSION, Store

# Layout 0 (feedkit 0.1 before the store was versioned): no ``mentions`` column, and a doc
# holding every one of these fields, unset ones as null.
V0_DOC_FIELDS = ("text", "feeds", "attachments", "custom", "restrict_replies", "location",
                 "mentioned_user_ids", "poll_id", "search_data", "filter_tags",
                 "interest_tags", "edited_at")  # fmt: skip
V0_SCHEMA = SCHEMA.replace("    mentions TEXT,\n", "").replace("PRAGMA user_version = 1;", "")

ACTIVITIES: list[dict[str, Any]] = [
    {"id": "a1", "type": "post", "feeds": ["user:alice"], "user_id": "alice", "text": "hi",
     "custom": {"n": 1, "deep": {"x": None}}, "mentioned_user_ids": ["bob"],
     "location": {"lat": 1.5, "lng": 2.5}, "filter_tags": ["green"]},
    {"id": "a2", "type": "share", "feeds": ["user:bob", "topic:t"], "user_id": "bob",
     "parent_id": "a1", "attachments": [{"type": "image", "image_url": "https://i/1.png"}]},
    {"id": "a3", "type": "post", "feeds": ["user:alice"], "user_id": "alice",
     "visibility": "tag", "visibility_tag": "vip", "expires_at": "2031-01-01T00:00:00Z"},
]  # fmt: skip


def answers(client: feedkit.Client) -> list[dict[str, Any]]:
    """Every activity as the server answers it, with the per-read parts of users removed."""
    page = client.query_answer(limit=100, include_expired_activities=True)
    return page["activities"]


def v0_copy(source: Path, target: Path) -> None:
    """Rewrite the store at ``source`` into layout 0 at ``target``."""
    old = sqlite3.connect(source)
    new = sqlite3.connect(target)
    new.executescript(V0_SCHEMA)
    for table in ("activity_keys", "feeds", "users", "follows"):
        rows = old.execute(f"SELECT * FROM {table}").fetchall()
        if rows:
            marks = ",".join("?" * len(rows[0]))
            new.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    cols = ", ".join(COLUMNS)
    insert = f"INSERT INTO activities (rid, {cols}, doc) VALUES (?{', ?' * len(COLUMNS)}, ?)"
    for rid, *values, mentions, doc in old.execute(
        f"SELECT rid, {cols}, mentions, doc FROM activities"
    ):
        record = orjson.loads(doc)
        record["mentioned_user_ids"] = orjson.loads(mentions) if mentions else []
        v0 = orjson.dumps({k: record.get(k) for k in V0_DOC_FIELDS})
        new.execute(insert, (rid, *values, v0))
    new.commit()
    old.close()
    new.close()


def test_a_layout_0_file_is_migrated_and_answers_the_same(tmp_path: Path) -> None:
    current = tmp_path / "current.db"
    with feedkit.connect(str(current)) as client:
        client.upsert_users([{"id": "bob", "name": "Bob"}])
        client.upsert_activities(ACTIVITIES)
        before = answers(client)
    old = tmp_path / "v0.db"
    v0_copy(current, old)
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone() == (0,)
    with feedkit.connect(str(old)) as client:
        after = answers(client)
        # Written after the migration, read beside migrated rows.
        client.update_activity_partial("a3", set={"text": "edited"}, unset=["expires_at"])
        assert client.get_activity("a3")["text"] == "edited"
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA user_version").fetchone() == (STORE_VERSION,)
    assert db.execute("SELECT mentions FROM activities WHERE id = 'a1'").fetchone() == ('["bob"]',)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert after == before
    assert [a["id"] for a in after] == ["a3", "a2", "a1"]
    assert after[1]["parent"]["mentioned_users"][0]["name"] == "Bob"


@pytest.fixture
def future(tmp_path: Path) -> Path:
    """A store file whose layout is newer than this feedkit's."""
    path = tmp_path / "future.db"
    Store(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    db.close()
    return path


def test_a_file_of_a_newer_layout_is_refused(future: Path) -> None:
    with pytest.raises(feedkit.StoreError, match="newer than this feedkit"):
        Store(str(future))


def test_serve_names_the_file_it_cannot_open(future: Path) -> None:
    args = ["serve", "--db", str(future), "--port", "0", "--api-key", "k", "--api-secret", "s"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert f"{future} has store layout {STORE_VERSION + 1}, newer than" in result.output
    assert "Traceback" not in result.output


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    current = tmp_path / "current.db"
    with feedkit.connect(str(current)) as client:
        client.upsert_activities(ACTIVITIES)
    old = tmp_path / "v0.db"
    v0_copy(current, old)
    db = sqlite3.connect(old)
    db.execute("UPDATE activities SET doc = 'not json' WHERE id = 'a2'")
    db.commit()
    db.close()
    with pytest.raises(
        feedkit.StoreError, match=r"activity 'a2' \(rid 2\) holds a doc that is not"
    ):
        Store(str(old))
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA user_version").fetchone() == (0,)
    columns = [r[1] for r in db.execute("PRAGMA table_info(activities)")]
    assert "mentions" not in columns
    doc = db.execute("SELECT doc FROM activities WHERE id = 'a1'").fetchone()[0]
    assert orjson.loads(doc)["mentioned_user_ids"] == ["bob"]


def test_follows_of_an_earlier_layout_gain_their_fields_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as client:
        client.follow("timeline:a", "user:b")
    with sqlite3.connect(path) as db:  # back to the follows table layout 1 first wrote
        for column in ("push_preference", "follower_role", "custom"):
            db.execute(f"ALTER TABLE follows DROP COLUMN {column}")
    with feedkit.connect(path) as client:
        (follow,) = client.query_follows({"source_feed": "timeline:a"})["follows"]
        assert (follow["push_preference"], follow["custom"]) == ("none", {})
        client.update_follow("timeline:a", "user:b", custom={"k": 1})
        assert client.query_follows()["follows"][0]["custom"] == {"k": 1}
    with feedkit.connect(path) as client:  # opened again: nothing is added twice
        assert client.query_follows()["follows"][0]["custom"] == {"k": 1}


def test_a_file_without_feed_groups_gains_them_from_its_feeds(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as client:
        client.add_activity(type="post", feeds=["user:ann", "club:chess"], user_id="ann")
        client.follow("timeline:bob", "club:chess")
    with sqlite3.connect(path) as db:  # back to the layout before groups and follow requests
        db.execute("DROP TABLE feed_groups")
        db.execute("DROP TABLE feed_views")
        db.execute("DROP INDEX follows_target_status")  # the index of that layout
        db.execute("CREATE INDEX follows_target ON follows (target)")
        for column in ("status", "request_accepted_at", "request_rejected_at"):
            db.execute(f"ALTER TABLE follows DROP COLUMN {column}")
    with feedkit.connect(path) as client:
        groups = client.list_feed_groups()
        assert {"user", "timeline", "notification", "club"} <= set(groups)
        assert groups["club"]["default_visibility"] == "visible"
        (follow,) = client.query_follows({"status": "accepted"})["follows"]
        assert follow["target_feed"]["follower_count"] == 1  # an old follow is accepted
        assert client.list_feed_views() == {}
        client.create_feed_view("hot", ranking={"type": "expression", "score": "popularity"})
        client.delete_feed_group("club", hard_delete=True)
    with feedkit.connect(path) as client:  # opened again: a removed group stays removed
        assert "club" not in client.list_feed_groups()
        assert set(client.list_feed_views()) == {"hot"}
    with sqlite3.connect(path) as db:  # followers are counted from the new index alone
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "follows_target_status" in indexes and "follows_target" not in indexes


def test_reactions_of_an_earlier_layout_are_read_from_the_covering_index(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with feedkit.connect(path) as client:
        client.add_activity(type="post", feeds=["user:ann"], user_id="ann", id="a1")
        for user, kind in (("bob", "like"), ("cy", "love"), ("dee", "like")):
            client.add_activity_reaction("a1", kind, user_id=user, custom={"by": user})
        before = client.get_activity("a1", user_id="bob")
    with sqlite3.connect(path) as db:  # back to the index the reactions table first had
        db.execute("DROP INDEX reactions_newest")
        db.execute("CREATE INDEX reactions_latest ON reactions (object_type, object_id, "
                   "created_at)")  # fmt: skip
    with feedkit.connect(path) as client:
        assert client.get_activity("a1", user_id="bob") == before
        assert before["reaction_count"] == 3 and len(before["own_reactions"]) == 1
        client.add_activity_reaction("a1", "wow", user_id="eve")
        after = client.get_activity("a1", user_id="bob")
        assert [r["user"]["id"] for r in after["latest_reactions"]] == ["eve", "dee", "cy", "bob"]
    with sqlite3.connect(path) as db:
        indexes = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reactions'"
        )}  # fmt: skip
        assert "reactions_newest" in indexes and "reactions_latest" not in indexes


def _activity_indexes(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        found = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activities'"
        )
        return {r[0] for r in found}


def test_indexes_deferred_are_built_again_after_the_block_and_on_the_next_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.db"
    with feedkit.connect(db=path) as client:
        client.add_activity({"type": "post", "user_id": "ann", "feeds": ["user:ann"]})
    store = Store(str(path))
    every = _activity_indexes(path)
    assert set(DEFERRED_INDEXES) <= every
    with store.indexes_deferred():
        assert not set(DEFERRED_INDEXES) & _activity_indexes(path)
    assert _activity_indexes(path) == every
    store.close()
    # What a process killed inside the block leaves: the store is opened without them.
    with sqlite3.connect(path) as db:
        for name in DEFERRED_INDEXES:
            db.execute(f"DROP INDEX {name}")
    Store(str(path)).close()
    assert _activity_indexes(path) == every
    with feedkit.connect(db=path) as client:
        assert len(client.query_activities({"user_id": "ann"})) == 1
