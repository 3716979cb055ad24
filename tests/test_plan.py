"""Migration plans: read from TOML or dicts, ordered by dependency, refused with the step and
key named when they cannot run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from feedkit.plan import Plan, PlanError

USER = {"user": {"id": "{uid}"}}
POST = {"activity": {"id": "{pid}", "type": "post", "feeds": ["user:{a}"]}}


def test_inline_and_file_mappings_and_the_order_they_run_in(tmp_path: Path) -> None:
    (tmp_path / "posts.toml").write_text('[activity]\nid = "{pid}"\ntype = "post"\n'
                                         'feeds = ["user:{a}"]\n')  # fmt: skip
    plan = Plan.from_dict({"step": [
        {"source": "posts.csv", "mapping": "posts.toml"},
        {"source": "users.csv", "mapping": USER},
        {"source": "more_users.csv", "mapping": USER},
    ]}, base=tmp_path)  # fmt: skip
    assert [(s.kind, s.name) for s in plan.steps] == [
        ("user", "users.csv"),
        ("user", "more_users.csv"),
        ("activity", "posts.csv"),
    ]
    assert plan.steps[2].slug == "activity.posts.csv"


def test_a_source_that_is_not_a_file_needs_a_name() -> None:
    frame = pd.DataFrame({"uid": ["a"]})
    with pytest.raises(PlanError, match="step 1: a source that is not a file needs a `name`"):
        Plan.from_dict({"step": [{"source": frame, "mapping": USER}]})
    plan = Plan.from_dict({"step": [{"source": frame, "mapping": USER, "name": "people"}]})
    assert plan.steps[0].source is frame


def test_urls_stay_urls(tmp_path: Path) -> None:
    plan = Plan.from_dict({"step": [{"source": "s3://bucket/u.parquet", "mapping": USER}]},
                          base=tmp_path)  # fmt: skip
    assert plan.steps[0].source == "s3://bucket/u.parquet" and plan.steps[0].name == "u.parquet"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "no steps"),
        ({"step": [{"source": "u.csv"}]}, "step 1: a step needs a source and a mapping"),
        ({"step": [{"source": "u.csv", "mapping": USER, "map": 1}]}, "unknown key(s) ['map']"),
        ({"steps": []}, "unknown key(s) ['steps']"),
        ({"step": [{"source": "u.csv", "mapping": USER}] * 2}, "two user steps are named"),
        ({"step": [{"source": "u.csv", "mapping": 3}]}, "mapping is a path or an inline table"),
        ({"step": [{"source": "u.csv", "mapping": {"user": {"nope": "x"}}}]}, "step 1:"),
        ({"step": [{"source": "u.csv", "mapping": "missing.toml"}]}, "step 1:"),
        (
            {"step": [{"source": "u.csv", "mapping": USER}], "create_feed_groups": "yes"},
            "create_feed_groups must be true or false",
        ),
    ],
)
def test_plans_that_cannot_run_name_the_step_and_key(
    data: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(PlanError) as err:
        Plan.from_dict(data, base=tmp_path)
    assert message in str(err.value)


def test_a_plan_file_that_is_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "plan.toml"
    bad.write_text("[[step]\nsource = ")
    with pytest.raises(PlanError, match="not valid TOML"):
        Plan.from_toml(bad)
    with pytest.raises(PlanError, match="no plan file"):
        Plan.from_toml(tmp_path / "none.toml")
