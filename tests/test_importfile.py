"""Import files of every kind: each line valid against the vendor's schema, history kept, in an
order the importer accepts (users first, every user before the lines naming it, replies after
their parents), duplicates resolved and bad rows explained as an import does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from _importschemas import invalid_lines
from click.testing import CliRunner

import feedkit
from feedkit.cli import main
from feedkit.schema import MAX_ACTIVITY_BYTES

APP = Path(__file__).resolve().parents[1] / "data" / "app"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_a_whole_app_as_one_import_file(tmp_path: Path) -> None:
    out = tmp_path / "app.jsonl"
    report = feedkit.migrate(None, APP / "plan.toml", to_jsonl=out, progress=False)
    assert invalid_lines(out) == []
    got = lines(out)
    kinds = [x["type"] for x in got]
    assert kinds == sorted(kinds, key=["user", "activity", "follow", "comment", "reaction",
                                       "bookmark"].index)  # fmt: skip
    by_kind = {s.kind: r for s, r in report.steps}
    for kind, r in by_kind.items():
        assert kinds.count(kind) == r.acknowledged, kind
    assert kinds.count("user") == 197 and kinds.count("activity") == 996
    first = next(x["data"] for x in got if x["type"] == "activity")
    assert "fids" in first and "feeds" not in first and first["created_at"].endswith("Z")
    follow = next(x["data"] for x in got if x["type"] == "follow")
    assert set(follow) >= {"source_fid", "target_fid"}
    stored: set[str] = set()  # every reply after its parent
    for data in (x["data"] for x in got if x["type"] == "comment"):
        assert data["object_type"] == "activity" and "text" in data
        assert data.get("parent_id") is None or data["parent_id"] in stored, data["id"]
        stored.add(data["id"])
    # A like of a comment names no post in likes.csv: its line names the comment's activity,
    # found among the plan's comments (the format needs an activity_id on every reaction).
    comment_of = {x["data"]["id"]: x["data"]["object_id"] for x in got if x["type"] == "comment"}
    on_comments = [x["data"] for x in got if x["type"] == "reaction" and "comment_id" in x["data"]]
    assert len(on_comments) == 403  # the likes of comments in likes.csv
    assert all(d["activity_id"] == comment_of[d["comment_id"]] for d in on_comments)
    refused = by_kind["reaction"].errors  # the documented bad likes, no other
    # (640 names a post and a comment: refused as the API path refuses it)
    assert sorted(refused.row) == [99, 640, 1313, 1900] and "required" not in set(
        refused[refused.field == "activity_id"].code
    )


def test_a_like_of_a_comment_without_a_plan_or_a_destination_is_explained(
    tmp_path: Path,
) -> None:
    """Alone, an import file cannot know a comment's activity: the row is refused, saying
    where it could be found."""
    frame = pd.DataFrame({"c": ["c1"], "u": ["ann"]})
    mapping = feedkit.Mapping.from_dict(
        {"reaction": {"comment_id": "{c}", "type": "like", "user_id": "{u}"}}
    )
    written = feedkit.write_import_file(frame, mapping, tmp_path / "r.jsonl")
    assert written.lines.get("reaction", 0) == 0 and written.invalid == 1
    error = written.errors.iloc[0]
    assert (error.row, error.field, error.code, error.column) == (0, "activity_id", "required", "c")
    assert "comment_id 'c1'" in error.message and "migration plan or the destination" in (
        error.message
    )


def test_users_get_a_line_before_the_first_line_naming_them(tmp_path: Path) -> None:
    frame = pd.DataFrame({"cid": ["c1", "c2", "c3"], "post": ["p1", "p1", "p2"],
                          "who": ["ann", "bob", "ann"], "text": ["a", "b", "c"]})  # fmt: skip
    mapping = feedkit.Mapping.from_dict(
        {"comment": {"id": "{cid}", "object_id": "{post}", "user_id": "{who}", "comment": "{text}"}}
    )
    written = feedkit.write_import_file(frame, mapping, tmp_path / "c.jsonl")
    got = lines(tmp_path / "c.jsonl")
    assert [(x["type"], x["data"].get("id")) for x in got] == [
        ("user", "ann"), ("user", "bob"), ("comment", "c1"), ("comment", "c2"),
        ("comment", "c3"),
    ]  # fmt: skip
    assert written.lines == {"user": 2, "comment": 3} and written.invalid == 0
    assert invalid_lines(tmp_path / "c.jsonl") == []


def test_the_last_row_of_a_key_wins_in_a_file_too(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": ["ann", "ann"], "b": ["bob", "bob"], "push": ["all", "none"]})
    mapping = feedkit.Mapping.from_dict({"follow": {"source": "timeline:{a}",
                                                    "target": "user:{b}",
                                                    "push_preference": "{push}"}})  # fmt: skip
    written = feedkit.write_import_file(frame, mapping, tmp_path / "f.jsonl")
    (line,) = lines(tmp_path / "f.jsonl")
    assert line["data"]["push_preference"] == "none"
    assert written.errors.code.tolist() == ["duplicate_id"]


def test_feed_groups_and_bookmarks_use_the_format_s_names(tmp_path: Path) -> None:
    groups = pd.DataFrame({"g": ["club"]})
    feedkit.write_import_file(groups, feedkit.Mapping.from_dict({"feed_group": {"id": "{g}"}}),
                              tmp_path / "g.jsonl")  # fmt: skip
    assert lines(tmp_path / "g.jsonl") == [{"type": "feed_group", "data": {"group_id": "club"}}]
    saved = pd.DataFrame({"post": ["p1"], "who": ["ann"]})
    mapping = feedkit.Mapping.from_dict({"bookmark": {"activity_id": "{post}",
                                                      "user_id": "{who}"}})  # fmt: skip
    feedkit.write_import_file(saved, mapping, tmp_path / "b.jsonl")
    assert lines(tmp_path / "b.jsonl")[-1]["data"] == {
        "object_id": "p1",
        "user_id": "ann",
        "object_type": "activity",
    }
    assert invalid_lines(tmp_path / "b.jsonl") == invalid_lines(tmp_path / "g.jsonl") == []


def test_cli_writes_import_files_of_any_kind_and_whole_apps(tmp_path: Path) -> None:
    runner = CliRunner()
    one = runner.invoke(main, ["import", str(APP / "follows.csv"), "--mapping",
                               str(APP / "follows.toml"), "--to-jsonl",
                               str(tmp_path / "f.jsonl")])  # fmt: skip
    assert one.exit_code == 1 and "1,493 follow lines" in " ".join(one.output.split())
    app = runner.invoke(main, ["migrate", str(APP / "plan.toml"), "--to-jsonl",
                               str(tmp_path / "app.jsonl"), "--no-progress"])  # fmt: skip
    assert app.exit_code == 1 and "wrote" in app.output
    assert invalid_lines(tmp_path / "app.jsonl") == []
    both = runner.invoke(main, ["migrate", str(APP / "plan.toml"), "--to-jsonl", "x.jsonl",
                                "--db", str(tmp_path / "s.db")])  # fmt: skip
    assert both.exit_code == 2 and "--to-jsonl writes a file" in both.output


def test_a_repeated_key_of_an_invalid_row_supersedes_nothing(tmp_path: Path) -> None:
    # The keys read alone repeat (p1 twice), so the full first pass decides: the second p1
    # has no feed, is invalid, and leaves the first one written.
    frame = pd.DataFrame({"id": ["p1", "p2", "p1", "p2"], "who": ["ann", "bob", "", "cat"]})
    frame.to_parquet(tmp_path / "posts.parquet")
    mapping = feedkit.Mapping.build({"id": "{id}", "type": "post", "user_id": "{who}",
                                     "feeds": ["user:{who}"]})  # fmt: skip
    for source in (frame, tmp_path / "posts.parquet"):
        written = feedkit.write_import_file(source, mapping, tmp_path / "a.jsonl")
        got = [(x["type"], x["data"]["id"]) for x in lines(tmp_path / "a.jsonl")]
        assert got == [("user", "ann"), ("user", "cat"), ("activity", "p1"),
                       ("activity", "p2")]  # fmt: skip
        assert written.errors[["row", "code"]].values.tolist() == [
            [1, "duplicate_id"], [2, "required"], [2, "required"]
        ]  # fmt: skip


def test_rows_too_large_by_the_api_s_names_are_refused_in_a_file_too(tmp_path: Path) -> None:
    # An activity's feeds are "fids" in the file, a byte shorter: a row one byte over the
    # limit by the API's names is refused all the same, one at the limit is written.
    base = {"id": "a", "type": "post", "user_id": "ann", "feeds": ["user:ann"], "text": ""}
    room = MAX_ACTIVITY_BYTES - len(json.dumps(base, separators=(",", ":")))
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x" * (room + 1), "y" * room]})
    mapping = feedkit.Mapping.build({"id": "{id}", "type": "post", "user_id": "ann",
                                     "feeds": ["user:ann"], "text": "{text}"})  # fmt: skip
    written = feedkit.write_import_file(frame, mapping, tmp_path / "big.jsonl")
    assert written.errors[["row", "field", "code"]].values.tolist() == [[0, "text", "too_large"]]
    (line,) = [x for x in lines(tmp_path / "big.jsonl") if x["type"] == "activity"]
    assert line["data"]["id"] == "b"


def test_attachment_urls_other_than_https_are_refused_in_a_file(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"],
                          "img": ["https://x/a.png", "http://x/b.png", None, "ftp://x/d"],
                          "thumb": [None, "https://x/t.png", "http://x/t.png", "https://x/d"],
                          "link": ["http://x", "http://y", "http://z", None]})  # fmt: skip
    mapping = feedkit.Mapping.build({
        "id": "{id}", "type": "post", "user_id": "ann", "feeds": ["user:ann"],
        "custom": {"page_url": "{link}"},
        "attachments": [{"type": "image", "image_url": "{img}", "custom": {"src_url": "{link}"}},
                        {"type": "image", "thumb_url": "{thumb}"}],
    })  # fmt: skip
    written = feedkit.write_import_file(frame, mapping, tmp_path / "u.jsonl")
    assert written.errors[["row", "field", "code"]].values.tolist() == [
        [1, "attachments[0].image_url", "format"],
        [2, "attachments[0].thumb_url", "format"],
        [3, "attachments[0].image_url", "format"],
    ]
    kept = [x["data"]["id"] for x in lines(tmp_path / "u.jsonl") if x["type"] == "activity"]
    assert kept == ["a"]
