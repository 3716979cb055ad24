"""Two rules for every test run, of tests/ and of the notebooks alike.

- Under ``CI=true`` a skipped test is a failure: the browser test, the official SDK's tests and
  the notebooks must run in CI, and a missing tool must not pass as a skip. Locally a skip
  stays a skip (``-ra`` lists it with its reason).
- The suite leaves the work tree as it found it: ``git status --porcelain`` before and after the
  session must agree, or the session fails naming the paths that changed (RELIABILITY.md is
  written only by ``bash scripts/reliability``, the one run allowed to change it; outputs
  belong in temporary directories).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
_TREE = pytest.StashKey[list[str] | None]()
_CHANGED = pytest.StashKey[list[str]]()


def _skips_fail() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _refuse_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome = yield
    if _skips_fail():
        _refuse_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[Any]:
    outcome = yield
    if _skips_fail():
        _refuse_skip(outcome.get_result())


def git_status(root: Path = ROOT) -> list[str] | None:
    """``git status --porcelain`` lines of the work tree (untracked files included), each with
    a digest of the file as it is (a file already changed and changed again differs), or None
    where this is not a git work tree (an sdist, a copy)."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=root, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return sorted(f"{line}  {_digest(root / line[3:])}" for line in done.stdout.splitlines())


def _digest(path: Path) -> str:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=6).hexdigest()
    except OSError:  # deleted, or a directory
        return "-"


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[_TREE] = git_status()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    before = session.stash.get(_TREE, None)
    after = git_status() if before is not None else None
    if before is None or after is None or after == before:
        return
    changed = sorted(set(before) ^ set(after))
    if os.environ.get("FEEDKIT_WRITE_RELIABILITY") == "1":  # bash scripts/reliability: asked for
        changed = [line for line in changed if " RELIABILITY.md  " not in line]
    if changed:
        session.config.stash[_CHANGED] = changed
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    changed = terminalreporter.config.stash.get(_CHANGED, None)
    if changed:
        terminalreporter.section("work tree changed by the test run", red=True)
        for line in changed:
            terminalreporter.write_line(line, red=True)
