"""Shared fixtures: a real ``feedkit serve`` subprocess and clients pointed at it.

Every test that needs a server asks for ``live_server``; it is function scoped, so each test
starts from an empty SQLite file and no test can see another's data. Starting and stopping
live in ``_serve.py`` (bounded waits, 127.0.0.1 only), which tests needing server flags or
restarts use directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _serve import (
    MINTED,
    SECRET_PREFIX,
    SECRET_SHAPE,
    Server,
    leaks,
    new_secret,
    running,
    server_token,
    user_token,
)

LiveServer = Server


def report_leaks(report: pytest.TestReport) -> list[str]:
    """Where a test's captured output (stdout, stderr, log) or failure text holds a secret."""
    found = [f"{title}: {where}" for title, text in report.sections for where in leaks(text)]
    return found + [f"failure text: {where}" for where in leaks(report.longreprtext)]


def _redact(text: str) -> str:
    for secret in MINTED:
        text = text.replace(secret, "***")
    return SECRET_SHAPE.sub(SECRET_PREFIX + "***", text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Secret hygiene: a test whose output or failure text holds an API secret fails, with
    the secret redacted from what is shown."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    found = report_leaks(report)
    if found:
        before = _redact(report.longreprtext)
        report.sections = [(title, _redact(text)) for title, text in report.sections]
        report.outcome = "failed"
        report.longrepr = "secret hygiene: an API secret was shown in " + "; ".join(found)
        report.longrepr += f"\n{before}" if before else ""


@pytest.fixture(autouse=True)
def _no_stream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on (or be disturbed by) the developer's STREAM_* variables."""
    for key in list(os.environ):
        if key.startswith("STREAM_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with running(tmp_path / "srv.db", api_secret=new_secret()) as server:
        yield server


@pytest.fixture
def sdk_client(live_server: LiveServer) -> Iterator[Any]:
    """The official SDK, unmodified, pointed at the live server."""
    from getstream import Stream

    client = Stream(
        api_key=live_server.api_key,
        api_secret=live_server.api_secret,
        base_url=live_server.base_url,
        timeout=15.0,
    )
    try:
        yield client
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()


@pytest.fixture
def make_server_token(live_server: LiveServer) -> Callable[[], str]:
    return lambda: server_token(live_server.api_secret)


@pytest.fixture
def make_user_token(live_server: LiveServer) -> Callable[[str], str]:
    return lambda user_id: user_token(live_server.api_secret, user_id)
