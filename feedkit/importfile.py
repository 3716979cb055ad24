"""The vendor's bulk import file: JSON lines of every kind, keeping history (``created_at``).

Each line is ``{"type": KIND, "data": {...}}`` (``tests/reference/import-schemas``). The data
are written by the converter's Arrow kernels in the format's own names (an activity's feeds
are ``fids``, a follow's ``source_fid``/``target_fid``, a comment's text ``text``...), with its
defaults and checks (user ids of letters, digits, ``_``, ``-`` and ``@``; https attachment
URLs; an activity's ``user_id``): see :class:`feedkit.resources.Resource`. Every user a line
names gets a ``user`` line before it, unless a user line came earlier (a migration writes its
users first) or the destination has the user already (a file bound for an app is written
knowing it: a line naming a user and nothing more might replace the user whole there).
:func:`write_import_file` writes one source; ``feedkit.migrate(None, plan, to_jsonl=PATH)``
a whole app, kinds in the order the importer needs (users and feed groups
first, replies after their parents). Rows it cannot write are reported like any error.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from feedkit.arrowjson import escape
from feedkit.convert import ERROR_COLUMNS, invalid_rows, line_ends
from feedkit.files import replacing
from feedkit.mapping import Mapping as RowMapping
from feedkit.results import request_fields
from feedkit.schema import MAX_PAGE, format_time

__all__ = ["ImportFile", "ImportFileWriter", "activity_line", "bare_users", "exported_lines",
           "import_file", "write_import_file"]  # fmt: skip


@dataclass
class ImportFile:
    """What :func:`write_import_file` wrote (lines by type), and every row it could not."""

    path: str
    rows_read: int = 0
    lines: dict[str, int] = field(default_factory=dict)
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ERROR_COLUMNS))

    @property
    def activities(self) -> int:
        return self.lines.get("activity", 0)

    @property
    def users(self) -> int:
        return self.lines.get("user", 0)

    @property
    def invalid(self) -> int:
        return invalid_rows(self.errors)

    def summary(self) -> str:
        counts = " and ".join(f"{n:,} {kind} lines" for kind, n in self.lines.items()) or "no lines"
        return (
            f"wrote {self.path}: {counts} from {self.rows_read:,} rows ({self.invalid:,} invalid)"
        )


def _buffer(lines: pa.Array) -> memoryview:
    """The text of all these lines, as it lies in the array's data buffer (no copy)."""
    if not len(lines):
        return memoryview(b"")
    assert not lines.null_count, "every valid row has its line"
    wide = pa.types.is_large_string(lines.type)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64 if wide else np.int32)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return memoryview(lines.buffers()[2])[first:last]


Present = Callable[[list[str]], set[str]]  # which of these users the destination has


class ImportFileWriter:
    """One import file being written, kind after kind (a :class:`feedkit.bulk.Sink`).
    ``present`` asks the destination which users it has (:data:`MAX_PAGE` at a time): those
    get no line of their own."""

    def __init__(self, out: IO[bytes], present: Present | None = None) -> None:
        self.out = out
        self.present = present
        self.users: set[str] = set()  # users that have a line, or are at the destination
        self.users_present = 0  # users named that the destination has: no line written
        self.lines: Counter[str] = Counter()

    def write(self, kind: str, lines: pa.Array, keys: pa.Array, refs: dict[str, pa.Array]) -> int:
        if kind == "user":
            self.users.update(keys.to_pylist())
        named = refs.get("user_id")
        if named is not None:
            distinct = pc.unique(named.drop_null()).to_pylist()
            if not self.users.issuperset(distinct):  # (mostly every user has a line already)
                new = [u for u in distinct if u not in self.users]
                self.users.update(new)
                new = self._absent(new)
                if new:
                    self._write("user", self._bare(new))
        self._write(kind, lines)
        return len(lines)

    @staticmethod
    def _bare(users: list[str]) -> pa.Array:
        """The lines of users named by their id alone."""
        before, after = line_ends("user")
        ids = escape(pa.array(users, pa.string()))
        return pc.binary_join_element_wise(before + '{"id":"', ids, '"}' + after, "")

    def _absent(self, users: list[str]) -> list[str]:
        """Those of ``users`` the destination does not have (all, with no destination)."""
        if self.present is None:
            return users
        found: set[str] = set()
        for start in range(0, len(users), MAX_PAGE):
            found |= self.present(users[start : start + MAX_PAGE])
        self.users_present += len(found)
        return [u for u in users if u not in found]

    def _write(self, kind: str, lines: pa.Array) -> None:
        self.out.write(_buffer(lines))
        self.lines[kind] += len(lines)


def bare_users(path: str | os.PathLike[str]) -> set[str]:
    """The users an import file at ``path`` names by their id alone (none if it is not
    there): the lines :class:`ImportFileWriter` writes for users it only names."""
    start = line_ends("user")[0].encode() + b'{"id":"'
    users: set[str] = set()
    try:
        with open(path, "rb") as f:
            for raw in f:
                if raw.startswith(start):
                    data = orjson.loads(raw)["data"]
                    if set(data) == {"id"}:
                        users.add(data["id"])
    except FileNotFoundError:
        pass
    return users


@contextmanager
def import_file(
    path: str | os.PathLike[str], present: Present | None = None
) -> Iterator[ImportFileWriter]:
    """An :class:`ImportFileWriter` at ``path``, there only once every line is written (an
    error half way leaves nothing behind)."""
    with replacing(path) as (part,), open(part, "wb") as out:
        yield ImportFileWriter(out, present)


def activity_line(activity: Mapping[str, Any]) -> dict[str, Any]:
    """The import line of an activity, from request-side fields (``feeds`` -> ``fids``)."""
    data = {k: v for k, v in activity.items() if v is not None}
    data["fids"] = data.pop("feeds")
    return {"type": "activity", "data": data}


def write_import_file(
    source: Any,
    mapping: RowMapping,
    path: str | os.PathLike[str],
    *,
    batch_rows: int = 10_000,
    progress: bool = False,
) -> ImportFile:
    """Convert ``source`` with ``mapping`` (of any kind) into a bulk import file at ``path``:
    duplicates resolved as an import would (the last row of a key wins), replies after their
    parents, every row the format refuses reported."""
    from feedkit.bulk import import_rows

    with import_file(path) as writer:
        report = import_rows(None, source, mapping, sink=writer, read_rows=batch_rows,
                             progress=progress)  # fmt: skip
    return ImportFile(str(path), report.rows_read, dict(writer.lines), report.errors)


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
