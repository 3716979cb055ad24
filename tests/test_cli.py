"""The command line: every command has help, and `demo` runs on the embedded default."""

from __future__ import annotations

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
