"""Sources for the source tests: rows whose every field says which record it is, and the
check that a source reaches a store exactly."""

from __future__ import annotations

import json
from typing import Any

import feedkit
from feedkit.sources import Source

MAPPING = feedkit.Mapping.build(
    {"id": "{pid}", "type": "post", "user_id": "{who}", "feeds": ["user:{who}"], "text": "{text}"}
)


def rows(start: int, stop: int) -> dict[str, list[Any]]:
    ids = range(start, stop)
    return {
        "pid": [f"p{i}" for i in ids],
        "who": ["ann" if i % 2 else "bob" for i in ids],
        "text": [f"r{i}" for i in ids],
    }


def csv_text(start: int, stop: int, sep: str = ",") -> str:
    data = rows(start, stop)
    lines = [sep.join(data)] + [sep.join(values) for values in zip(*data.values(), strict=True)]
    return "\n".join(lines) + "\n"


def jsonl_text(start: int, stop: int) -> str:
    data = rows(start, stop)
    return "".join(
        json.dumps(dict(zip(data, values, strict=True))) + "\n"
        for values in zip(*data.values(), strict=True)
    )


def stored(client: feedkit.Client) -> dict[str, Any]:
    return {a["id"]: a for a in client.iter_activities(include_expired_activities=True)}


def assert_imported(source: Any, ids: range, **options: Any) -> feedkit.ImportReport:
    """Validate then import ``source``: the store holds exactly the rows ``ids``, field for
    field; returns the import's report."""
    checked = feedkit.validate_source(source, MAPPING, progress=False, **options)
    assert (checked.rows_read, checked.valid, checked.invalid) == (len(ids), len(ids), 0)
    with feedkit.connect(":memory:") as client:
        report = feedkit.import_activities(client, source, MAPPING, progress=False, **options)
        got = stored(client)
    assert report.ok and report.acknowledged == len(ids)
    assert sorted(got) == sorted(f"p{i}" for i in ids)
    for i in ids:
        a = got[f"p{i}"]
        assert a["text"] == f"r{i}" and a["type"] == "post"
        assert a["feeds"] == [f"user:{'ann' if i % 2 else 'bob'}"]
    return report


def drain(source: Source, batch_rows: int) -> tuple[list[int], list[Any]]:
    """Every row index (each batch no larger than ``batch_rows``, each row's text its own)
    and every error."""
    seen, errors = [], []
    for sb in source:
        assert sb.batch.num_rows <= batch_rows
        for row, text in zip(sb.rows.tolist(), sb.batch.column("text").to_pylist(), strict=True):
            assert text == f"r{row}"
        seen += sb.rows.tolist()
        errors += sb.errors
    return seen, errors
