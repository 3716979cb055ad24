"""An import file's batches read ahead by a worker process (feedkit.server.import_batches):
the store ends exactly as when the import thread reads every batch itself, whatever the
file holds (activities new or stored already, one the write refuses, every other kind), and
a worker that dies leaves the import thread to read on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _importtasks import app_import_file, run_import, write_lines
from test_importer import dump

import feedkit
from feedkit.server import import_batches
from feedkit.server.activities import ActivitiesService


@pytest.fixture(scope="module")
def app_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return app_import_file(tmp_path_factory.mktemp("app"))


def _posts(n: int, **extra: Any) -> list[dict[str, Any]]:
    """Activities of every shape: history, a share of an earlier one, attachments, a place,
    mentions, tags, an expiry."""
    lines = []
    for i in range(n):
        user = f"u{i % 7}"
        data: dict[str, Any] = {"id": f"p{i}", "type": "post", "user_id": user,
                                "fids": [f"user:{user}", "topic:t"],
                                "text": f"post {i}"}  # fmt: skip
        if i % 3 == 0:
            data["created_at"] = f"2021-03-{1 + i % 28:02d}T10:00:00Z"
        if i % 5 == 0:
            data["parent_id"] = f"p{i // 2}"
        if i % 4 == 0:
            data["attachments"] = [{"type": "image", "image_url": "https://x.org/a.png"}]
            data["location"] = {"lat": 1.5, "lng": -2}
            data["mentioned_user_ids"] = ["u1"]
            data["filter_tags"] = ["a", "b"]
            data["custom"] = {"n": i, "deep": {"x": [1, 2]}}
        if i % 11 == 0:
            data["expires_at"] = "2099-01-01T00:00:00Z"
        lines.append({"type": "activity", "data": {**data, **extra}})
    return lines


@pytest.fixture
def imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:  # fmt: skip
    """Imports files into a new store, read ahead or not: (tasks, dump, batches written
    ready by the worker)."""
    clients: list[feedkit.Client] = []
    monkeypatch.setattr(import_batches, "BATCH_LINES", 40)  # several batches a file
    ready: list[int] = []
    real = ActivitiesService.write_prepared

    def counted(self: ActivitiesService, db: Any, prepared: Any) -> bool:
        written = real(self, db, prepared)
        ready.append(len(prepared) if written else 0)
        return written

    monkeypatch.setattr(ActivitiesService, "write_prepared", counted)

    def run(name: str, files: list[Path], ahead: bool) -> tuple[list[Any], Any, int]:
        monkeypatch.setattr(import_batches, "AHEAD_MIN_BYTES", 0 if ahead else 1 << 60)
        since = time.time_ns()
        ready.clear()
        client = feedkit.connect(db=tmp_path / f"{name}.db")
        clients.append(client)
        tasks = [run_import(client, f) for f in files]
        return tasks, _edits_now(dump(tmp_path / f"{name}.db", since)), sum(ready)

    yield run
    for c in clients:
        c.close()


def _edits_now(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The dump with the time of an edit, kept in an activity's doc, read "now" (the files
    here give none: each is a time of the import itself)."""
    edited = re.compile(rb'"edited_at":\d+')
    tables["activities"] = [tuple(edited.sub(b'"edited_at":"now"', v) if isinstance(v, bytes)
                                  else v for v in row) for row in tables["activities"]]  # fmt: skip
    return tables


def _shown(tasks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(t["state"], t["lines"], t["applied"], t["error_count"], t["errors"]) for t in tasks]


def test_read_ahead_the_store_ends_as_read_here(
    imported: Any, app_file: Path, tmp_path: Path
) -> None:
    posts = write_lines(tmp_path / "posts.jsonl", _posts(300))
    tasks, ahead, ready = imported("ahead", [app_file, posts], ahead=True)
    here_tasks, here, none = imported("here", [app_file, posts], ahead=False)
    assert ahead == here and _shown(tasks) == _shown(here_tasks)
    assert ready >= 300 and none == 0  # the worker made the posts ready to write
    assert all(here[t] for t in ("activities", "activity_keys", "comments", "reactions"))


def test_activities_stored_already_are_written_the_usual_way(imported: Any, tmp_path: Path) -> None:
    """A run naming a stored activity (the same file again, then edited) or one id twice
    is written as the import thread writes it: edits kept, shares counted once."""
    posts = write_lines(tmp_path / "posts.jsonl", _posts(120))
    edited = write_lines(tmp_path / "edited.jsonl", _posts(120, text="edited")[::-1])
    twice = write_lines(tmp_path / "twice.jsonl", _posts(3) + _posts(3, text="again"))
    files = [posts, posts, edited, twice]
    tasks, ahead, _ = imported("ahead", files, ahead=True)
    here_tasks, here, _ = imported("here", files, ahead=False)
    assert ahead == here and _shown(tasks) == _shown(here_tasks)


def test_a_line_the_write_refuses_is_the_only_one_refused(imported: Any, tmp_path: Path) -> None:
    """An activity the import schema lets through and the API refuses (tag visibility and
    no tag) keeps its run from being made ready: the thread writes it, refusing that line."""
    lines = _posts(100)
    lines[57]["data"]["visibility"] = "tag"
    path = write_lines(tmp_path / "posts.jsonl", lines)
    tasks, ahead, _ = imported("ahead", [path], ahead=True)
    here_tasks, here, _ = imported("here", [path], ahead=False)
    assert ahead == here and _shown(tasks) == _shown(here_tasks)
    assert tasks[0]["error_count"] == 1 and tasks[0]["errors"][0]["line"] == 58
    assert "visibility_tag" in tasks[0]["errors"][0]["reason"]


@pytest.mark.parametrize("answered", [0, 2])
def test_a_worker_that_dies_leaves_the_thread_to_read_on(
    imported: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    answered: int,
) -> None:
    """Killed before its first answer (half the analysis) or after its second (one batch;
    a next one may be in the pipe already), the worker's part is done by the import
    thread: every line checked and applied, none twice."""
    real = import_batches._Worker.answer
    answers: list[int] = []

    def dying(self: Any) -> Any:
        if len(answers) == answered:
            self.process.kill()
            self.process.wait()
        answers.append(1)
        return real(self)

    monkeypatch.setattr(import_batches._Worker, "answer", dying)
    lines = _posts(300)
    lines[250]["data"]["fids"] = "not a list"  # refused by the analysis: its second half
    path = write_lines(tmp_path / "posts.jsonl", lines)
    tasks, ahead, ready = imported("ahead", [path], ahead=True)
    here_tasks, here, _ = imported("here", [path], ahead=False)
    assert ahead == here and _shown(tasks) == _shown(here_tasks)
    assert tasks[0]["errors"][0]["line"] == 251 and tasks[0]["applied"] == 299
    assert "on in this thread" in caplog.text
    assert ready == 0 if answered == 0 else 0 < ready < 299


def test_the_worker_ends_with_the_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import stopped half way (a server closing) ends its worker: none is left behind."""
    started: list[Any] = []
    real = import_batches._Worker.start

    def kept() -> Any:
        started.append(real())
        return started[-1]

    monkeypatch.setattr(import_batches._Worker, "start", kept)
    monkeypatch.setattr(import_batches, "BATCH_LINES", 40)
    path = write_lines(tmp_path / "posts.jsonl", _posts(300))
    with import_batches.reading(path, ahead=True) as reader:
        assert reader.analysis(10).valid == 300
        batches = reader.batches(0, 0, True)
        first = next(batches)
        assert (first.read, first.line, [kind for kind, _ in first.runs]) == (40, 40, ["activity"])
    assert len(started) == 1 and started[0].process.returncode is not None
