"""A whole app in one run: every step of a :class:`~feedkit.plan.Plan` imported in dependency
order, references checked across steps, one report per step and a total.

``migrate(client, plan, checkpoint="ck/")`` keeps one journal per step in the checkpoint
folder (``ck/comment.comments.csv.journal``), so the same call after an interruption resumes
every step exactly: steps already done are re-read and skip what their journal holds as
acknowledged (:mod:`feedkit.checkpoint`); nothing is sent twice and nothing skipped. A dry run
(``dry_run=True``, ``client`` may be None) validates every step, references included, and sends
nothing.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any

from feedkit.bulk import ImportInterrupted, ImportOptions, ImportReport, import_rows
from feedkit.client import Client
from feedkit.display import report_html
from feedkit.importfile import ImportFileWriter, import_file
from feedkit.plan import Plan, Step
from feedkit.references import ObjectMap, References

__all__ = ["MigrationInterrupted", "MigrationReport", "migrate"]

_TOTALS = ("rows_read", "valid", "invalid", "duplicates", "skipped", "sent", "acknowledged",
           "failed")  # fmt: skip


@dataclass
class MigrationReport:
    """Each step's :class:`~feedkit.bulk.ImportReport`, in the order the steps ran."""

    steps: list[tuple[Step, ImportReport]] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.ok for _, r in self.steps)

    def total(self, figure: str) -> int:
        return sum(int(getattr(r, figure)) for _, r in self.steps)

    @property
    def verdict(self) -> str:
        if self.interrupted:
            return "interrupted: run the same migration with the same checkpoint to resume"
        if self.ok:
            return "dry run: every row is valid" if self.dry_run else "complete"
        bad = [f"{s.kind} {s.name!r}: {r.verdict.removeprefix('incomplete: ')}"
               for s, r in self.steps if not r.ok]  # fmt: skip
        return "incomplete: " + "; ".join(bad)

    def figures(self) -> list[tuple[str, int | str, str]]:
        """The total over every step, figure by figure (as an import's report)."""
        shown = _TOTALS[:5] if self.dry_run else _TOTALS
        rows = self.total("rows_read")
        rate = f"{rows / self.duration:,.0f} rows/s" if self.duration > 0 else ""
        return [
            *((name.replace("_", " "), self.total(name), "") for name in shown),
            ("duration", f"{self.duration:.2f} s", rate),
        ]

    def table(self) -> list[dict[str, Any]]:
        """One row per step: its kind, name and figures (a DataFrame's records)."""
        return [
            {"kind": s.kind, "step": s.name, **{k: getattr(r, k) for k in _TOTALS},
             "ok": r.ok}
            for s, r in self.steps
        ]  # fmt: skip

    def summary(self) -> str:
        mode = " (dry run: nothing sent)" if self.dry_run else ""
        lines = [f"migration of {len(self.steps)} steps{mode}: {self.verdict}"]
        lines += [f"  {s.kind:<10} {s.name:<24} {r.verdict}" for s, r in self.steps]
        for label, value, note in self.figures():  # as an import's report shows them
            shown = f"{value:>10,}" if isinstance(value, int) else f"{value:>12}"
            lines.append(f"  {label:<13} {shown}" + (f"  ({note})" if note else ""))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        parts = [r._repr_html_() for _, r in self.steps]
        total = report_html("Migration, all steps", self.ok, self.verdict, self.figures(),
                            self.notes, ImportReport(source="").errors)  # fmt: skip
        return "".join(parts) + total


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a migration; ``report`` holds the steps done and the one interrupted."""

    def __init__(self, report: MigrationReport) -> None:
        super().__init__("migration interrupted")
        self.report = report


def migrate(
    client: Client | None,
    plan: Plan | str | PathLike[str],
    *,
    checkpoint: str | PathLike[str] | None = None,
    errors: str | PathLike[str] | None = None,
    dry_run: bool = False,
    to_jsonl: str | PathLike[str] | None = None,
    via: str = "api",
    **options: Any,
) -> MigrationReport:
    """Run every step of ``plan`` (a :class:`Plan` or a plan file) into ``client``.

    ``checkpoint`` is a folder holding one journal per step; ``errors`` a folder receiving
    one CSV of failures per step. ``to_jsonl`` writes the whole app as one bulk import file
    instead (``client`` None: references are checked against the plan alone), every step's
    lines in dependency order. ``via="import"`` sends the whole app as one such file through
    the vendor's import pipeline; ``via="auto"`` lets each step choose (the pipeline for a big
    step of reactions or bookmarks, which the API stores a request a row:
    :func:`feedkit.bulk.pipeline_wanted`). ``options`` are
    :class:`~feedkit.bulk.ImportOptions` fields (``concurrency``, ``batch_size``,
    ``progress``, ...), for every step.
    """
    if not isinstance(plan, Plan):
        plan = Plan.from_toml(plan)
    if via not in ("api", "import", "auto"):
        raise ValueError(f"via must be 'api', 'import' or 'auto', not {via!r}")
    if via == "import" and client is not None and not dry_run:
        return _through_pipeline(client, plan, checkpoint, errors, options)
    allowed = {f.name for f in fields(ImportOptions)} - {
        "checkpoint",
        "errors_path",
        "dry_run",
        "label",
    }
    unknown = set(options) - allowed
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; options: {sorted(allowed)}")
    if to_jsonl is not None and (client is not None or dry_run or checkpoint is not None):
        raise ValueError("to_jsonl writes a file: no client, dry run or checkpoint with it")
    if client is None and not dry_run and to_jsonl is None:
        raise ValueError("a client is needed to send; pass dry_run=True to only validate")
    for folder in (checkpoint if not dry_run else None, errors):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
    refs = References(client, plan.create_feed_groups, dry_run)
    if to_jsonl is not None:  # a reaction's line names its comment's activity
        refs.comment_activities = ObjectMap()
    report = MigrationReport(dry_run=dry_run)
    if not refs.checks_groups and any(s.kind == "follow" for s in plan.steps):
        report.notes.append("the follows' feed groups were not checked: there is no "
                            "destination and no feed_group step to check them against")  # fmt: skip
    with ExitStack() as stack:
        sink = stack.enter_context(import_file(to_jsonl)) if to_jsonl is not None else None
        _run(client, plan, refs, report, checkpoint, errors, dry_run, sink,
             {**options, "via": via} if via == "auto" else options)  # fmt: skip
        if sink is not None:
            lines = ", ".join(f"{n:,} {kind}" for kind, n in sink.lines.items())
            report.notes.append(f"wrote {to_jsonl}: {lines} lines")
    return report


def _run(
    client: Client | None,
    plan: Plan,
    refs: References,
    report: MigrationReport,
    checkpoint: str | PathLike[str] | None,
    errors: str | PathLike[str] | None,
    dry_run: bool,
    sink: ImportFileWriter | None,
    options: dict[str, Any],
) -> None:
    started = time.perf_counter()
    try:
        for step in plan.steps:
            check = refs.step(step.mapping)
            journal = Path(checkpoint) / f"{step.slug}.journal" if checkpoint else None
            errors_csv = Path(errors) / f"{step.slug}.errors.csv" if errors else None
            try:
                result = import_rows(client, step.source, step.mapping, check=check,
                                     dry_run=dry_run, checkpoint=journal, errors_path=errors_csv,
                                     sink=sink, label=f"{step.kind} {step.name}: ",
                                     **options)  # fmt: skip
            except ImportInterrupted as exc:
                report.steps.append((step, exc.report))
                report.interrupted = True
                raise MigrationInterrupted(report) from None
            check.finish()
            report.steps.append((step, result))
    finally:
        report.duration = time.perf_counter() - started
        if refs.created_groups:
            done = "would be created" if dry_run else "were created"
            report.notes.append(f"feed groups {', '.join(sorted(set(refs.created_groups)))} "
                                f"{done} for the follows (create_feed_groups = true)")  # fmt: skip


def _through_pipeline(
    client: Client,
    plan: Plan,
    checkpoint: str | PathLike[str] | None,
    errors: str | PathLike[str] | None,
    options: dict[str, Any],
) -> MigrationReport:
    """The whole app as one import file (references checked against the plan and the
    destination), uploaded and imported: :mod:`feedkit.pipeline`. The file and the record of
    its upload and task are kept in ``checkpoint`` (a rerun resumes), else in a temporary
    folder."""
    from feedkit.pipeline import run_pipeline, users_at, users_note

    def write(path: Path) -> MigrationReport:
        written = MigrationReport()
        refs = References(client, plan.create_feed_groups, dry_run=True,  # checks, no writes
                          comment_activities=ObjectMap())  # fmt: skip
        with import_file(path, users_at(client, path)) as sink:
            _run(None, plan, refs, written, None, errors, False, sink, options)
        written.notes += users_note(sink)
        return written

    started = time.perf_counter()
    kept = Path(checkpoint) / "app.jsonl" if checkpoint is not None else None
    report, run = run_pipeline(client, write, kept, progress=options.get("progress", True))
    for _, step in report.steps:
        step.task = run.task
        step.acknowledged = step.valid if run.ok else 0
    report.duration = time.perf_counter() - started
    report.notes += run.notes
    history = " -> ".join(h["next_state"] for h in run.task.get("history") or [])
    report.notes.append(f"import task {run.task.get('id')}: {run.state} ({history}); "
                        f"{run.task.get('error_count', 0)} line errors")  # fmt: skip
    return report
