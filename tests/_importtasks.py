"""Import tasks run to their end through a client: the helpers the import tests share."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

import feedkit
from feedkit.client import Client

PLAN = Path(__file__).resolve().parent.parent / "data" / "app" / "plan.toml"
DONE = ("completed", "failed", "analyze_failed")
TIMEOUT_S = 120.0


def app_import_file(folder: Path) -> Path:
    """data/app's whole app as one import file in ``folder``."""
    path = folder / "app.jsonl"
    feedkit.migrate(None, PLAN, to_jsonl=path)
    return path


def wait(client: Client, task_id: str) -> dict[str, Any]:
    end = time.monotonic() + TIMEOUT_S
    while time.monotonic() < end:
        task = client.get_import(task_id)
        if task["state"] in DONE:
            return task
        time.sleep(0.05)
    raise AssertionError(f"import {task_id} did not finish: {task}")


def run_import(client: Client, path: Path, mode: str = "upsert") -> dict[str, Any]:
    url = client.create_import_url(path.name)
    client.upload_import_file(url["upload_url"], path)
    return wait(client, client.create_import(url["path"], mode=mode)["id"])


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    return path
