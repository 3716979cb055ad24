"""feedkit.migrate and `feedkit migrate`: a whole app in dependency order, references checked
across steps and at the destination, exactly once after an interruption (the store's end state
says so, not the counters)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import feedkit
from feedkit.cli import main
from feedkit.migrate import MigrationInterrupted, migrate
from feedkit.plan import Plan

PLAN = """
[[step]]
source = "likes.csv"
mapping = { reaction = { activity_id = "{post}", type = "{kind}", user_id = "{who}" } }

[[step]]
source = "comments.csv"
mapping = "comments.toml"

[[step]]
source = "follows.csv"
mapping = { follow = { source = "timeline:{follower}", target = "user:{followee}" } }

[[step]]
source = "posts.csv"
[step.mapping.activity]  # an inline mapping as a table of its own
id = "{pid}"
type = "post"
user_id = "{author}"
feeds = ["user:{author}"]
text = "{body}"

[[step]]
source = "users.csv"
mapping = { user = { id = "{uid}", name = "{name}" } }
"""
COMMENTS_TOML = """
[comment]
id = "{cid}"
object_id = "{post}"
parent_id = "{reply_to}"
user_id = "{who}"
comment = "{text}"
"""
USERS = [f"u{i}" for i in range(12)]


def write_app(folder: Path, seed: int = 7) -> dict[str, Any]:
    """A small app whose comments reply up to 4 deep, listed in a shuffled order, with one
    bad reference of each kind; returns what a correct migration stores."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"uid": USERS, "name": [u.upper() for u in USERS]}).to_csv(
        folder / "users.csv", index=False
    )
    posts = [f"p{i}" for i in range(30)]
    pd.DataFrame(
        {
            "pid": posts,
            "author": [rnd.choice(USERS) for _ in posts],
            "body": [f"post {p}" for p in posts],
        }
    ).to_csv(folder / "posts.csv", index=False)
    pairs = sorted({(a, b) for a in USERS for b in USERS if a != b and rnd.random() < 0.3})
    pd.DataFrame(pairs, columns=["follower", "followee"]).to_csv(folder / "follows.csv",
                                                                 index=False)  # fmt: skip
    comments: list[dict[str, str]] = []
    for i in range(120):
        parent = rnd.choice(comments) if comments and rnd.random() < 0.5 else None
        post = parent["post"] if parent else rnd.choice(posts)
        comments.append({"cid": f"c{i}", "post": post, "reply_to": parent["cid"] if parent else "",
                         "who": rnd.choice(USERS), "text": f"comment {i}"})  # fmt: skip
    rnd.shuffle(comments)  # replies come before their parents, often
    good_comments = {c["cid"]: (c["post"], c["reply_to"] or None) for c in comments}
    comments.append({"cid": "orphan", "post": "p404", "reply_to": "", "who": "u1", "text": "?"})
    comments.append({"cid": "lost", "post": "p1", "reply_to": "c404", "who": "u1", "text": "?"})
    pd.DataFrame(comments).to_csv(folder / "comments.csv", index=False)
    (folder / "comments.toml").write_text(COMMENTS_TOML)
    likes = sorted({(rnd.choice(posts), "like", u) for u in USERS for _ in range(6)})
    pd.DataFrame([*likes, ("p404", "like", "u1")], columns=["post", "kind", "who"]).to_csv(
        folder / "likes.csv", index=False
    )
    (folder / "plan.toml").write_text(PLAN)
    return {"comments": good_comments, "likes": set(likes), "follows": set(pairs),
            "posts": set(posts), "bad": {("comment", len(comments) - 2, "object_id"),
                                         ("comment", len(comments) - 1, "parent_id"),
                                         ("reaction", len(likes), "activity_id")}}  # fmt: skip


def end_state(client: feedkit.Client) -> dict[str, Any]:
    """Everything the store holds, read back through the API."""
    posts = {a["id"] for a in client.iter_activities()}
    comments: dict[str, tuple[str, str | None]] = {}
    likes = set()
    for post in posts:
        for c in client.query_comments({"object_id": post}, limit=100)["comments"]:
            assert c["id"] not in comments, "a comment stored twice"
            comments[c["id"]] = (c["object_id"], c.get("parent_id"))
        for r in client.query_activity_reactions(post, limit=100)["reactions"]:
            key = (post, r["type"], r["user"]["id"])
            assert key not in likes, "a reaction stored twice"
            likes.add(key)
    follows = {
        (f["source_feed"]["feed"].split(":")[1], f["target_feed"]["feed"].split(":")[1])
        for f in client.query_follows(limit=100)["follows"]
    }
    return {"posts": posts, "comments": comments, "likes": likes, "follows": follows}


def refused(report: Any) -> set[tuple[str, int, str]]:
    return {
        (step.kind, e.row, e.field)
        for step, r in report.steps
        for e in r.errors.itertuples()
        if e.code == "unknown_reference"
    }


def assert_migrated(client: feedkit.Client, app: dict[str, Any]) -> None:
    state = end_state(client)
    assert state["posts"] == app["posts"]
    assert state["comments"] == app["comments"]
    assert state["likes"] == app["likes"]
    assert state["follows"] == app["follows"]


def test_steps_run_in_dependency_order_whatever_the_plan_lists(tmp_path: Path) -> None:
    write_app(tmp_path)
    plan = Plan.from_toml(tmp_path / "plan.toml")
    assert [s.kind for s in plan.steps] == ["user", "activity", "follow", "comment", "reaction"]
    assert plan.steps[0].source == tmp_path / "users.csv"  # relative to the plan's folder


def test_a_whole_app_is_stored_and_bad_references_explained(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    with feedkit.connect(tmp_path / "store.db") as client:
        report = migrate(client, tmp_path / "app" / "plan.toml", progress=False)
        assert refused(report) == app["bad"]
        assert not report.ok and report.total("failed") == 0
        assert report.total("invalid") == len(app["bad"])
        assert_migrated(client, app)


def test_via_auto_sends_a_big_step_of_reactions_through_the_import_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step chooses: the reactions (a request a row by the API) go as an import file
    once their source is big (here: any size), the other steps through the API; the store
    ends the same, bad references refused the same."""
    monkeypatch.setattr(feedkit.bulk, "AUTO_ROWWISE_BYTES", 1)
    app = write_app(tmp_path / "app")
    with feedkit.connect(tmp_path / "store.db") as client:
        report = migrate(client, tmp_path / "app" / "plan.toml", via="auto", progress=False)
        assert refused(report) == app["bad"]
        assert_migrated(client, app)
    piped = {step.kind: r.task is not None for step, r in report.steps}
    assert piped == {"user": False, "activity": False, "follow": False, "comment": False,
                     "reaction": True}  # fmt: skip
    notes = dict((step.kind, r.notes) for step, r in report.steps)
    assert "reactions are stored a request a row" in notes["reaction"][0]


def test_a_dry_run_finds_the_same_bad_references_and_stores_nothing(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    offline = migrate(None, tmp_path / "app" / "plan.toml", dry_run=True, progress=False)
    assert refused(offline) == app["bad"]
    assert any("feed groups were not checked" in n for n in offline.notes)
    with feedkit.connect(tmp_path / "store.db") as client:
        online = migrate(client, tmp_path / "app" / "plan.toml", dry_run=True, progress=False)
        assert refused(online) == app["bad"]
        assert end_state(client)["posts"] == set()


def test_references_already_at_the_destination_are_kept(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    with feedkit.connect(tmp_path / "store.db") as client:
        migrate(client, tmp_path / "app" / "plan.toml", progress=False)
        later = tmp_path / "later"
        later.mkdir()
        post = app["comments"]["c5"][0]  # a reply is on its parent's activity
        pd.DataFrame({"cid": ["late"], "post": [post], "reply_to": ["c5"], "who": ["u2"],
                      "text": ["late reply"]}).to_csv(later / "more.csv", index=False)  # fmt: skip
        plan = Plan.from_dict({"step": [{"source": "more.csv", "mapping": {"comment": {
            "id": "{cid}", "object_id": "{post}", "parent_id": "{reply_to}", "user_id": "{who}",
            "comment": "{text}"}}}]}, base=later)  # fmt: skip
        report = migrate(client, plan, progress=False)
        assert report.ok and refused(report) == set()
        assert client.get_comment("late")["parent_id"] == "c5"
        assert len(end_state(client)["comments"]) == len(app["comments"]) + 1


def test_follows_of_unknown_feed_groups_are_refused_or_their_groups_created(
    tmp_path: Path,
) -> None:
    pd.DataFrame({"a": ["u1", "u2"], "b": ["u2", "u1"]}).to_csv(tmp_path / "f.csv", index=False)
    step = {"source": "f.csv", "mapping": {"follow": {"source": "timeline:{a}",
                                                       "target": "club:{b}"}}}  # fmt: skip
    with feedkit.connect(tmp_path / "store.db") as client:
        refusing = migrate(client, Plan.from_dict({"step": [step]}, base=tmp_path), progress=False)
        assert refused(refusing) == {("follow", 0, "target"), ("follow", 1, "target")}
        ((_, r),) = refusing.steps
        assert "create_feed_groups = true" in r.errors.message[0]
        creating = Plan.from_dict({"step": [step], "create_feed_groups": True}, base=tmp_path)
        report = migrate(client, creating, progress=False)
        assert report.ok and "club" in client.list_feed_groups()
        assert any("feed groups club were created" in n for n in report.notes)
        assert len(client.query_follows(limit=10)["follows"]) == 2


def test_an_interrupted_migration_resumes_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = write_app(tmp_path / "app")
    checkpoint = tmp_path / "ck"
    with feedkit.connect(tmp_path / "store.db") as client:
        real, calls = client.call, {"n": 0}

        def interrupted_in_the_replies(operation: str, *args: Any, **kwargs: Any) -> Any:
            if operation == "AddCommentsBatch":
                calls["n"] += 1
                if calls["n"] == 9:  # a level of replies, some of it sent
                    raise KeyboardInterrupt
            return real(operation, *args, **kwargs)

        monkeypatch.setattr(client, "call", interrupted_in_the_replies)
        with pytest.raises(MigrationInterrupted) as stop:
            migrate(client, tmp_path / "app" / "plan.toml", checkpoint=checkpoint,
                    batch_size=5, concurrency=1, progress=False)  # fmt: skip
        first = stop.value.report
        assert first.interrupted and [s.kind for s, _ in first.steps][-1] == "comment"
        partial = end_state(client)["comments"]
        assert 0 < len(partial) < len(app["comments"])
        monkeypatch.undo()
        again = migrate(client, tmp_path / "app" / "plan.toml", checkpoint=checkpoint,
                        batch_size=5, progress=False)  # fmt: skip
        by_kind = {s.kind: r for s, r in again.steps}
        assert by_kind["activity"].skipped == len(app["posts"])  # nothing resent
        assert by_kind["comment"].skipped >= len(partial) - 5  # only the unjournaled slot
        assert refused(again) == app["bad"] and again.total("failed") == 0
        assert_migrated(client, app)
        assert (checkpoint / "comment.comments.csv.journal").exists()


def test_cli_migrate_reports_every_step_and_exits_by_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(tmp_path / "app")
    runner = CliRunner()
    plan = str(tmp_path / "app" / "plan.toml")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    dry = runner.invoke(main, ["migrate", plan, "--dry-run", "--no-progress"])
    assert dry.exit_code == 1, dry.output
    assert "comment step comments.csv" in dry.output and "unknown_reference" in dry.output
    assert not (cwd / "feedkit.db").exists()  # a dry run with no store makes none
    args = ["migrate", plan, "--db", "app.db", "--checkpoint", "ck", "--errors", "errs"]
    run = runner.invoke(main, [*args, "--no-progress"])
    assert run.exit_code == 1 and "migration, all steps" in run.output
    errors = pd.read_csv(cwd / "errs" / "comment.comments.csv.errors.csv")
    assert set(errors.code) == {"unknown_reference"} and len(errors) == 2
    missing = runner.invoke(main, ["migrate", "nope.toml", "--db", "app.db"])
    assert missing.exit_code == 2 and "no plan file" in missing.output


def test_cli_migrate_exits_zero_when_every_row_is_stored(tmp_path: Path) -> None:
    pd.DataFrame({"uid": ["a", "b"]}).to_csv(tmp_path / "u.csv", index=False)
    (tmp_path / "plan.toml").write_text('[[step]]\nsource = "u.csv"\n'
                                        'mapping = { user = { id = "{uid}" } }\n')  # fmt: skip
    result = CliRunner().invoke(
        main,
        ["migrate", str(tmp_path / "plan.toml"), "--db", str(tmp_path / "s.db"), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "complete" in result.output
