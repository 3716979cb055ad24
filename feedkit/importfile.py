"""The vendor's bulk import file: JSON lines that keep history (``created_at``).

Each line is ``{"type": "user" | "activity", "data": {...}}``. Activities name their feeds
``fids``, need a ``user_id``, carry ISO 8601 times (``created_at`` included, which the API
cannot set) and https attachment URLs; every user an activity names gets one ``user`` line
before its first activity. :func:`write_import_file` streams a source through a mapping into
such a file; rows it cannot write are reported like any conversion error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from feedkit.convert import ERROR_COLUMNS, convert, errors_frame, invalid_rows
from feedkit.files import replacing
from feedkit.mapping import Mapping as ActivityMapping
from feedkit.results import request_fields
from feedkit.schema import Reason, format_time
from feedkit.sources import RowError

__all__ = ["ImportFile", "activity_line", "exported_lines", "write_import_file"]

USER_ID = re.compile(r"^[@A-Za-z0-9_-]*\Z")  # the import format's user id pattern (ASCII \w)
URL_FIELDS = ("asset_url", "image_url", "thumb_url")


@dataclass
class ImportFile:
    """What :func:`write_import_file` wrote, and every row it could not."""

    path: str
    rows_read: int = 0
    activities: int = 0
    users: int = 0
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))

    @property
    def invalid(self) -> int:
        return invalid_rows(self.errors)

    def summary(self) -> str:
        return (
            f"wrote {self.path}: {self.activities:,} activities and {self.users:,} users "
            f"from {self.rows_read:,} rows ({self.invalid:,} invalid)"
        )


def _problems(data: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field, code, message) of what the import format refuses beyond the schema."""
    out = []
    user = data.get("user_id")
    if not user:
        out.append(("user_id", Reason.REQUIRED.value, "is required in an import file"))
    elif not USER_ID.match(user):
        out.append(
            (
                "user_id",
                Reason.FORMAT.value,
                "an import file's user ids use only letters, digits, _, - and @",
            )
        )
    for i, attachment in enumerate(data.get("attachments") or []):
        for key in URL_FIELDS:
            url = attachment.get(key)
            if url is not None and not str(url).startswith("https://"):
                out.append(
                    (
                        f"attachments[{i}].{key}",
                        Reason.FORMAT.value,
                        "must be an https:// URL in an import file",
                    )
                )
    return out


def activity_line(activity: Mapping[str, Any]) -> dict[str, Any]:
    """The import line of an activity, from request-side fields (``feeds`` -> ``fids``)."""
    data = {k: v for k, v in activity.items() if v is not None}
    data["fids"] = data.pop("feeds")
    return {"type": "activity", "data": data}


def write_import_file(
    source: Any, mapping: ActivityMapping, path: str | os.PathLike[str], *, batch_rows: int = 10_000
) -> ImportFile:
    """Convert ``source`` with ``mapping`` into a bulk import file at ``path``."""
    report = ImportFile(str(path))
    errors: list[RowError] = []
    users: set[str] = set()
    _, batches = convert(source, mapping, batch_rows=batch_rows, history=True)
    with replacing(path) as (part,), open(part, "wb") as out:
        for cb in batches:
            report.rows_read += cb.rows_read
            errors += cb.errors
            for row, text in zip(cb.rows.tolist(), cb.json.to_pylist(), strict=True):
                data = orjson.loads(text)
                problems = _problems(data)
                if problems:
                    errors += [RowError(row, "", f, c, m, data.get(f)) for f, c, m in problems]
                    continue
                if data["user_id"] not in users:
                    users.add(data["user_id"])
                    out.write(
                        orjson.dumps({"type": "user", "data": {"id": data["user_id"]}}) + b"\n"
                    )
                out.write(orjson.dumps(activity_line(data)) + b"\n")
                report.activities += 1
    report.users = len(users)
    report.errors = errors_frame(errors)
    return report


def exported_lines(activities: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """Import lines from activities as the API returns them (user lines first seen)."""
    users: set[str] = set()
    for a in activities:
        user = (a.get("user") or {}).get("id")
        if user and user not in users:
            users.add(user)
            yield {"type": "user", "data": {"id": user}}
        data = request_fields(a)
        for key in ("created_at", "updated_at", "expires_at", "edited_at", "deleted_at"):
            if a.get(key) is not None:
                data[key] = format_time(int(a[key]))
        yield activity_line(data)
