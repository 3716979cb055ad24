"""HTML for notebooks: reports and error tables that read well in JupyterLab's light, dark and
high-contrast themes.

Colours come from JupyterLab's CSS variables (``--jp-ui-font-color1``, ``--jp-success-color1``,
``--jp-error-color1``, ``--jp-border-color2``), each with a fallback for other front ends, so
nothing is hard-coded against one background. Messages are never truncated.

    >>> "var(--jp-error-color1" in verdict_html(False, "incomplete: 2 invalid")
    True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["ERROR_ROWS_SHOWN", "errors_html", "report_html", "verdict_html"]

ERROR_ROWS_SHOWN = 20  # error rows a report shows; the frame (or --errors FILE) has them all

_GOOD = "var(--jp-success-color1, #1a7f37)"
_BAD = "var(--jp-error-color1, #c62828)"
_TEXT = "var(--jp-ui-font-color1, inherit)"
_DIM = "var(--jp-ui-font-color2, inherit)"
_RULE = "var(--jp-border-color2, #ccc)"
_CELL = f"text-align:left;vertical-align:top;padding:2px 8px;border-bottom:1px solid {_RULE}"
# The same palette, for the notebook forms (feedkit.widgets). Text is TEXT_COLOR on any surface
# here, or MUTED_COLOR on the page itself; the *_MARK colours draw borders, never text (a red
# or green that reads on white is too dark on JupyterLab Dark). tests/test_widgets_browser.py
# measures the contrast in the light and the dark theme.
TEXT_COLOR = _TEXT
MUTED_COLOR = _DIM
RULE_COLOR = _RULE
PANEL_COLOR = "var(--jp-layout-color2, #eee)"  # a raised panel: a preview, a changed row
ERROR_PANEL_COLOR = "var(--jp-rendermime-error-background, #fdd)"  # behind an error message
ERROR_MARK = _BAD
OK_MARK = _GOOD
CHANGE_MARK = "var(--jp-warn-color1, #f57c00)"


def verdict_html(ok: bool, verdict: str) -> str:
    color = _GOOD if ok else _BAD
    return f"<b style='color:{color}'>{html.escape(verdict)}</b>"


def errors_html(errors: pd.DataFrame, rows: int = ERROR_ROWS_SHOWN) -> str:
    """The first ``rows`` failures as a table: every message whole, row numbers explained."""
    if not len(errors):
        return ""
    head = "".join(f"<th style='{_CELL}'>{html.escape(str(c))}</th>" for c in errors.columns)
    body = []
    for record in errors.head(rows).itertuples(index=False):
        cells = ("" if pd.isna(v) else str(v) for v in record)
        body.append(
            "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(c)}</td>" for c in cells) + "</tr>"
        )
    more = f", the first {rows} shown" if len(errors) > rows else ""
    caption = (
        f"<caption style='text-align:left;color:{_DIM}'>{len(errors):,} errors{more}; "
        "row 0 is the first data row</caption>"
    )
    return (
        f"<table style='color:{_TEXT};border-collapse:collapse'>{caption}"
        f"<tr>{head}</tr>{''.join(body)}</table>"
    )


def report_html(
    title: str,
    ok: bool,
    verdict: str,
    figures: Sequence[tuple[str, int | str, str]],
    notes: Sequence[str],
    errors: pd.DataFrame,
) -> str:
    """A report: its title and verdict, each figure with its note, the notes, the errors."""
    rows = "".join(
        f"<tr><th style='{_CELL}'>{html.escape(label)}</th>"
        f"<td style='{_CELL};text-align:right'>{_figure(value)}</td>"
        f"<td style='{_CELL};color:{_DIM}'>{html.escape(note)}</td></tr>"
        for label, value, note in figures
    )
    notes_html = "".join(f"<p style='color:{_TEXT}'>{html.escape(n)}</p>" for n in notes)
    return (
        f"<div style='color:{_TEXT}'><p>{html.escape(title)}: {verdict_html(ok, verdict)}</p>"
        f"<table style='border-collapse:collapse'>{rows}</table>{notes_html}"
        f"{errors_html(errors)}</div>"
    )


def _figure(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else html.escape(str(value))
