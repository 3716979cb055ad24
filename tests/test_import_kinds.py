"""import_rows for every kind: the end state of the store, duplicates by composite keys,
replies before their parents, reply cycles, reruns and resumes exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import feedkit
from feedkit import Mapping

POSTS = Mapping.from_dict({"activity": {
    "id": "{pid}", "type": "post", "user_id": "{author}", "feeds": ["user:{author}"],
    "text": "{body}",
}})  # fmt: skip
COMMENTS = Mapping.from_dict({"comment": {
    "id": "{cid}", "object_id": "{post}", "parent_id": "{reply_to}", "user_id": "{who}",
    "comment": "{text}",
}})  # fmt: skip


@pytest.fixture
def client(tmp_path: Path) -> Iterator[feedkit.Client]:
    with feedkit.connect(tmp_path / "app.db") as c:
        users = pd.DataFrame({"uid": ["ann", "bob", "cy"]})
        feedkit.import_rows(c, users, Mapping.from_dict({"user": {"id": "{uid}"}}),
                            progress=False)  # fmt: skip
        posts = pd.DataFrame({"pid": ["p1", "p2"], "author": ["ann", "bob"], "body": ["a", "b"]})
        assert feedkit.import_rows(c, posts, POSTS, progress=False).ok
        yield c


def errors_of(report: feedkit.ImportReport) -> set[tuple[int, str, str]]:
    return {(r.row, r.field, r.code) for r in report.errors.itertuples()}


def comments(client: feedkit.Client) -> dict[str, tuple[str | None, str]]:
    """id -> (parent_id, text) of every comment of p1 and p2, replies at every depth."""
    found = {}
    for post in ("p1", "p2"):
        answer = client.query_comments({"object_id": post}, limit=100)
        for c in answer["comments"]:
            found[c["id"]] = (c.get("parent_id"), c["text"])
    return found


def test_users_are_stored_with_every_mapped_field(client: feedkit.Client) -> None:
    users = pd.DataFrame({
        "uid": ["dee", "eve", ""], "nm": ["Dee", "Eve", "Nobody"], "role": ["user", "admin", "x"],
        "lang": ["en", "fr", "en"], "extra": ['{"tier": 2}', '{"tier": 3}', "{}"],
    })  # fmt: skip
    mapping = Mapping.from_dict({"user": {"id": "{uid}", "name": "{nm}", "role": "{role}",
                                          "language": "{lang}", "custom": "{extra}"}})  # fmt: skip
    report = feedkit.import_rows(client, users, mapping, progress=False)
    assert (report.valid, report.invalid, report.acknowledged) == (2, 1, 2)
    assert errors_of(report) == {(2, "id", "required")}
    got = {u["id"]: u for u in client.query_users({"id": {"$in": ["dee", "eve"]}})}
    assert got["eve"]["name"] == "Eve" and got["eve"]["role"] == "admin"
    assert got["eve"]["language"] == "fr" and got["eve"]["custom"] == {"tier": 3}


def test_follows_key_on_source_and_target_and_the_last_row_wins(client: feedkit.Client) -> None:
    follows = pd.DataFrame({
        "who": ["ann", "ann", "bob", "ann", "cy"],
        "whom": ["bob", "cy", "ann", "bob", "nogroup"],
        "push": ["all", "none", "all", "none", "all"],
    })  # fmt: skip
    mapping = Mapping.from_dict({"follow": {"source": "timeline:{who}", "target": "user:{whom}",
                                            "push_preference": "{push}"}})  # fmt: skip
    report = feedkit.import_rows(client, follows, mapping, progress=False)
    assert report.duplicates == 1 and report.acknowledged == 4
    (dup,) = [e for e in report.errors.itertuples() if e.code == "duplicate_id"]
    assert dup.row == 0 and "row 3" in dup.message and "source, target" in dup.message
    stored = {
        (f["source_feed"]["feed"], f["target_feed"]["feed"]): f["push_preference"]
        for f in client.query_follows(limit=100)["follows"]
    }
    assert stored == {
        ("timeline:ann", "user:bob"): "none",  # row 3, not row 0
        ("timeline:ann", "user:cy"): "none",
        ("timeline:bob", "user:ann"): "all",
        ("timeline:cy", "user:nogroup"): "all",
    }


def test_a_follow_needs_feed_ids(client: feedkit.Client) -> None:
    follows = pd.DataFrame({"who": ["ann"], "whom": ["bob"]})
    mapping = Mapping.from_dict({"follow": {"source": "{who}", "target": "user:{whom}"}})
    report = feedkit.validate_source(follows, mapping, progress=False)
    assert errors_of(report) == {(0, "source", "feed_format")}


def test_replies_listed_before_their_parents_are_stored_after_them(
    client: feedkit.Client,
) -> None:
    rows = pd.DataFrame({
        "cid": ["c4", "c3", "c2", "c1", "d1"],
        "post": ["p1", "p1", "p1", "p1", "p2"],
        "reply_to": ["c3", "c2", "c1", "", ""],
        "who": ["ann", "bob", "cy", "ann", "bob"],
        "text": ["four", "three", "two", "one", "other"],
    })  # fmt: skip
    report = feedkit.import_rows(client, rows, COMMENTS, progress=False)
    assert report.ok and report.acknowledged == 5 and report.failed == 0
    assert comments(client) == {
        "c1": (None, "one"), "c2": ("c1", "two"), "c3": ("c2", "three"),
        "c4": ("c3", "four"), "d1": (None, "other"),
    }  # fmt: skip


def test_replies_in_a_cycle_are_refused_and_the_rest_stored(client: feedkit.Client) -> None:
    rows = pd.DataFrame({
        "cid": ["x1", "x2", "ok", "x3"],
        "post": ["p1"] * 4,
        "reply_to": ["x2", "x1", "", "x1"],  # x3 hangs off the cycle: never stored either
        "who": ["ann"] * 4,
        "text": ["a", "b", "c", "d"],
    })  # fmt: skip
    dry = feedkit.validate_source(rows, COMMENTS, progress=False)
    assert errors_of(dry) == {(r, "parent_id", "reply_cycle") for r in (0, 1, 3)}
    report = feedkit.import_rows(client, rows, COMMENTS, progress=False)
    assert errors_of(report) >= errors_of(dry)
    assert "ok" in comments(client) and not {"x1", "x2"} & set(comments(client))
    assert report.valid + report.invalid == report.rows_read == 4


def test_a_comment_replying_to_a_stored_comment_is_stored(client: feedkit.Client) -> None:
    first = pd.DataFrame({"cid": ["c1"], "post": ["p1"], "reply_to": [""], "who": ["ann"],
                          "text": ["one"]})  # fmt: skip
    feedkit.import_rows(client, first, COMMENTS, progress=False)
    later = pd.DataFrame({"cid": ["c2"], "post": ["p1"], "reply_to": ["c1"], "who": ["bob"],
                          "text": ["two"]})  # fmt: skip
    assert feedkit.import_rows(client, later, COMMENTS, progress=False).acknowledged == 1
    assert comments(client)["c2"] == ("c1", "two")


def test_rerun_and_resume_of_threads_store_every_comment_once(
    client: feedkit.Client, tmp_path: Path
) -> None:
    rows = pd.DataFrame({
        "cid": ["c3", "c2", "c1"], "post": ["p1"] * 3, "reply_to": ["c2", "c1", ""],
        "who": ["ann"] * 3, "text": ["three", "two", "one"],
    })  # fmt: skip
    checkpoint = tmp_path / "comments.journal"
    first = feedkit.import_rows(client, rows, COMMENTS, progress=False, checkpoint=checkpoint)
    assert first.acknowledged == 3
    again = feedkit.import_rows(client, rows, COMMENTS, progress=False, checkpoint=checkpoint)
    assert (again.skipped, again.sent) == (3, 0)
    rows.loc[0, "text"] = "three, edited"  # a level-2 reply changed in the source
    edited = feedkit.import_rows(client, rows, COMMENTS, progress=False, checkpoint=checkpoint)
    assert (edited.skipped, edited.sent, edited.failed) == (2, 1, 0)
    plain = feedkit.import_rows(client, rows, COMMENTS, progress=False)  # no journal at all
    assert plain.acknowledged == 3 and plain.failed == 0
    assert comments(client) == {"c1": (None, "one"), "c2": ("c1", "two"),
                                "c3": ("c2", "three, edited")}  # fmt: skip
    total = client.query_comments({"object_id": "p1"}, limit=100)["comments"]
    assert len(total) == 3


def test_a_comment_id_taken_by_another_post_is_a_conflict(client: feedkit.Client) -> None:
    one = pd.DataFrame({"cid": ["c1"], "post": ["p1"], "reply_to": [""], "who": ["ann"],
                        "text": ["one"]})  # fmt: skip
    feedkit.import_rows(client, one, COMMENTS, progress=False)
    other = one.assign(post="p2")
    report = feedkit.import_rows(client, other, COMMENTS, progress=False)
    assert report.failed == 1 and errors_of(report) == {(0, "", "send_failed")}
    assert comments(client) == {"c1": (None, "one")}  # unchanged


def test_reactions_on_activities_and_comments(client: feedkit.Client) -> None:
    feedkit.import_rows(client, pd.DataFrame({
        "cid": ["c1"], "post": ["p1"], "reply_to": [""], "who": ["ann"], "text": ["one"],
    }), COMMENTS, progress=False)  # fmt: skip
    likes = pd.DataFrame({
        "post": ["p1", "p1", "", "p2", "p1", ""],
        "comment": ["", "", "c1", "", "", ""],
        "kind": ["like", "like", "like", "love", "like", "like"],
        "who": ["ann", "bob", "cy", "ann", "ann", "bob"],
    })  # fmt: skip
    mapping = Mapping.from_dict({"reaction": {"activity_id": "{post}", "comment_id": "{comment}",
                                              "type": "{kind}", "user_id": "{who}"}})  # fmt: skip
    report = feedkit.import_rows(client, likes, mapping, progress=False)
    assert report.duplicates == 1  # row 0 and row 4: ann likes p1 twice
    assert (5, "activity_id", "required") in errors_of(report)  # neither target
    assert report.acknowledged == 4
    on_p1 = client.query_activity_reactions("p1", limit=25)["reactions"]
    assert sorted(r["user"]["id"] for r in on_p1) == ["ann", "bob"]
    on_c1 = client.query_comment_reactions("c1", limit=25)["reactions"]
    assert [(r["type"], r["user"]["id"]) for r in on_c1] == [("like", "cy")]
    rerun = feedkit.import_rows(client, likes, mapping, progress=False)
    assert rerun.failed == 0
    assert len(client.query_activity_reactions("p1", limit=25)["reactions"]) == 2


def test_a_reaction_names_one_target_only(client: feedkit.Client) -> None:
    both = pd.DataFrame({"post": ["p1"], "comment": ["c1"], "who": ["ann"]})
    mapping = Mapping.from_dict({"reaction": {"activity_id": "{post}", "comment_id": "{comment}",
                                              "type": "like", "user_id": "{who}"}})  # fmt: skip
    report = feedkit.validate_source(both, mapping, progress=False)
    assert errors_of(report) == {(0, "comment_id", "dependency")}
    assert "not both" in report.errors.message[0]


def test_bookmarks_with_folders_are_stored_once(client: feedkit.Client) -> None:
    saved = pd.DataFrame(
        {
            "post": ["p1", "p2", "p1"],
            "who": ["bob", "bob", "cy"],
            "folder": ["", "", ""],
            "note": ['{"n": 1}', '{"n": 2}', '{"n": 3}'],
        }
    )
    mapping = Mapping.from_dict({"bookmark": {"activity_id": "{post}", "user_id": "{who}",
                                              "custom": "{note}"}})  # fmt: skip
    for _ in range(2):
        report = feedkit.import_rows(client, saved, mapping, progress=False)
        assert report.acknowledged == 3 and report.failed == 0
    bob = client.query_bookmarks({"user_id": "bob"}, limit=25)["bookmarks"]
    assert sorted((b["activity"]["id"], b["custom"]["n"]) for b in bob) == [("p1", 1), ("p2", 2)]


def test_feed_groups_are_created_then_updated(client: feedkit.Client) -> None:
    groups = pd.DataFrame({"gid": ["club", "news"]})
    mapping = Mapping.from_dict({"feed_group": {"id": "{gid}"}})
    for _ in range(2):
        report = feedkit.import_rows(client, groups, mapping, progress=False)
        assert report.acknowledged == 2 and report.failed == 0
    ids = set(client.list_feed_groups())
    assert {"club", "news"} <= ids


def test_import_activities_refuses_another_kind(client: feedkit.Client) -> None:
    with pytest.raises(TypeError, match="comment rows"):
        feedkit.import_activities(client, pd.DataFrame(), COMMENTS)


def test_cli_imports_and_validates_any_kind(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from feedkit.cli import main

    (tmp_path / "f.csv").write_text("a,b\nann,bob\nann,\n")
    (tmp_path / "f.toml").write_text('[follow]\nsource = "timeline:{a}"\ntarget = "user:{b}"\n')
    args = [str(tmp_path / "f.csv"), "--mapping", str(tmp_path / "f.toml")]
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", *args, "--no-progress"])
    assert checked.exit_code == 1 and "(follow rows)" in " ".join(checked.output.split())
    assert "target" in checked.output and "required" in checked.output
    stored = runner.invoke(main, ["import", *args, "--db", str(tmp_path / "s.db"),
                                  "--no-progress"])  # fmt: skip
    assert stored.exit_code == 1 and "acknowledged" in stored.output
    with feedkit.connect(tmp_path / "s.db") as c:
        (follow,) = c.query_follows(limit=10)["follows"]
        assert follow["target_feed"]["feed"] == "user:bob"
    jsonl = runner.invoke(main, ["import", *args, "--to-jsonl", str(tmp_path / "o.jsonl")])
    assert jsonl.exit_code == 1 and "1 follow lines" in " ".join(jsonl.output.split())
    assert '"source_fid":"timeline:ann"' in (tmp_path / "o.jsonl").read_text()
