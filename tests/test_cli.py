"""The command line: every command has help, and `demo` runs on the embedded default."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from feedkit.cli import main


def commands() -> list[str]:
    return sorted(main.commands)


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help(name: str) -> None:
    command = main.commands[name]
    assert command.help and len(command.help) > 20
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} --{param.name} has no help"


def test_demo_runs_on_a_file(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "upserted 3 activities" in result.output
    assert "query filter_tags contains green: ['demo-2', 'demo-0']" in result.output
    assert db.exists()
    again = CliRunner().invoke(main, ["demo", "--db", str(db)])
    assert again.exit_code == 0  # a rerun upserts the same ids


def test_serve_requires_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAM_API_KEY", raising=False)
    monkeypatch.delenv("STREAM_API_SECRET", raising=False)
    result = CliRunner().invoke(main, ["serve", "--port", "0"])
    assert result.exit_code == 2 and "--api-key" in result.output


def test_bad_rate_limit_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        main, ["serve", "--api-key", "k", "--api-secret", "s", "--rate-limit", "Add=lots"]
    )
    assert result.exit_code == 2 and "OPERATION=N" in result.output


DATA = Path(__file__).resolve().parents[1] / "data"


def test_import_reports_and_exits_1_for_bad_rows(tmp_path: Path) -> None:
    db, errors = tmp_path / "i.db", tmp_path / "errors.csv"
    args = ["import", str(DATA / "posts.csv"), "--mapping", str(DATA / "posts.toml"),
            "--db", str(db), "--no-progress", "--errors", str(errors)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "acknowledged       2,985" in result.output
    assert "feed_format" in result.output and errors.exists()


def test_import_of_clean_rows_exits_0(tmp_path: Path) -> None:
    import pandas as pd

    clean = tmp_path / "clean.parquet"
    frame = pd.read_parquet(DATA / "posts.parquet")
    frame.iloc[:50].to_parquet(clean)
    args = ["import", str(clean), "--mapping", str(DATA / "posts.toml"),
            "--db", str(tmp_path / "c.db"), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "dry run" in dry.output


def test_validate_and_usage_errors(tmp_path: Path) -> None:
    args = ["validate", str(DATA / "posts.parquet"), "--mapping", str(DATA / "posts.toml"),
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "dry run: nothing sent" in result.output
    assert re.search(r"valid +2,989\n +invalid +11\n", result.output), result.output
    both = CliRunner().invoke(main, ["import", "x.csv", "--mapping", str(DATA / "posts.toml"),
                                     "--db", "a.db", "--base-url", "http://x"])  # fmt: skip
    assert both.exit_code == 2
    missing = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.csv"), "--mapping",
                                        str(DATA / "posts.toml")])  # fmt: skip
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad_map = tmp_path / "bad.toml"
    bad_map.write_text('[activity]\nid = "{post_id"\n')
    broken = CliRunner().invoke(main, ["validate", str(DATA / "posts.csv"), "--mapping",
                                       str(bad_map)])  # fmt: skip
    assert broken.exit_code == 1 and "id:" in broken.output
