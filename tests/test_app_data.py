"""The legacy app in data/app: its files are what data/make_app.py makes, feedkit refuses
exactly the bad rows data/app/README.md lists, and the rest import into a store."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import feedkit
from feedkit.resources import RESOURCES, in_dependency_order

DATA = Path(__file__).resolve().parents[1] / "data"
APP = DATA / "app"
# The tables in the order a migration stores them, and the store table each fills.
TABLES = {"users": "users", "posts": "activities", "follows": "follows",
          "comments": "comments", "likes": "reactions", "saved": "bookmarks"}  # fmt: skip


def _make_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_app", DATA / "make_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_app"] = module  # the dataclasses look their module up
    spec.loader.exec_module(module)
    return module


MAKE_APP = _make_app()


def _bad(table: str, *, reference: bool) -> set[tuple[int, str, str]]:
    """(row, field, reason) of the table's bad rows: those validation finds alone, or
    (``reference``) those only a plan's reference checks find."""
    return {
        (b.row, b.field, b.reason)
        for b in MAKE_APP.BAD_ROWS
        if b.file == f"{table}.csv" and b.reference == reference
    }


def _refused(report: feedkit.ImportReport, code: str | None = None) -> set[tuple[int, str, str]]:
    errors = report.errors
    if code is not None:
        errors = errors[errors["code"] == code]
    return set(zip(errors["row"], errors["field"], errors["code"], strict=True))


def _mapping(table: str) -> feedkit.Mapping:
    return feedkit.Mapping.from_toml(APP / f"{table}.toml")


def test_the_committed_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    rows = MAKE_APP.generate(tmp_path)
    assert sorted(rows) == sorted(f"{t}.csv" for t in TABLES)
    for name in rows:
        assert (tmp_path / name).read_bytes() == (APP / name).read_bytes(), name


def test_the_plan_lists_every_table_out_of_dependency_order() -> None:
    plan = tomllib.loads((APP / "plan.toml").read_text(encoding="utf-8"))
    steps = [(s["source"], s["mapping"]) for s in plan["step"]]
    assert sorted(steps) == sorted((f"{t}.csv", f"{t}.toml") for t in TABLES)
    kinds = {_mapping(Path(m).stem).kind: Path(m).stem for _, m in steps}
    ordered = [kinds[r.kind] for r in in_dependency_order(RESOURCES[k] for k in kinds)]
    assert ordered == list(TABLES)
    assert [Path(s).stem for s, _ in steps] != ordered  # the migrator has to sort them


@pytest.mark.parametrize("table", list(TABLES))
def test_validation_refuses_exactly_the_documented_bad_rows(table: str) -> None:
    report = feedkit.validate_source(APP / f"{table}.csv", _mapping(table), progress=False)
    assert _refused(report) == _bad(table, reference=False)
    # The rows referring to a deleted post or comment are valid on their own: a migration
    # plan's reference checks refuse them (unknown_reference; see the test below).
    assert {b[2] for b in _bad(table, reference=True)} <= {"unknown_reference"}
    assert report.invalid == len(_bad(table, reference=False))
    assert report.valid + report.invalid == report.rows_read


def test_a_bigger_app_has_the_same_bad_rows_in_the_same_places(tmp_path: Path) -> None:
    rows = MAKE_APP.generate(tmp_path, scale=3)
    assert rows["posts.csv"] == 3 * MAKE_APP.N_POSTS
    assert rows["users.csv"] == 3 * MAKE_APP.N_USERS
    for table in TABLES:
        report = feedkit.validate_source(tmp_path / f"{table}.csv", _mapping(table),
                                         progress=False)  # fmt: skip
        assert _refused(report) == _bad(table, reference=False)


def test_the_readme_lists_every_bad_row() -> None:
    text = (APP / "README.md").read_text(encoding="utf-8")
    lines = text.partition("\n## Bad rows\n")[2].partition("\n## ")[0].splitlines()
    table = {tuple(c.strip().strip("`") if i < 5 else c.strip()
                   for i, c in enumerate(line.strip().strip("|").split("|")))
             for line in lines if line.startswith("| `")}  # fmt: skip
    documented = {(b.file, str(b.row), b.column, b.field, b.reason, b.problem)
                  for b in MAKE_APP.BAD_ROWS}  # fmt: skip
    assert table == documented


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_plan_refuses_exactly_the_bad_rows_and_stores_every_good_one(
    tmp_path: Path, dry_run: bool
) -> None:
    client = None if dry_run else feedkit.connect(db=tmp_path / "app.db")
    try:
        report = feedkit.migrate(client, APP / "plan.toml", dry_run=dry_run, progress=False)
    finally:
        if client is not None:
            client.close()
    expected: dict[str, int] = {}  # rows each store table should hold
    for step, step_report in report.steps:
        table = Path(step.name).stem
        bad = _bad(table, reference=False) | _bad(table, reference=True)
        assert _refused(step_report) == bad, table
        assert step_report.failed == 0
        expected[TABLES[table]] = step_report.rows_read - len(bad)
    assert [Path(s.name).stem for s, _ in report.steps] == list(TABLES)
    if dry_run:
        return
    with sqlite3.connect(tmp_path / "app.db") as db:
        found = {store: db.execute(f"SELECT count(*) FROM {store}").fetchone()[0]
                 for store in TABLES.values()}  # fmt: skip
    assert found == expected
