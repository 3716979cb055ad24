"""Export -> migrate -> export of a whole app is the identity: every kind, generated apps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import feedkit
from feedkit.plan import Plan

TIMES = ("created_at", "updated_at")
KEYS = {"user": ["id"], "activity": ["id"], "follow": ["source", "target"], "comment": ["id"],
        "reaction": ["activity_id", "comment_id", "type", "user_id"],
        "bookmark": ["activity_id", "user_id"]}  # fmt: skip


@st.composite
def apps(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    """A small app as a legacy export would hold it, one table per kind."""
    users = [f"u{i}" for i in range(draw(st.integers(2, 6)))]
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
    posts = pd.DataFrame(
        {
            "pid": [f"p{i}" for i in range(draw(st.integers(1, 6)))],
        }
    )
    posts["author"] = [draw(st.sampled_from(users)) for _ in posts.pid]
    posts["body"] = [draw(text) for _ in posts.pid]
    pairs = draw(st.sets(st.tuples(st.sampled_from(users), st.sampled_from(users)), min_size=1,
                         max_size=10))  # fmt: skip
    comments: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 12))):
        parent = draw(st.sampled_from(comments)) if comments and draw(st.booleans()) else None
        comments.append({"cid": f"c{i}", "post": parent["post"] if parent else
                         draw(st.sampled_from(list(posts.pid))),
                         "reply_to": parent["cid"] if parent else "",
                         "who": draw(st.sampled_from(users)), "text": draw(text)})  # fmt: skip
    ordered = draw(st.permutations(comments))  # replies often before their parents
    likes = draw(st.sets(st.tuples(st.sampled_from(list(posts.pid)), st.sampled_from(
        ["like", "love"]), st.sampled_from(users)), min_size=1, max_size=8))  # fmt: skip
    saved = draw(st.sets(st.tuples(st.sampled_from(list(posts.pid)), st.sampled_from(users)),
                         min_size=1, max_size=6))  # fmt: skip
    return {
        "users": pd.DataFrame({"uid": users, "name": [u.upper() for u in users]}),
        "posts": posts,
        "follows": pd.DataFrame(sorted(pairs), columns=["a", "b"]),
        "comments": pd.DataFrame(ordered),
        "likes": pd.DataFrame(sorted(likes), columns=["post", "kind", "who"]),
        "saved": pd.DataFrame(sorted(saved), columns=["post", "who"]),
    }


MAPPINGS = {
    "users": {"user": {"id": "{uid}", "name": "{name}"}},
    "posts": {"activity": {"id": "{pid}", "type": "post", "user_id": "{author}",
                           "feeds": ["user:{author}"], "text": "{body}"}},
    "follows": {"follow": {"source": "timeline:{a}", "target": "user:{b}"}},
    "comments": {"comment": {"id": "{cid}", "object_id": "{post}", "parent_id": "{reply_to}",
                             "user_id": "{who}", "comment": "{text}"}},
    "likes": {"reaction": {"activity_id": "{post}", "type": "{kind}", "user_id": "{who}"}},
    "saved": {"bookmark": {"activity_id": "{post}", "user_id": "{who}"}},
}  # fmt: skip


def export_app(client: feedkit.Client) -> dict[str, pd.DataFrame]:
    """Every kind the store holds, as feedkit exports it."""
    activities = feedkit.query_to_dataframe(client, progress=False)
    reactions = [feedkit.reactions_to_dataframe(client, a, progress=False)
                 for a in activities["id"]]  # fmt: skip
    frame = pd.concat(reactions, ignore_index=True)
    frame.attrs = reactions[0].attrs
    return {
        "user": feedkit.users_to_dataframe(client, progress=False),
        "activity": activities,
        "follow": feedkit.follows_to_dataframe(client, progress=False),
        "comment": feedkit.comments_to_dataframe(client, progress=False),
        "reaction": frame,
        "bookmark": feedkit.bookmarks_to_dataframe(client, progress=False),
    }


def comparable(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    kept = frame[[c for c in frame.columns if c not in TIMES]]
    return kept.sort_values(KEYS[kind]).reset_index(drop=True)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(app=apps(), order=st.randoms(use_true_random=False))
def test_export_migrate_export_is_the_identity(
    app: dict[str, pd.DataFrame], order: Any, tmp_path_factory: Any
) -> None:
    folder: Path = tmp_path_factory.mktemp("app")
    legacy = Plan.from_dict({"step": [
        {"source": frame, "mapping": MAPPINGS[name], "name": name} for name, frame in app.items()
    ]})  # fmt: skip
    with feedkit.connect(folder / "first.db") as first:
        report = feedkit.migrate(first, legacy, progress=False)
        assert report.ok, report.summary()
        exported = export_app(first)
    steps = [{"source": frame, "mapping": feedkit.Mapping.identity(frame, kind=kind),
              "name": kind} for kind, frame in exported.items()]  # fmt: skip
    order.shuffle(steps)
    with feedkit.connect(folder / "second.db") as second:
        again = feedkit.migrate(second, Plan.from_dict({"step": steps}), progress=False)
        assert again.ok, again.summary()
        assert again.total("acknowledged") == report.total("acknowledged")
        reexported = export_app(second)
    for kind, frame in exported.items():
        pd.testing.assert_frame_equal(comparable(frame, kind), comparable(reexported[kind], kind))
