"""Import lines applied by feedkit.server.importer: a run of follows, comments, reactions or
bookmarks written by one batch write ends in the store that writing it line by line gives
(counts and history included); a bad line in a run is the only one refused."""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _importtasks import app_import_file, run_import, write_lines

import feedkit
from feedkit.client import Client
from feedkit.server import importer

# The tables an import writes (not its own tasks and uploads).
TABLES = ("users", "feeds", "feed_groups", "activities", "activity_keys", "follows",
          "comments", "reactions", "bookmarks", "bookmark_folders")  # fmt: skip


@pytest.fixture(scope="module")
def app_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/app's whole app as one import file."""
    return app_import_file(tmp_path_factory.mktemp("app"))


def one_line_a_part(kind: str, lines: Any) -> list[list[Any]]:
    """The importer's runs cut into single lines: each written alone, as line by line."""
    return [[line] for line in lines]


def dump(db_path: Path, since: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an import writes; a time of the write itself (not one the
    file gives) reads "now"."""

    def value(v: Any) -> Any:
        return "now" if isinstance(v, int) and v >= since else v

    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return {
            t: sorted((tuple(map(value, row)) for row in db.execute(f"SELECT * FROM {t}")),
                      key=repr)  # (a column may hold "now" and times the file gives)
            for t in TABLES
        }


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Any]:
    """Opens a new store each call: (its client, its file)."""
    clients: list[Client] = []

    def open_store(name: str) -> tuple[Client, Path]:
        path = tmp_path / f"{name}.db"
        clients.append(feedkit.connect(db=path))
        return clients[-1], path

    yield open_store
    for c in clients:
        c.close()


def imported(
    fresh: Any, name: str, files: list[Path], monkeypatch: pytest.MonkeyPatch, batched: bool
) -> tuple[Client, dict[str, list[tuple[Any, ...]]]]:
    """A new store that imported ``files`` in turn (by runs, or line by line), and its dump."""
    since = time.time_ns()
    client, path = fresh(name)
    written: collections.Counter[str] = collections.Counter()  # the most lines a write took

    def spy(kind: str, write: Any) -> Any:
        def wrapped(s: Any, db: Any, lines: Any) -> None:
            write(s, db, lines)
            written[kind] = max(written[kind], len(lines))

        return wrapped

    with monkeypatch.context() as m:
        m.setattr(importer, "APPLY_MANY", {k: spy(k, w) for k, w in importer.APPLY_MANY.items()})
        if not batched:
            m.setattr(importer, "_parts", one_line_a_part)
        for f in files:
            task = run_import(client, f)
            assert task["state"] == "completed" and task["error_count"] == 0, task
    kinds = ("follow", "comment", "reaction", "bookmark")
    assert all((written[k] > 1) == batched for k in kinds), written
    return client, dump(path, since)


def test_the_app_imported_by_runs_is_the_app_imported_line_by_line(
    fresh: Any, app_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_runs, runs_dump = imported(fresh, "runs", [app_file], monkeypatch, batched=True)
    by_lines, lines_dump = imported(fresh, "lines", [app_file], monkeypatch, batched=False)
    assert runs_dump == lines_dump
    assert all(runs_dump[t] for t in ("follows", "comments", "reactions", "bookmarks"))
    # and what is answered of them: counts read through the API
    for activity in by_lines.query_activities(limit=25):
        got = by_runs.get_activity(activity["id"])
        for count in ("reaction_count", "comment_count", "reaction_groups", "share_count"):
            assert got.get(count) == activity.get(count), (activity["id"], count)
    _, again_dump = imported(fresh, "again", [app_file, app_file], monkeypatch, True)
    assert again_dump == runs_dump  # importing the same file again changes nothing


def _user(uid: str) -> dict[str, Any]:
    return {"type": "user", "data": {"id": uid}}


def _post(n: int) -> dict[str, Any]:
    return {"type": "activity", "data": {"id": f"a{n}", "type": "post", "user_id": "ann",
                                         "fids": ["user:ann"], "text": f"post {n}"}}  # fmt: skip


def _at(day: int) -> dict[str, str]:
    return {"created_at": f"2020-02-{day:02d}T00:00:00Z"}


def _comment(cid: str, text: str, parent: str | None = None, **data: Any) -> dict[str, Any]:
    line = {"id": cid, "object_id": "a1", "object_type": "activity", "user_id": "bob",
            "text": text, **data}  # fmt: skip
    if parent:
        line["parent_id"] = parent
    return {"type": "comment", "data": line}


def _reaction(kind: str, user: str, **on: Any) -> dict[str, Any]:
    return {"type": "reaction", "data": {"type": kind, "user_id": user, **on}}


def _follow(source: str, target: str, **data: Any) -> dict[str, Any]:
    return {"type": "follow", "data": {"source_fid": source, "target_fid": target, **data}}


def _bookmark(activity: str, user: str, **data: Any) -> dict[str, Any]:
    return {"type": "bookmark", "data": {"object_id": activity, "object_type": "activity",
                                         "user_id": user, **data}}  # fmt: skip


# Runs that hold what a batch must get right: an item named twice (with and without times,
# the second changing it), a reply in the run of its parent, votes that score comments.
TRICKY = [
    *map(_user, ("ann", "bob", "cy")), *map(_post, range(1, 4)),
    _follow("timeline:bob", "user:ann", **_at(1)), _follow("timeline:cy", "user:ann"),
    _follow("timeline:bob", "user:ann", push_preference="none", **_at(2)),
    _follow("timeline:cy", "user:ann", **_at(3)), _follow("timeline:ann", "user:bob"),
    _comment("c1", "first", **_at(1)), _comment("c2", "a reply", "c1", **_at(2)),
    _comment("c3", "deeper", "c2"), _comment("c1", "first, edited", **_at(3)),
    _comment("c4", "on a2", object_id="a2", **_at(4)), _comment("c3", "deeper, timed", "c2",
                                                               **_at(5)),
    _reaction("like", "bob", activity_id="a1", **_at(1)),
    _reaction("upvote", "bob", activity_id="a1", comment_id="c1", **_at(2)),
    _reaction("downvote", "cy", activity_id="a1", comment_id="c1"),
    _reaction("upvote", "ann", activity_id="a1", comment_id="c1"),
    _reaction("like", "bob", activity_id="a1", custom={"v": 2}),
    _reaction("like", "cy", activity_id="a1", **_at(3)),
    _reaction("upvote", "cy", activity_id="a1", comment_id="c2", **_at(4)),
    _bookmark("a1", "bob", **_at(1)), _bookmark("a2", "bob"),
    _bookmark("a1", "bob", custom={"note": "again"}, **_at(2)), _bookmark("a1", "cy", **_at(3)),
]  # fmt: skip


def test_runs_naming_an_item_twice_and_replies_store_what_line_by_line_stores(
    fresh: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "tricky.jsonl", TRICKY)
    by_runs, runs_dump = imported(fresh, "runs", [path], monkeypatch, batched=True)
    _, lines_dump = imported(fresh, "lines", [path], monkeypatch, batched=False)
    assert runs_dump == lines_dump
    c1 = by_runs.get_comment("c1")
    assert c1["text"] == "first, edited" and c1["reply_count"] == 1
    assert (c1["upvote_count"], c1["downvote_count"], c1["score"]) == (2, 1, 1)
    assert by_runs.get_activity("a1")["comment_count"] == 3
    assert by_runs.get_activity("a1")["reaction_count"] == 2
    _, again = imported(fresh, "again", [path, path], monkeypatch, batched=True)
    assert again == runs_dump


def test_a_line_the_write_refuses_in_a_run_of_each_kind_is_the_only_one_refused(
    client: Client, tmp_path: Path
) -> None:
    lines = [
        *map(_user, ("ann", "bob")), _post(1),
        _follow("timeline:bob", "user:ann"), _follow("user:ann", "user:ann"),  # itself
        _follow("timeline:ann", "user:bob"),
        _comment("c1", "one"), _comment("c2", "reply to none", "nope"), _comment("c3", "x"),
        _reaction("like", "bob", activity_id="a1"), _reaction("like", "bob", activity_id="no"),
        _reaction("like", "ann", activity_id="a1", comment_id="c1"),
        _bookmark("a1", "bob"), _bookmark("gone", "bob"), _bookmark("a1", "ann"),
    ]  # fmt: skip
    task = run_import(client, write_lines(tmp_path / "bad.jsonl", lines))
    assert task["state"] == "completed", task
    errors = {e["line"]: (e["type"], e["reason"]) for e in task["errors"]}
    assert sorted(errors) == [5, 8, 11, 14] and task["applied"] == len(lines) - 4
    assert errors[5] == ("follow", "data.target_fid: a feed cannot follow itself")
    assert errors[8][0] == "comment" and "nope" in errors[8][1]
    assert errors[11][0] == "reaction" and "'no'" in errors[11][1]
    assert errors[14][0] == "bookmark" and "'gone'" in errors[14][1]
    comments = client.query_comments({"object_id": "a1"})["comments"]
    assert sorted(c["id"] for c in comments) == ["c1", "c3"]
    assert client.get_activity("a1")["reaction_count"] == 1
    assert client.get_comment("c1")["reaction_count"] == 1
    follows = client.query_follows()["follows"]
    assert sorted(f["source_feed"]["feed"] for f in follows) == ["timeline:ann", "timeline:bob"]
    with sqlite3.connect(tmp_path / "x.db") as db:
        assert db.execute("SELECT activity_id, user_id FROM bookmarks ORDER BY 2").fetchall() == [
            ("a1", "ann"), ("a1", "bob")]  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with feedkit.connect(db=tmp_path / "x.db") as c:
        yield c
