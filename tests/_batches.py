"""What the tests of the server's batch writes (follows, comments) share: a bad item refuses a
whole batch with the answer it gets alone, and the rows a store file holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from feedkit.server.problems import Problem


def refused_as_alone(
    refuse: Callable[[list[Any]], Problem], items: str, good: Any, bad: Any
) -> None:
    """``refuse`` sends a batch and returns its refusal: ``bad`` between two ``good`` items is
    refused as ``bad`` alone is, named by its own index (``items[1]`` for ``items[0]``)."""
    batch, alone = refuse([good, bad, good]), refuse([bad])

    def shift(text: str) -> str:
        return text.replace(f"{items}[1]", f"{items}[0]")

    assert (batch.status, batch.code, shift(batch.message)) == (
        alone.status, alone.code, alone.message)  # fmt: skip
    assert {shift(k): v for k, v in batch.fields.items()} == alone.fields


def stored(path: str, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows each named query reads from the store file at ``path``."""
    db = sqlite3.connect(path)
    try:
        return {name: db.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        db.close()
