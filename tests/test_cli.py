"""The command line: every command has help, `demo` runs on the embedded default, output fits
an 80-column terminal (colour only on a tty), and every mistake is one line with the right exit
code and no file left behind."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
from contextlib import closing
from pathlib import Path
from typing import Any

import click
import pytest
from _kinds import seed
from click.testing import CliRunner

from feedkit.cli import main
from feedkit.resources import RESOURCES


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
    assert re.search(r"acknowledged +2,985\n", result.output), result.output
    assert "feed_format" in result.output and errors.exists()
    assert f"all 15 errors written to {errors}" in result.output  # the file is confirmed
    assert "--errors FILE" not in result.output


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
    assert result.exit_code == 1 and "validation of" in result.output
    assert re.search(r"valid +2,989\n +invalid +11\n", result.output), result.output
    both = CliRunner().invoke(main, ["import", "x.csv", "--mapping", str(DATA / "posts.toml"),
                                     "--db", "a.db", "--base-url", "http://x"])  # fmt: skip
    assert both.exit_code == 2
    missing = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.csv"), "--mapping",
                                        str(DATA / "posts.toml")])  # fmt: skip
    assert missing.exit_code == 2 and "no such file" in missing.output
    bad_map = tmp_path / "bad.toml"
    bad_map.write_text('[activity]\nid = "{post_id"\n')
    broken = CliRunner().invoke(main, ["validate", str(DATA / "posts.csv"), "--mapping",
                                       str(bad_map)])  # fmt: skip
    assert broken.exit_code == 2 and "id:" in broken.output


def _one_line_error(result: Any, code: int) -> str:
    """The single ``Error: ...`` line a failed command prints (no traceback)."""
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding the sample posts (user:u1952 among their feeds)."""
    db = tmp_path / "s.db"
    args = ["import", str(DATA / "posts.parquet"), "--mapping", str(DATA / "posts.toml"),
            "--db", str(db), "--no-progress"]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 1  # 11 of the rows are invalid
    return db


def _feeds(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as con:
        return {r[0] for r in con.execute("SELECT fid FROM feeds")}


def test_a_feed_id_without_a_group_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    result = CliRunner().invoke(main, ["export", "alice", "-o", str(out), "--db", str(store)])
    assert "'alice' is not a feed id" in _one_line_error(result, 2)
    assert not out.exists()


def test_export_of_a_missing_feed_says_so_and_creates_nothing(store: Path, tmp_path: Path) -> None:
    out, before = tmp_path / "y.parquet", _feeds(store)
    result = CliRunner().invoke(main, ["export", "user:nobody", "-o", str(out), "--db", str(store),
                                       "--no-progress"])  # fmt: skip
    assert "'user:nobody' does not exist" in _one_line_error(result, 1)
    assert not out.exists() and _feeds(store) == before and "user:nobody" not in before
    found = CliRunner().invoke(main, ["export", "user:u1952", "-o", str(out), "--db", str(store),
                                      "--no-progress"])  # fmt: skip
    assert found.exit_code == 0 and out.exists(), found.output


def test_reading_a_store_that_does_not_exist_creates_none(tmp_path: Path) -> None:
    typo, out = tmp_path / "typo.db", tmp_path / "o.csv"
    result = CliRunner().invoke(main, ["export", "user:a", "-o", str(out), "--db", str(typo)])
    assert "no such store" in _one_line_error(result, 2)
    assert not typo.exists() and not out.exists()


def test_a_missing_source_is_a_usage_error_and_leaves_no_store(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["import", str(tmp_path / "nope.csv"), "--mapping",
                                       str(DATA / "posts.toml"), "--db", str(db)])  # fmt: skip
    assert "no such file" in _one_line_error(result, 2)
    assert list(tmp_path.iterdir()) == []  # no new.db, -wal or -shm


def test_a_failed_import_leaves_no_empty_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("post_id,author,body\n,u1,hello\n")  # the only row has no id
    mapping = tmp_path / "m.toml"
    mapping.write_text('[activity]\nid = "{post_id}"\ntype = "post"\nuser_id = "{author}"\n'
                       'feeds = ["user:{author}"]\ntext = "{body}"\n')  # fmt: skip
    db = tmp_path / "new.db"
    result = CliRunner().invoke(main, ["import", str(bad), "--mapping", str(mapping), "--db",
                                       str(db), "--no-progress"])  # fmt: skip
    assert result.exit_code == 1 and "required" in result.output
    assert not db.exists() and not Path(f"{db}-wal").exists()


def test_a_remote_without_a_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAM_API_KEY", raising=False)
    monkeypatch.delenv("STREAM_API_SECRET", raising=False)
    result = CliRunner().invoke(main, ["import", str(DATA / "posts.csv"), "--mapping",
                                       str(DATA / "posts.toml"), "--base-url",
                                       "http://127.0.0.1:9"])  # fmt: skip
    assert "no API key" in _one_line_error(result, 2)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import feedkit

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(feedkit, "import_rows", broken)
    args = ["import", str(DATA / "posts.csv"), "--mapping", str(DATA / "posts.toml"),
            "--db", str(tmp_path / "n.db")]  # fmt: skip
    line = _one_line_error(CliRunner().invoke(main, args), 1)
    assert "internal error: ZeroDivisionError: a bug" in line and "--debug" in line
    debug = CliRunner().invoke(main, [*args, "--debug"])
    assert debug.exit_code == 1 and isinstance(debug.exception, ZeroDivisionError)
    assert list(tmp_path.iterdir()) == []  # the store it created, empty, is gone


README_COMMAND = ["import", str(DATA / "posts.csv"), "--mapping", str(DATA / "posts.toml")]


def _run_at_80(tmp_path: Path, *, tty: bool, env: dict[str, str] | None = None) -> str:
    """The README's first command as a person runs it, at 80 columns: on a pseudo-terminal
    (``tty``) or piped; stdout and stderr together, as the terminal shows them."""
    args = [sys.executable, "-m", "feedkit", *README_COMMAND, "--db", str(tmp_path / "r.db"),
            "--checkpoint", str(tmp_path / "r.ck")]  # fmt: skip
    environ = {**os.environ, "COLUMNS": "80", "LINES": "24", **(env or {})}
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        if name not in (env or {}):
            environ.pop(name, None)
    environ["TERM"] = (env or {}).get("TERM", "xterm-256color")
    if not tty:
        done = subprocess.run(args, env=environ, capture_output=True, timeout=120, check=False)
        assert done.returncode == 1
        return (done.stdout + done.stderr).decode()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(args, env=environ, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 1
    return b"".join(chunks).decode()


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen_lines(text: str) -> list[str]:
    """The lines a terminal ends up showing: colour codes dropped, each carriage return
    (a progress bar redrawing itself) starting the line again."""
    return [line.split("\r")[-1] for line in _ANSI.sub("", text).replace("\r\n", "\n").split("\n")]


def test_the_readme_command_fits_80_columns_with_every_message_whole(tmp_path: Path) -> None:
    import feedkit

    report = feedkit.validate_source(DATA / "posts.csv", feedkit.Mapping.from_toml(
        DATA / "posts.toml"), progress=False)  # fmt: skip
    for tty in (False, True):
        (tmp_path / str(tty)).mkdir()
        out = _run_at_80(tmp_path / str(tty), tty=tty)
        lines = _screen_lines(out)
        assert max(len(line) for line in lines) <= 80, [x for x in lines if len(x) > 80]
        flat = " ".join(" ".join(lines).split())
        for message in report.errors["message"]:  # wrapped, never cut
            assert " ".join(message.split()) in flat, message
        assert "row 0 is the first data row" in flat
        assert "incomplete: 15 invalid" in flat
        assert ("\x1b[" in out) == tty  # colour on a terminal only, plain text when piped


def test_no_color_on_a_terminal_is_plain(tmp_path: Path) -> None:
    out = _run_at_80(tmp_path, tty=True, env={"NO_COLOR": "1"})
    colour = re.compile(r"\x1b\[(?:[0-9]*;)*(?:3[0-8]|9[0-7])[;m]")  # bold and dim stay
    assert "\x1b[" in out and not colour.search(out), "colour despite NO_COLOR"


@pytest.fixture
def kinds_store(tmp_path: Path) -> Path:
    """A store holding rows of every kind (tests/_kinds.py)."""
    import feedkit

    path = tmp_path / "kinds.db"
    with feedkit.connect(db=path) as client:
        seed(client)
    return path


@pytest.mark.parametrize(
    ("kind", "args", "rows"),
    [
        ("user", [], 2),
        ("follow", ["--query", '{"target_feed": "user:ann"}'], 1),
        ("comment", ["--activity", "a1"], 6),
        ("reaction", ["--activity", "a1"], 2),
        ("reaction", ["--comment", "c2"], 1),
        ("bookmark", ["--user", "bob"], 1),
    ],
)
def test_cli_exports_every_kind(
    kinds_store: Path, tmp_path: Path, kind: str, args: list[str], rows: int
) -> None:
    for suffix in ("parquet", "csv"):
        out = tmp_path / f"{kind}.{suffix}"
        result = CliRunner().invoke(main, ["export", "--kind", kind, *args, "-o", str(out),
                                           "--db", str(kinds_store),
                                           "--no-progress"])  # fmt: skip
        assert result.exit_code == 0, result.output
        plural = RESOURCES[kind].plural
        assert f"exported {rows} {plural} to" in result.output
        if suffix == "parquet":
            import pyarrow.parquet as pq

            assert pq.read_table(out).num_rows == rows
    assert (tmp_path / f"{kind}.mapping.toml").exists()


@pytest.mark.parametrize(
    ("args", "suffix"),
    [
        (["--kind", "user", "user:ann"], "csv"),  # a FEED with another kind
        (["--kind", "user", "--activity", "a1"], "csv"),  # an argument the kind does not take
        (["--kind", "reaction"], "csv"),  # reactions of what?
        (["--kind", "comment", "--query", "{nope"], "csv"),
        (["--activity", "a1", "user:ann"], "csv"),  # activities take no --activity
        (["--kind", "bookmark"], "jsonl"),  # an import file holds activities
    ],
)
def test_cli_refuses_a_kind_without_what_it_needs(
    kinds_store: Path, tmp_path: Path, args: list[str], suffix: str
) -> None:
    out = tmp_path / f"x.{suffix}"
    result = CliRunner().invoke(main, ["export", *args, "-o", str(out),
                                       "--db", str(kinds_store)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("kinds.db")]
