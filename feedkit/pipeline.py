"""The vendor's import pipeline, client side: a validated import file, uploaded and imported.

:func:`run_pipeline` takes a function that writes the import file (one source through a
mapping, or a whole plan), then creates an upload URL, uploads the file, creates the import
(mode upsert) and polls the task until it ends. Each step is recorded in a small state file
beside the import file, bound to the destination and to the file's digest, so an interrupted
run resumes where it was: a file already uploaded is not uploaded again, a task already
created is polled, not created twice (a task of the same upload found at the destination is
adopted even if its id was never recorded). Rows refused before the upload are in the
writer's report, as for any import; lines the service refuses are in the task's ``errors``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pandas as pd

from feedkit.client import Client
from feedkit.files import replacing
from feedkit.importfile import ImportFileWriter, bare_users
from feedkit.progress import counter
from feedkit.resources import RESOURCES
from feedkit.senders import present
from feedkit.server.imports import ANALYZE_FAILED, COMPLETED, FAILED

__all__ = ["FINISHED", "PipelineRun", "run_pipeline", "users_at", "users_note"]

FINISHED = (COMPLETED, FAILED, ANALYZE_FAILED)  # the task's states that end it
POLL_S = 0.5  # between two reads of the task
MAX_WAIT_S = 24 * 3600.0  # a task still running after this is left to run, and said so
Written = TypeVar("Written")


@dataclass
class PipelineRun:
    """What the pipeline did: the file, the upload, the task as it ended, and the notes."""

    file: str
    digest: str
    size: int
    upload_path: str | None = None
    task: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        return str(self.task.get("state", "not created"))

    @property
    def ok(self) -> bool:
        return self.state == COMPLETED and not self.task.get("error_count")

    @property
    def errors(self) -> pd.DataFrame:
        """The lines the service refused: line, type, reason."""
        return pd.DataFrame(self.task.get("errors") or [], columns=["line", "type", "reason"])

    def figures(self) -> list[tuple[str, int | str, str]]:
        history = " -> ".join([h["next_state"] for h in self.task.get("history") or []])
        return [
            ("file", f"{self.size:,} bytes", self.file),
            ("task", self.state, history),
            ("lines", int(self.task.get("lines", 0) or 0), ""),
            ("applied", int(self.task.get("applied", 0) or 0), ""),
            ("line errors", int(self.task.get("error_count", 0) or 0), ""),
        ]


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _state_path(file: Path) -> Path:
    return file.with_name(file.name + ".state.json")


def _recorded(state: Path) -> dict[str, Any]:
    """The record in a state file (nothing, if it is missing or damaged)."""
    try:
        saved = orjson.loads(state.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _load(state: Path, destination: str, digest: str) -> dict[str, Any]:
    """The recorded steps of this file at this destination (nothing, for another)."""
    saved = _recorded(state)
    same = saved.get("destination") == destination and saved.get("digest") == digest
    return saved if same else {}


def _save(state: Path, record: dict[str, Any]) -> None:
    with replacing(state) as (part,):
        Path(part).write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))


def users_at(client: Client, file: Path) -> Callable[[list[str]], set[str]]:
    """Which of some users ``client``'s app has: a file bound for it gives those no line of
    their own (a line naming a user and nothing more may replace the user there, wiping its
    name and custom data; :class:`feedkit.importfile.ImportFileWriter`). A user given such a
    line by the file an earlier run wrote at ``file`` for this destination is given it again,
    even if that run's import has created the user since: a rerun writes the same file, so
    it is neither uploaded nor imported again."""
    state = _state_path(file)
    same = _recorded(state).get("destination") == client.destination
    lined = bare_users(file) if same else set()
    return lambda ids: present(client, RESOURCES["user"], ids) - lined


def users_note(writer: ImportFileWriter) -> list[str]:
    """What the report says of the users the file named but left to the destination."""
    n = writer.users_present
    return [f"{n:,} users named are at the destination already: no user line"] if n else []


def run_pipeline(
    client: Client,
    write: Callable[[Path], Written],
    file: str | os.PathLike[str] | None,
    *,
    merge_custom: bool | None = None,
    progress: bool = True,
    poll_s: float = POLL_S,
    max_wait_s: float = MAX_WAIT_S,
) -> tuple[Written, PipelineRun]:
    """Write the import file at ``file`` (``write(path)`` returns its report), then upload
    and import it into ``client``'s app; the writer's report and the :class:`PipelineRun`.
    The state of the run is kept in ``<file>.state.json``; with ``file`` None, both are in a
    temporary folder removed at the end (nothing to resume from)."""
    if file is None:
        with tempfile.TemporaryDirectory(prefix="feedkit-pipeline-") as folder:
            return run_pipeline(client, write, Path(folder) / "import.jsonl",
                                merge_custom=merge_custom, progress=progress, poll_s=poll_s,
                                max_wait_s=max_wait_s)  # fmt: skip
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = write(path)
    run = PipelineRun(str(path), _digest(path), path.stat().st_size)
    state_path = _state_path(path)
    record = _load(state_path, client.destination, run.digest) or {
        "destination": client.destination, "digest": run.digest, "file": path.name,
    }  # fmt: skip
    if record.get("upload_path"):
        run.notes.append("the file was uploaded by an earlier run: not uploaded again")
    else:
        url = client.create_import_url(path.name)
        client.upload_import_file(url["upload_url"], path)
        record["upload_path"] = url["path"]
        _save(state_path, record)
    run.upload_path = record["upload_path"]
    task_id = record.get("task_id") or _adopted(client, run.upload_path)
    if task_id:
        run.notes.append("the import was created by an earlier run: polled, not created again")
    else:
        task_id = client.create_import(run.upload_path, mode="upsert",
                                       merge_custom=merge_custom)["id"]  # fmt: skip
    record["task_id"] = task_id
    _save(state_path, record)
    run.task = _polled(client, task_id, progress, poll_s, max_wait_s, run.notes)
    return written, run


def _adopted(client: Client, upload_path: str) -> str | None:
    """A task the destination already has for this upload (created by a run that stopped
    before it could record the task's id)."""
    return next((t["id"] for t in client.list_imports() if t.get("path") == upload_path), None)


def _polled(
    client: Client, task_id: str, progress: bool, poll_s: float, max_wait_s: float,
    notes: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The task, read until it ends (or ``max_wait_s`` passed), its state on a bar."""
    deadline = time.monotonic() + max_wait_s
    with counter(progress, "import task", unit="lines") as bar:
        while True:
            task = client.get_import(task_id)
            bar.set_description_str(f"import task: {task.get('state')}", refresh=False)
            bar.update(int(task.get("applied", 0) or 0) - bar.n)
            if task.get("state") in FINISHED:
                return task
            if time.monotonic() >= deadline:
                notes.append(f"the task was still {task.get('state')} after {max_wait_s:.0f} s: "
                             "run the same command again to go on polling it")  # fmt: skip
                return task
            time.sleep(poll_s)
