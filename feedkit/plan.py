"""A migration plan: the steps that move a whole app, each a source and the mapping of its kind.

A plan is a TOML file (or a dict) of ``[[step]]`` tables; paths are relative to the plan's
folder, and a mapping is a path or an inline table::

    create_feed_groups = false  # true: a follow's unknown feed group is created, not refused

    [[step]]
    source = "users.csv"
    mapping = "users.toml"

    [[step]]
    name = "posts"              # optional: names the step's journal and errors file
    source = "posts.parquet"
    mapping = { activity = { id = "{post_id}", type = "post", feeds = ["user:{author}"] } }

Steps run in dependency order (:func:`feedkit.resources.in_dependency_order`), whatever order
the plan lists them in; steps of one kind keep the plan's order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from feedkit.errors import UsageError
from feedkit.mapping import Mapping
from feedkit.resources import Resource, in_dependency_order

__all__ = ["Plan", "PlanError", "Step"]

_PLAN_KEYS = {"step", "create_feed_groups"}
_STEP_KEYS = {"source", "mapping", "name"}


class PlanError(UsageError):
    """A plan that cannot run as written: the message names the step and the key."""


@dataclass(frozen=True)
class Step:
    """One step: rows of ``source`` read as ``mapping``'s kind."""

    name: str  # unique in its plan: names the step's journal and errors file
    source: Any  # a path, or anything import_rows reads (a DataFrame, an Arrow table...)
    mapping: Mapping

    @property
    def kind(self) -> str:
        return self.mapping.kind

    @property
    def resource(self) -> Resource:
        return self.mapping.resource

    @property
    def slug(self) -> str:
        """The step's name as a file name: ``user.users-csv``."""
        return f"{self.kind}.{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.name).strip('-.')}"


@dataclass(frozen=True)
class Plan:
    """Steps in the order they run, and what a migration does with unknown feed groups."""

    steps: tuple[Step, ...]
    create_feed_groups: bool = False

    def __post_init__(self) -> None:
        ordered = tuple(in_dependency_order_steps(self.steps))
        object.__setattr__(self, "steps", ordered)
        seen: dict[str, Step] = {}
        for step in ordered:
            if step.slug in seen:
                raise PlanError(
                    f"two {step.kind} steps are named {step.name!r}: give one a `name = ...`"
                )
            seen[step.slug] = step

    @classmethod
    def from_toml(cls, path: str | PathLike[str]) -> Plan:
        """Read a plan file; its steps' paths are relative to its folder."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise PlanError(f"no plan file {str(path)!r}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(f"{path}: not valid TOML: {exc}") from None
        return cls.from_dict(data, base=path.parent, where=str(path))

    @classmethod
    def from_dict(
        cls, data: AnyMapping[str, Any], base: str | PathLike[str] = ".", where: str = "plan"
    ) -> Plan:
        """A plan from its TOML's tables; a step's source may also be a DataFrame or table."""
        unknown = set(data) - _PLAN_KEYS
        if unknown:
            raise PlanError(f"{where}: unknown key(s) {sorted(unknown)}; a plan has "
                            f"{sorted(_PLAN_KEYS)}")  # fmt: skip
        steps = data.get("step")
        if not isinstance(steps, list) or not steps:
            raise PlanError(f"{where}: no steps: add [[step]] tables with a source and a mapping")
        create = data.get("create_feed_groups", False)
        if not isinstance(create, bool):
            raise PlanError(f"{where}: create_feed_groups must be true or false")
        folder = Path(base)
        return cls(tuple(_step(s, i, folder, where) for i, s in enumerate(steps, 1)), create)

    def __repr__(self) -> str:
        steps = ", ".join(f"{s.kind} {s.name!r}" for s in self.steps)
        return f"Plan([{steps}])"


def in_dependency_order_steps(steps: tuple[Step, ...]) -> list[Step]:
    by_resource = in_dependency_order({s.resource.kind: s.resource for s in steps}.values())
    rank = {r.kind: i for i, r in enumerate(by_resource)}
    return sorted(steps, key=lambda s: rank[s.kind])  # stable: a kind keeps the plan's order


def _step(data: Any, number: int, folder: Path, where: str) -> Step:
    here = f"{where}, step {number}"
    if not isinstance(data, AnyMapping):
        raise PlanError(f"{here}: a step is a table with a source and a mapping")
    unknown = set(data) - _STEP_KEYS
    if unknown:
        raise PlanError(f"{here}: unknown key(s) {sorted(unknown)}; a step has "
                        f"{sorted(_STEP_KEYS)}")  # fmt: skip
    if "source" not in data or "mapping" not in data:
        raise PlanError(f"{here}: a step needs a source and a mapping")
    source = data["source"]
    if isinstance(source, (str, PathLike)):
        source = _path(folder, source)
    named = str(source).rstrip("/").rsplit("/", 1)[-1] if isinstance(source, (str, Path)) else None
    raw = data["mapping"]
    try:
        if isinstance(raw, (str, PathLike)):
            mapping = Mapping.from_toml(Path(_path(folder, raw)))
        elif isinstance(raw, Mapping):
            mapping = raw
        elif isinstance(raw, AnyMapping):
            mapping = Mapping.from_dict(dict(raw))
        else:
            raise PlanError(f"{here}: mapping is a path or an inline table, not {raw!r}")
    except FileNotFoundError as exc:
        raise PlanError(f"{here}: no mapping file {exc.filename!r}") from None
    except UsageError as exc:
        if isinstance(exc, PlanError):
            raise
        raise PlanError(f"{here}: {exc}") from None
    name = data.get("name") or named
    if not isinstance(name, str) or not name:
        raise PlanError(f"{here}: a source that is not a file needs a `name`")
    return Step(name, source, mapping)


def _path(folder: Path, value: str | PathLike[str]) -> Path | str:
    """A file relative to the plan's folder; a URL (s3://...) as it is."""
    if "://" in str(value):
        return str(value)
    path = Path(value).expanduser()
    return path if path.is_absolute() else folder / path
