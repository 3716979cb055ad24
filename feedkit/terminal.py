"""What the ``feedkit`` command prints, through rich: reports and error tables that fit the
terminal's width, messages wrapped rather than cut, colour only where it helps.

Colour goes to a terminal only: piped output, ``NO_COLOR`` and ``TERM=dumb`` get plain, stable
text for scripts (rich's own rules). Width is the terminal's, or ``COLUMNS``, or 80.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from feedkit.display import ERROR_ROWS_SHOWN

__all__ = ["console", "print_errors", "print_failure", "print_report"]

MAX_VALUE_CHARS = 40  # a bad value is shown up to this long; the message is never cut
_GOOD, _BAD, _DIM = "green", "bold red", "dim"


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) with feedkit's rules: no syntax highlighting of
    numbers and paths, no emoji codes, wrapping at the terminal's width."""
    return Console(stderr=stderr, highlight=False, emoji=False, soft_wrap=False)


def print_report(
    out: Console,
    title: str,
    ok: bool,
    verdict: str,
    figures: Sequence[tuple[str, int | str, str]],
    notes: Sequence[str] = (),
) -> None:
    """A report: a title, its verdict in colour, then each figure with its note."""
    out.print(Text.assemble((title, "bold"), ": ", (verdict, _GOOD if ok else _BAD)))
    shown = [
        (label, f"{v:,}" if isinstance(v, int) else str(v), note) for label, v, note in figures
    ]
    label_width = max((len(label) for label, _, _ in shown), default=0)
    value_width = max((len(value) for _, value, _ in shown), default=0)
    for label, value, note in shown:
        line = Text(f"  {label:<{label_width}}  {value:>{value_width}}")
        if note:
            line.append(f"  {note}", style=_DIM)
        out.print(line)
    for note in notes:
        out.print(Text(f"  note: {note}", style=_DIM))


def _clip(value: object) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def print_errors(
    out: Console,
    errors: pd.DataFrame,
    *,
    total: int | None = None,
    errors_path: str | os.PathLike[str] | None = None,
    rows: int = ERROR_ROWS_SHOWN,
) -> None:
    """The first ``rows`` failures as a table that fits the console: row, field, column,
    then the code and the message wrapped whole, the value clipped below it; then where the
    rest are."""
    if not len(errors):
        return
    total = len(errors) if total is None else total
    out.print()
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        caption="row 0 is the first data row",
        caption_justify="left",
        caption_style=_DIM,
    )
    table.add_column("row", justify="right", no_wrap=True)
    table.add_column("field", overflow="fold", max_width=20)
    table.add_column("column", overflow="fold", max_width=14)
    table.add_column("problem", overflow="fold", min_width=24)
    for rec in errors.head(rows).itertuples(index=False):
        row = "" if pd.isna(rec.row) else f"{int(rec.row):,}"
        problem = Text.assemble((str(rec.code), "yellow"), " ", str(rec.message))
        value = _clip(rec.value)
        if value:
            problem.append(f"\nvalue: {value}", style=_DIM)
        table.add_row(row, _clip(rec.field), _clip(rec.column), problem)
    out.print(table)
    if errors_path is not None:
        out.print(f"all {total:,} errors written to {os.fspath(errors_path)}", soft_wrap=True)
    elif total > rows:
        out.print(f"... and {total - rows:,} more: write them all with --errors FILE")


def print_failure(out: Console, message: str) -> None:
    """A user error: one line, ``Error:`` in colour where colour goes."""
    out.print(Text.assemble(("Error", _BAD), ": ", message), soft_wrap=True)
