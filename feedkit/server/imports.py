"""The import pipeline of the embedded server: CreateImportURL, the upload, CreateImport,
GetImport and ListImports, and the import tasks that run in the background.

CreateImportURL hands out an upload URL on this server (``UPLOADS`` + an upload id), signed
with the app's secret (HMAC: :meth:`Authenticator.sign`), expiring after ``UPLOAD_URL_TTL_S``
and good for one file (the same bytes sent again, a retry whose answer was lost, get the same
answer): a PUT of the file, streamed to disk under the store's folder and
refused past ``MAX_UPLOAD_BYTES`` (413). CreateImport makes an ImportTask of an uploaded file
and runs it in a thread: it checks every line (:mod:`feedkit.server.import_lines`), then
applies the valid ones in the file's order (:mod:`feedkit.server.importer`), ``BATCH_LINES``
a transaction, each transaction also saving how far the task got (an import of many lines
builds the activities' read indexes after its rows: :meth:`Store.indexes_deferred`). A server
killed mid-import resumes every unfinished task from there when it starts again
(:meth:`ImportsService.resume`), so the store ends with each line applied once.

A task's states are the vendor's import states (the spec names none; its importer documents
them, getstream.io/chat/docs/<sdk>/import: uploaded, analyzing, analyze_failed,
waiting_confirmation, importing, completed, failed). ``waiting_confirmation`` is a manual step
of the vendor's support there; an import created through the API here goes straight on.
Line errors are reported in the task's ``errors`` (not in the spec's ImportTask, which has no
member for them: an extra one), each ``{line, type, reason}``, the first
``MAX_REPORTED_ERRORS`` of them, and their number in ``error_count``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request

from feedkit.protocol import IMPORT_UPLOADS
from feedkit.server import import_batches
from feedkit.server.auth import Authenticator, Principal
from feedkit.server.import_batches import BATCH_LINES
from feedkit.server.importer import Importer, Outcome
from feedkit.server.problems import NOT_ALLOWED, TOKEN_SIGNATURE, Problem
from feedkit.server.requests import body_object
from feedkit.server.service import AppService
from feedkit.server.store import now_ns

__all__ = ["BATCH_LINES", "MAX_UPLOAD_BYTES", "UPLOADS", "UPLOAD_URL_TTL_S", "ImportsService"]

log = logging.getLogger("feedkit.server")

UPLOADS = IMPORT_UPLOADS
UPLOAD_URL_TTL_S = 3600
MAX_UPLOAD_BYTES = 2 * 1024**3
MAX_REPORTED_ERRORS = 1000
# Lines left to apply from which an import builds the activities' read indexes after its rows
# (when they are also at least as many as the store's activities): a 1M-line import took half
# the time in one measurement (166 -> 86 s).
DEFER_INDEXES_LINES = 100_000
MODES = ("upsert", "insert")  # CreateImportRequest.mode's enum in the spec

UPLOADED, ANALYZING, ANALYZE_FAILED = "uploaded", "analyzing", "analyze_failed"
IMPORTING, COMPLETED, FAILED = "importing", "completed", "failed"
UNFINISHED = (UPLOADED, ANALYZING, IMPORTING)

_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def _filename(name: Any) -> str:
    """A safe file name from the one asked for (no folders, no odd characters)."""
    base = _FILENAME.sub("_", Path(str(name or "")).name).strip("._")
    return base or "import.jsonl"


class ImportsService:
    """Upload URLs, uploads and import tasks of one app; tasks run in daemon threads."""

    def __init__(
        self, service: AppService, auth: Authenticator, max_upload: int = MAX_UPLOAD_BYTES
    ) -> None:
        self.service = service
        self.store = service.store
        self.auth = auth
        self.max_upload = max_upload
        path = self.store.path
        if path in ("", ":memory:") or path.startswith("file:"):
            self.folder = Path(tempfile.mkdtemp(prefix="feedkit-imports-"))
        else:  # beside the store, so an upload survives a restart as the task does
            self.folder = Path(f"{path}.imports")
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}

    # -- upload URLs and uploads ------------------------------------------------------------

    def _signature(self, upload_id: str, expires: int) -> str:
        return self.auth.sign(f"import-upload:{upload_id}:{expires}")

    def create_import_url(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.server_only("CreateImportURL")
        body = body_object(body)
        upload_id = uuid.uuid4().hex
        path = f"{upload_id}/{_filename(body.get('filename'))}"
        expires = int(time.time()) + UPLOAD_URL_TTL_S
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO import_uploads (id, path, expires_at) VALUES (?, ?, ?)",
                (upload_id, path, expires),
            )
        query = f"expires={expires}&signature={self._signature(upload_id, expires)}"
        # Relative: the app makes it absolute with the address the request came to.
        return {"path": path, "upload_url": f"{UPLOADS}{upload_id}?{query}"}

    def _upload_row(self, upload_id: str, expires: str, signature: str) -> tuple[str, bool]:
        """The path of a valid upload URL and whether it has been used, or the Problem
        saying why it is not valid."""
        if not expires.isdigit() or not self.auth.signed(
            f"import-upload:{upload_id}:{expires}", signature
        ):
            raise Problem(403, TOKEN_SIGNATURE, "the upload URL's signature is not valid")
        if int(expires) < time.time():
            raise Problem(403, NOT_ALLOWED, "the upload URL has expired: create another")
        with self.store.reading() as db:
            row = db.execute(
                "SELECT path, used_at FROM import_uploads WHERE id = ?", (upload_id,)
            ).fetchone()
        if row is None:
            raise Problem(403, TOKEN_SIGNATURE, "the upload URL is not one of this server's")
        return str(row[0]), row[1] is not None

    async def receive(self, request: Request) -> dict[str, Any]:
        """A PUT to an upload URL: the file, streamed to disk; answers its path and size.
        A URL is used by one upload; the same bytes sent to it again (a retry whose answer
        was lost) get the same answer, other bytes are refused."""
        if request.method != "PUT":
            raise Problem(405, 4, f"{request.method} is not allowed on an upload URL")
        upload_id = request.url.path[len(UPLOADS) :].strip("/")
        query = request.query_params
        path, used = self._upload_row(
            upload_id, query.get("expires", ""), query.get("signature", "")
        )
        declared = request.headers.get("content-length", "")
        too_big = f"the file exceeds the upload limit of {self.max_upload} bytes"
        if declared.isdigit() and int(declared) > self.max_upload:
            raise Problem(413, 4, too_big)
        final = self.folder / path
        final.parent.mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{uuid.uuid4().hex}.part")
        size = 0
        try:
            with open(part, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_upload:
                        raise Problem(413, 4, too_big)
                    out.write(chunk)
            if used:
                if not _same_bytes(part, final):
                    raise Problem(403, NOT_ALLOWED, "the upload URL has been used: create another")
                return {"path": path, "size": size}
            with self.store.transaction() as db:
                won = db.execute(
                    "UPDATE import_uploads SET used_at = ?, size = ? "
                    "WHERE id = ? AND used_at IS NULL",
                    (now_ns(), size, upload_id),
                ).rowcount
                if not won:
                    raise Problem(403, NOT_ALLOWED, "the upload URL has been used: create another")
                os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        return {"path": path, "size": size}

    # -- tasks ------------------------------------------------------------------------------

    def create_import(self, principal: Principal, body: Any) -> dict[str, Any]:
        principal.server_only("CreateImport")
        body = body_object(body)
        path, mode = body.get("path"), body.get("mode")
        errors = {}
        if mode not in MODES:
            errors["mode"] = f"must be one of {', '.join(MODES)}"
        if not isinstance(path, str) or not path:
            errors["path"] = "is required: the path CreateImportURL answered"
        if body.get("merge_custom") is not None and not isinstance(body["merge_custom"], bool):
            errors["merge_custom"] = "must be a boolean"
        if errors:
            raise Problem.invalid(errors)
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT size FROM import_uploads WHERE path = ? AND used_at IS NOT NULL", (path,)
            ).fetchone()
            if row is None:
                raise Problem.invalid({"path": f"{path!r} is not a file uploaded to this server"})
            at = self.store.tick()
            task = {
                "id": str(uuid.uuid4()), "path": path, "mode": mode, "size": row[0],
                "merge_custom": bool(body.get("merge_custom")), "state": UPLOADED,
                "history": [], "created_at": at, "updated_at": at, "lines": 0, "applied": 0,
                "skipped": 0, "error_count": 0, "errors": [], "line": 0, "offset": 0,
            }  # fmt: skip
            self._save(db, task)
        self._start(task["id"])
        return {"import_task": _shown(task)}

    def get_import(self, principal: Principal, task_id: str) -> dict[str, Any]:
        principal.server_only("GetImport")
        with self.store.reading() as db:
            task = self._load(db, task_id)
        if task is None:
            raise Problem.not_found(f"import {task_id!r}")
        return {"import_task": _shown(task)}

    def list_imports(self, principal: Principal) -> dict[str, Any]:
        principal.server_only("ListImports")
        with self.store.reading() as db:
            rows = db.execute("SELECT doc FROM import_tasks ORDER BY created_at DESC").fetchall()
        return {"import_tasks": [_shown(orjson.loads(r[0])) for r in rows]}

    def _load(self, db: Any, task_id: str) -> dict[str, Any] | None:
        row = db.execute("SELECT doc FROM import_tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def _save(self, db: Any, task: dict[str, Any]) -> None:
        db.execute(
            "INSERT INTO import_tasks (id, state, created_at, updated_at, doc) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at, doc = excluded.doc",
            (task["id"], task["state"], task["created_at"], task["updated_at"],
             orjson.dumps(task)),
        )  # fmt: skip

    def _move(self, task: dict[str, Any], state: str) -> None:
        """Put the task in ``state``, the change kept in its history (one transaction)."""
        at = self.store.tick()
        task["history"].append({"created_at": at, "prev_state": task["state"],
                                "next_state": state})  # fmt: skip
        task.update(state=state, updated_at=at)
        with self.store.transaction() as db:
            self._save(db, task)

    # -- running ----------------------------------------------------------------------------

    def resume(self) -> list[str]:
        """Start every task a stopped server left unfinished; their ids."""
        with self.store.reading() as db:
            ids = [r[0] for r in db.execute(
                f"SELECT id FROM import_tasks WHERE state IN ({','.join('?' * len(UNFINISHED))})"
                " ORDER BY created_at", UNFINISHED)]  # fmt: skip
        for task_id in ids:
            log.info("resuming import %s", task_id)
            self._start(task_id)
        return ids

    def _start(self, task_id: str) -> None:
        thread = threading.Thread(target=self._run, args=(task_id,), daemon=True,
                                  name=f"feedkit-import-{task_id[:8]}")  # fmt: skip
        self._threads[task_id] = thread
        thread.start()

    def close(self) -> None:
        """Stop the running tasks between two batches (a restart resumes them)."""
        self._stop.set()
        for thread in self._threads.values():
            thread.join(timeout=30)

    def wait(self, task_id: str, timeout: float | None = None) -> None:
        """Until the task's thread ends (tests and the embedded default use it)."""
        thread = self._threads.get(task_id)
        if thread is not None:
            thread.join(timeout)

    def _run(self, task_id: str) -> None:
        with self.store.reading() as db:
            task = self._load(db, task_id)
        assert task is not None
        path = self.folder / task["path"]
        # A big file is read by a worker process too (upserts: it makes activities ready).
        ahead = task["mode"] == "upsert" and task.get("size", 0) >= import_batches.AHEAD_MIN_BYTES
        try:
            with import_batches.reading(path, ahead) as reader:
                if task["state"] in (UPLOADED, ANALYZING):
                    self._analyze(task, reader)
                if task["state"] == IMPORTING:
                    self._import(task, reader)
        except Exception as exc:  # a task never takes the server down; it says why it failed
            if self._stop.is_set():
                return
            log.exception("import %s failed", task_id)
            task["failure"] = f"{type(exc).__name__}: {exc}"
            self._move(task, FAILED)

    def _analyze(self, task: dict[str, Any], reader: import_batches.Reader) -> None:
        """Check every line; a file with no valid line fails here (``analyze_failed``)."""
        if task["state"] != ANALYZING:
            self._move(task, ANALYZING)
        found = reader.analysis(MAX_REPORTED_ERRORS)
        task.update(lines=found.lines, errors=found.errors, error_count=found.invalid,
                    invalid_lines=found.invalid)  # fmt: skip
        self._move(task, IMPORTING if found.valid else ANALYZE_FAILED)

    def _import(self, task: dict[str, Any], reader: import_batches.Reader) -> None:
        """Apply the valid lines from where the task got to, ``BATCH_LINES`` a transaction
        (with the task's progress), each run of one kind together
        (:meth:`Importer.apply_run`)."""
        importer = Importer(self.service, task["mode"])
        # Lines the analysis found valid are not checked again when it found no other.
        checked = task.get("invalid_lines") == 0
        left = task.get("lines", 0) - task["line"]
        deferred = left >= max(DEFER_INDEXES_LINES, self.store.activity_rows())
        with self.store.indexes_deferred() if deferred else contextlib.nullcontext():
            for batch in reader.batches(task["offset"], task["line"], checked):
                if self._stop.is_set():
                    return
                with self.store.transaction() as db:
                    for kind, lines in batch.runs:
                        self._count(task, kind, importer.apply_run(kind, lines))
                    task.update(line=batch.line, offset=batch.offset, updated_at=self.store.tick())
                    self._save(db, task)
        if not self._stop.is_set():
            self._move(task, COMPLETED)

    @staticmethod
    def _count(task: dict[str, Any], kind: str, outcome: Outcome) -> None:
        task["applied"] += outcome.applied
        task["skipped"] += outcome.skipped
        task["error_count"] += len(outcome.refused)
        room = MAX_REPORTED_ERRORS - len(task["errors"])
        task["errors"] += [
            {"line": number, "type": kind, "reason": why} for number, why in outcome.refused[:room]
        ]


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    """Whether two files hold the same bytes."""
    if not b.exists() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


# The ImportTask members of the spec, then feedkit's own (lines, applied, errors, ...).
_SPEC = ("id", "path", "mode", "size", "state", "history", "created_at", "updated_at")
_OWN = ("merge_custom", "lines", "applied", "skipped", "error_count", "errors", "failure")


def _shown(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in (*_SPEC, *_OWN) if k in task}
