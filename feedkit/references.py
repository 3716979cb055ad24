"""A migration's reference checks: a row naming an activity, a comment or a feed group that is
neither among the plan's valid rows nor at the destination is refused (``unknown_reference``).

Each step's kept keys are remembered as 64-bit hashes (:class:`~feedkit.keysets.KeySet`: in
memory up to a bound, in a sorted file past it), so the checks' memory stays flat however big
the app; a reference the plan does not hold is
looked up at the destination, a page of keys a request, and remembered once found. A step
whose rows refer to their own kind (replies to comments) first gathers its own valid keys.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feedkit import senders
from feedkit.client import Client
from feedkit.convert import KEY_SEPARATOR, ConvertedBatch
from feedkit.keysets import KeySet
from feedkit.mapping import Mapping, Template, spec_columns
from feedkit.resources import RESOURCES
from feedkit.schema import MAX_PAGE, Reason
from feedkit.sources import RowError

__all__ = ["ObjectMap", "References", "StepCheck"]

FEED_GROUP = "feed_group"
# The kinds other rows name: only their keys are remembered.
REFERRED = frozenset({FEED_GROUP, *(k for r in RESOURCES.values() for k in r.references.values())})


class ObjectMap:
    """Keys to the object each belongs to (a comment's activity), kept in a private SQLite
    file, not in memory: what an import file's reactions on comments need, however many
    comments an app has."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", check_same_thread=False)  # a temporary file
        self._db.execute("CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")

    def add(self, pairs: Iterable[tuple[str, str]]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO m VALUES (?, ?)", pairs)

    def get(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(keys), MAX_PAGE):
            chunk = keys[start : start + MAX_PAGE]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT k, v FROM m WHERE k IN ({marks})", chunk))
        return found


@dataclass
class References:
    """What a migration knows exists: keys of the plan's valid rows by kind, and what it
    found (or created) at the destination. ``client`` None: there is no destination."""

    client: Client | None
    create_feed_groups: bool = False
    dry_run: bool = False
    known: dict[str, KeySet] = field(default_factory=lambda: {k: KeySet() for k in REFERRED})
    created_groups: list[str] = field(default_factory=list)
    # The activity of each of the plan's comments, kept when an import file is written.
    comment_activities: ObjectMap | None = None
    _groups_read: bool = False

    def activities_of(self, comment_ids: list[str]) -> dict[str, str]:
        """The activity of each of these comments: the plan's, else the destination's."""
        found = self.comment_activities.get(comment_ids) if self.comment_activities else {}
        missing = [c for c in comment_ids if c not in found]
        if missing and self.client is not None:
            for start in range(0, len(missing), MAX_PAGE):
                chunk = missing[start : start + MAX_PAGE]
                answer = self.client.query_comments({"id": {"$in": chunk}}, limit=len(chunk))
                found.update((c["id"], c["object_id"]) for c in answer.get("comments") or []
                             if c.get("object_type", "activity") == "activity")  # fmt: skip
        return found

    @property
    def checks_groups(self) -> bool:
        """Feed groups are checked against a destination (or a plan's feed group steps):
        with neither, which groups exist is unknown (a hosted app's are set up apart)."""
        return self.client is not None or len(self.known[FEED_GROUP]) > 0

    def step(self, mapping: Mapping) -> StepCheck:
        return StepCheck(self, mapping)

    def lookup(self, kind: str, keys: list[str]) -> np.ndarray:
        """Which of ``keys`` (of ``kind``) the plan or the destination holds."""
        known = self.known[kind]
        found = known.contains(keys)
        missing = sorted({k for k, f in zip(keys, found.tolist(), strict=True) if not f})
        if missing and self.client is not None:
            there = self._at_destination(kind, missing)
            if there:
                known.add(there)
                known.freeze()
                found |= np.fromiter((k in there for k in keys), dtype=bool, count=len(keys))
        return found

    def _at_destination(self, kind: str, keys: list[str]) -> set[str]:
        assert self.client is not None
        if kind == FEED_GROUP:
            if self._groups_read:
                return set()
            self._groups_read = True  # the groups are few: read them all once
            return set(self.client.list_feed_groups())
        found: set[str] = set()
        for start in range(0, len(keys), MAX_PAGE):
            found |= senders.present(self.client, RESOURCES[kind], keys[start : start + MAX_PAGE])
        return found

    def create_group(self, group: str) -> None:
        if self.client is not None and not self.dry_run:
            self.client.get_or_create_feed_group(group)
        self.created_groups.append(group)
        self.known[FEED_GROUP].add([group])
        self.known[FEED_GROUP].freeze()


class StepCheck:
    """The reference checks of one step: :meth:`gather` sees the valid rows of a first pass
    (the step's own keys, for replies), :meth:`refuse` refuses rows of the import pass."""

    def __init__(self, refs: References, mapping: Mapping) -> None:
        self.refs = refs
        self.mapping = mapping
        self.resource = mapping.resource
        self.own = KeySet()
        self.kept = KeySet()
        self.fields = {
            name: kind
            for name, kind in self.resource.references.items()
            if name in mapping.fields and self._checked(name)
        }

    @property
    def first_pass(self) -> bool:
        """Whether rows refer to their own kind: the step's keys are needed before it sends."""
        return self.resource.kind in self.fields.values()

    def _checked(self, name: str) -> bool:
        # A comment's object_id names an activity unless the mapping says another object type.
        spec = self.mapping.fields.get("object_type")
        return not (
            name == "object_id"
            and spec is not None
            and not (isinstance(spec, Template) and spec.literal == "activity")
        )

    def gather(self, cb: ConvertedBatch) -> None:
        if self.first_pass:
            self.own.add(cb.ids.to_pylist())

    def finish_gathering(self) -> None:
        self.own.freeze()

    def refuse(self, cb: ConvertedBatch) -> list[RowError]:
        """The errors of ``cb``'s rows whose references are unknown; the kept rows' keys
        join what the plan holds once the step ends."""
        errors: list[RowError] = []
        rows = cb.rows.tolist()
        for name, kind in self.fields.items():
            values: list[Any] = cb.refs[name].to_pylist()
            named = [(i, v) for i, v in enumerate(values) if v]
            if not named:
                continue
            keys = [v for _, v in named]
            found = self.refs.lookup(kind, keys)
            if kind == self.resource.kind:
                found |= self.own.contains(keys)
            for (i, value), ok in zip(named, found.tolist(), strict=True):
                if not ok:
                    errors.append(self._error(rows[i], name, kind, value))
        if self.resource.kind == "follow" and self.refs.checks_groups:
            errors += self._unknown_groups(rows, cb.ids.to_pylist())
        if self.resource.kind in REFERRED:
            bad = {e.row for e in errors}
            ids = cb.ids.to_pylist()
            self.kept.add(k for r, k in zip(rows, ids, strict=True) if r not in bad)
            objects = cb.refs.get("object_id") if self.resource.kind == "comment" else None
            if self.refs.comment_activities is not None and objects is not None:
                self.refs.comment_activities.add(
                    (k, o) for r, k, o in zip(rows, ids, objects.to_pylist(), strict=True)
                    if r not in bad and o is not None)  # fmt: skip
        return errors

    def activities_of(self, comment_ids: list[str]) -> dict[str, str]:
        return self.refs.activities_of(comment_ids)

    def _unknown_groups(self, rows: list[int], keys: list[str]) -> list[RowError]:
        pairs = [k.split(KEY_SEPARATOR) for k in keys]
        groups = sorted({feed.split(":", 1)[0] for pair in pairs for feed in pair})
        found = dict(zip(groups, self.refs.lookup(FEED_GROUP, groups).tolist(), strict=True))
        if self.refs.create_feed_groups:
            for group in (g for g, ok in found.items() if not ok):
                self.refs.create_group(group)
            return []
        return [
            self._error(row, name, FEED_GROUP, feed.split(":", 1)[0], feed)
            for row, pair in zip(rows, pairs, strict=True)
            for name, feed in zip(("source", "target"), pair, strict=True)
            if not found[feed.split(":", 1)[0]]
        ]

    def _error(
        self, row: int, name: str, kind: str, key: str, value: str | None = None
    ) -> RowError:
        client = self.refs.client
        where = (
            f"neither among the plan's valid rows nor at {client.destination}"
            if client is not None
            else "not among the plan's valid rows (and there is no destination to look at)"
        )
        what = "feed group" if kind == FEED_GROUP else RESOURCES[kind].kind.replace("_", " ")
        hint = (
            ": add a feed_group step, or set create_feed_groups = true in the plan"
            if kind == FEED_GROUP
            else ""
        )
        return RowError(
            row, ",".join(spec_columns(self.mapping.fields[name])), name,
            Reason.UNKNOWN_REFERENCE.value,
            f"names the {what} {key!r}, which is {where}{hint}",
            value if value is not None else key,
        )  # fmt: skip

    def finish(self) -> None:
        """The step ended: its kept keys are the plan's from now on."""
        known = self.refs.known.get(self.resource.kind)
        if known is not None:
            known.update(self.kept)
