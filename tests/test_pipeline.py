"""The import pipeline from the client: import_rows / migrate via="import", the same end
state as the API's writes, resumed after an interruption without a second upload or task."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import feedkit
from feedkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
POSTS = ROOT / "data" / "posts.parquet"
MAPPING = feedkit.Mapping.from_toml(ROOT / "data" / "posts.toml")
APP = ROOT / "data" / "app" / "plan.toml"


def stored(client: feedkit.Client) -> dict[str, Any]:
    return {a["id"]: (a["text"], a["feeds"]) for a in
            client.iter_activities(include_expired_activities=True)}  # fmt: skip


def test_via_import_stores_what_the_api_stores(tmp_path: Path) -> None:
    with feedkit.connect(tmp_path / "api.db") as api, feedkit.connect(tmp_path / "p.db") as p:
        by_api = feedkit.import_rows(api, POSTS, MAPPING, progress=False)
        by_pipe = feedkit.import_rows(p, POSTS, MAPPING, via="import", progress=False)
        assert by_pipe.task is not None and by_pipe.task["state"] == "completed"
        assert by_pipe.acknowledged == by_api.acknowledged == 2989
        assert set(by_pipe.errors.row) == set(by_api.errors.row)  # refused before upload
        assert stored(p) == stored(api)
        assert "import task" in by_pipe.summary() and "completed" in by_pipe.summary()


def test_an_interrupted_pipeline_neither_uploads_nor_imports_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / "posts.ck"
    with feedkit.connect(tmp_path / "s.db") as client:
        uploads: list[str] = []
        real_upload = client.upload_import_file

        def counted(url: str, file: Any, **kw: Any) -> None:
            uploads.append(url)
            real_upload(url, file, **kw)

        def stopped(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(client, "upload_import_file", counted)
        monkeypatch.setattr(client, "create_import", stopped)
        with pytest.raises(KeyboardInterrupt):
            feedkit.import_rows(client, POSTS, MAPPING, via="import", checkpoint=checkpoint,
                                progress=False)  # fmt: skip
        assert len(uploads) == 1 and client.list_imports() == []
        monkeypatch.undo()
        monkeypatch.setattr(client, "upload_import_file", counted)
        again = feedkit.import_rows(client, POSTS, MAPPING, via="import", checkpoint=checkpoint,
                                    progress=False)  # fmt: skip
        assert len(uploads) == 1  # the file the first run uploaded
        assert any("not uploaded again" in n for n in again.notes)
        assert again.task is not None and again.task["state"] == "completed"
        # A task whose id was never recorded is found at the destination and polled.
        state = Path(f"{checkpoint}.jsonl.state.json")
        record = json.loads(state.read_text())
        del record["task_id"]
        state.write_text(json.dumps(record))
        third = feedkit.import_rows(client, POSTS, MAPPING, via="import", checkpoint=checkpoint,
                                    progress=False)  # fmt: skip
        assert any("polled, not created again" in n for n in third.notes)
        assert len(client.list_imports()) == 1 and len(uploads) == 1
        assert len(stored(client)) == 2989


def test_an_edited_source_is_a_new_file_and_a_new_import(tmp_path: Path) -> None:
    frame = pd.read_parquet(POSTS)
    checkpoint = tmp_path / "ck"
    with feedkit.connect(tmp_path / "s.db") as client:
        feedkit.import_rows(client, frame, MAPPING, via="import", checkpoint=checkpoint,
                            progress=False)  # fmt: skip
        frame.loc[0, "body"] = "edited"
        edited = feedkit.import_rows(client, frame, MAPPING, via="import", checkpoint=checkpoint,
                                     progress=False)  # fmt: skip
        assert not edited.notes and len(client.list_imports()) == 2
        assert client.get_activity(frame.loc[0, "post_id"])["text"] == "edited"


def _user_lines(path: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    return {d["data"]["id"]: d["data"] for d in lines if d["type"] == "user"}


def test_users_the_destination_has_get_no_line_of_their_own(tmp_path: Path) -> None:
    """A file bound for an app names a user it has by the user's id alone nowhere: the
    vendor's upsert might replace the user whole (name and custom data gone). A rerun
    writes the same file (the users its first file gave a line are given it again), so it
    is neither uploaded nor imported again."""
    mapping = feedkit.Mapping.build({"id": "{i}", "type": "post", "text": "{t}", "user_id": "{u}",
                                     "feeds": ["user:{u}"]})  # fmt: skip
    frame = pd.DataFrame({"i": ["a1", "a2", "a3"], "t": ["x", "y", "z"],
                          "u": ["ann", "bob", "ann"]})  # fmt: skip
    checkpoint = tmp_path / "ck"
    with feedkit.connect(tmp_path / "s.db") as client:
        client.upsert_users([{"id": "ann", "name": "Ann", "custom": {"team": "red"}}])
        first = feedkit.import_rows(client, frame, mapping, via="import", checkpoint=checkpoint,
                                    progress=False)  # fmt: skip
        assert first.acknowledged == 3, first.summary()
        kept = Path(f"{checkpoint}.jsonl")
        assert _user_lines(kept) == {"bob": {"id": "bob"}}
        assert "1 users named are at the destination already: no user line" in first.notes
        ann = client.query_users({"id": "ann"})[0]
        assert (ann["name"], ann["custom"]) == ("Ann", {"team": "red"})
        again = feedkit.import_rows(client, frame, mapping, via="import", checkpoint=checkpoint,
                                    progress=False)  # fmt: skip
        assert _user_lines(kept) == {"bob": {"id": "bob"}}  # bob exists now: the same file
        assert any("not uploaded again" in n for n in again.notes)
        assert len(client.list_imports()) == 1


@pytest.mark.parametrize("damage", ["", "{not json", "[1, 2]", '{"destination": "elsewhere"}'])
def test_a_damaged_or_foreign_state_file_starts_afresh(tmp_path: Path, damage: str) -> None:
    """A state file that cannot be read, or records another destination, is no record of
    this run: the file is uploaded and imported again (upserts: the same end state)."""
    checkpoint = tmp_path / "ck"
    frame = pd.read_parquet(POSTS).head(50)
    with feedkit.connect(tmp_path / "s.db") as client:
        feedkit.import_rows(client, frame, MAPPING, via="import", checkpoint=checkpoint,
                            progress=False)  # fmt: skip
        before = stored(client)
        Path(f"{checkpoint}.jsonl.state.json").write_text(damage)
        again = feedkit.import_rows(client, frame, MAPPING, via="import", checkpoint=checkpoint,
                                    progress=False)  # fmt: skip
        assert again.task is not None and again.task["state"] == "completed"
        assert not any("earlier run" in n for n in again.notes)
        assert len(client.list_imports()) == 2 and stored(client) == before
        record = json.loads(Path(f"{checkpoint}.jsonl.state.json").read_text())
        assert record["task_id"] == again.task["id"]


def test_a_whole_app_via_the_pipeline(tmp_path: Path) -> None:
    with feedkit.connect(tmp_path / "app.db") as client:
        report = feedkit.migrate(client, APP, via="import", checkpoint=tmp_path / "ck",
                                 progress=False)  # fmt: skip
        assert report.total("failed") == 0
        assert any("completed" in n and "0 line errors" in n for n in report.notes)
        assert len(stored(client)) == 996
        follows = client.query_follows(limit=100)
        assert len(follows["follows"]) == 100 and follows.get("next")
    assert (tmp_path / "ck" / "app.jsonl").exists()


# What names each stored item of a whole app, and what a migration sets from its tables
# (but times: the API sets them itself, an import file keeps the app's: its history).
_ITEMS = {
    "users": "id, doc", "activities": "id, user_id, type, doc",
    "follows": "source, target",
    "comments": "id, object_id, parent_id, user_id, score, upvote_count, doc",
    "reactions": "object_type, object_id, user_id, type, activity_id, custom",
    "bookmarks": "activity_id, user_id, folder_id, custom",
}  # fmt: skip


def _items(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return {t: sorted(db.execute(f"SELECT {c} FROM {t}")) for t, c in _ITEMS.items()}


@pytest.mark.parametrize("via", ["import", "auto"])
def test_a_whole_app_ends_the_same_whichever_path(
    tmp_path: Path, via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data/app through the API, and through the pipeline (or each step choosing, every
    reaction and bookmark step taking it): the same items and the same refused rows."""
    monkeypatch.setattr(feedkit.bulk, "AUTO_ROWWISE_BYTES", 1)
    reports = {}
    for way in ("api", via):
        with feedkit.connect(tmp_path / f"{way}.db") as client:
            reports[way] = feedkit.migrate(client, APP, via=way, progress=False)
    assert _items(tmp_path / "api.db") == _items(tmp_path / f"{via}.db")
    # (the same rows: a file may name one more reason for a row, what it needs beyond the API)
    refused = {way: {(s.kind, e.row) for s, r in report.steps for e in r.errors.itertuples()}
               for way, report in reports.items()}  # fmt: skip
    assert refused["api"] == refused[via] and len(refused["api"]) == 20  # data/app/README.md
    if via == "auto":
        piped = [s.kind for s, r in reports[via].steps if r.task is not None]
        assert piped == ["reaction", "bookmark"]


def test_an_edited_app_rerun_via_auto_ends_as_a_fresh_migration_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rerun with the same checkpoint after the tables changed, each step on its own path
    (posts through the API, saved posts and likes through the pipeline): the store ends as a
    fresh migration of the edited tables leaves it; a step whose file is the same is neither
    uploaded nor imported again, one whose file changed is a new import."""
    import shutil

    monkeypatch.setattr(feedkit.bulk, "AUTO_ROWWISE_BYTES", 1)
    app = tmp_path / "app"
    shutil.copytree(APP.parent, app)
    plan, checkpoint = app / "plan.toml", tmp_path / "ck"
    with feedkit.connect(tmp_path / "auto.db") as client:
        feedkit.migrate(client, plan, via="auto", checkpoint=checkpoint, progress=False)
        assert len(client.list_imports()) == 2  # the likes and the saved posts
        posts, saved = (pd.read_csv(app / f, dtype=str, keep_default_na=False)
                        for f in ("posts.csv", "saved.csv"))  # fmt: skip
        posts.loc[0, "body"] = "edited after the first run"
        saved.loc[0, "folder"] = "Recipes"
        posts.to_csv(app / "posts.csv", index=False)
        saved.to_csv(app / "saved.csv", index=False)
        again = feedkit.migrate(client, plan, via="auto", checkpoint=checkpoint, progress=False)
        notes = {s.kind: r.notes for s, r in again.steps}
        assert any("not uploaded again" in n for n in notes["reaction"])
        assert not any("earlier run" in n for n in notes["bookmark"])
        assert len(client.list_imports()) == 3
    with feedkit.connect(tmp_path / "fresh.db") as client:
        feedkit.migrate(client, plan, via="api", progress=False)
    rerun, fresh = _items(tmp_path / "auto.db"), _items(tmp_path / "fresh.db")
    edited = [json.loads(row[3]) for row in rerun["activities"] if row[0] == "1"]
    assert edited[0].pop("edited_at") and edited == [json.loads(row[3]) for row in
                                                     fresh["activities"] if row[0] == "1"]
    for items in (rerun, fresh):  # (post 1 compared above)
        items["activities"] = [r for r in items["activities"] if r[0] != "1"]
    assert rerun == fresh


def test_via_auto_keeps_the_api_for_the_embedded_store(tmp_path: Path) -> None:
    with feedkit.connect(tmp_path / "s.db") as client:
        report = feedkit.import_rows(client, POSTS, MAPPING, via="auto", progress=False)
        assert report.task is None and report.acknowledged == 2989


@pytest.mark.parametrize(
    ("kind", "fields", "fits"),
    [("reaction", {"activity_id": "{a}"}, True),
     ("reaction", {"activity_id": "{a}", "comment_id": "{c}"}, True),
     ("reaction", {"comment_id": "{c}"}, True),
     ("comment", {"object_id": "{a}", "comment": "{c}"}, True),
     ("comment", {"object_id": "{a}", "parent_id": "{c}", "comment": "{c}"}, False),
     ("comment", {"parent_id": "{c}", "comment": "{c}"}, False)],
)  # fmt: skip
def test_via_auto_never_sends_rows_the_import_file_could_refuse(
    kind: str, fields: dict[str, str], fits: bool
) -> None:
    """A reply may name no object_id, which an import file needs (the API does not): auto
    keeps the API for such a mapping whatever the size. A reaction's activity_id is found
    from its comment (a whole-app test below): any reaction mapping fits."""
    own = {"type": "like"} if kind == "reaction" else {"id": "{i}"}
    mapping = feedkit.Mapping.build({**fields, **own, "user_id": "{u}"}, kind=kind)
    assert feedkit.bulk.fits_import_file(mapping) is fits


def test_via_auto_sends_big_reactions_through_the_pipeline(tmp_path: Path) -> None:
    mapping = feedkit.Mapping.build({"activity_id": "{a}", "comment_id": "{c}", "type": "like",
                                     "user_id": "{u}"}, kind="reaction")  # fmt: skip
    frame = pd.DataFrame({"a": ["p1", "p1", None], "c": [None, None, "c1"],
                          "u": ["x", "y", "z"]})  # fmt: skip
    with feedkit.connect(tmp_path / "s.db") as client:
        client.add_activity(id="p1", type="post", feeds=["user:x"], user_id="x")
        client.add_comment(id="c1", object_id="p1", user_id="x", comment="hi")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(feedkit.bulk, "AUTO_ROWWISE_ROWS", 2)
            report = feedkit.import_rows(client, frame, mapping, via="auto", progress=False)
        assert report.task is not None and report.acknowledged == 3, report.summary()
        assert len(client.query_activity_reactions("p1")["reactions"]) == 2
        assert len(client.query_comment_reactions("c1")["reactions"]) == 1


def test_cli_via_import(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", str(POSTS), "--mapping",
                                       str(ROOT / "data" / "posts.toml"), "--db",
                                       str(tmp_path / "s.db"), "--via", "import",
                                       "--no-progress"])  # fmt: skip
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "import task completed" in text  # 11 invalid rows
    with feedkit.connect(tmp_path / "s.db") as client:
        assert len(stored(client)) == 2989
