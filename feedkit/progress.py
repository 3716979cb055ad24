"""Progress bars: one look for every pass feedkit makes over rows or pages.

A tqdm bar (a widget in notebooks) shown only once the work has taken more than
``PROGRESS_DELAY_S`` (a tiny query shows none), with a total wherever one can be known (a
source's rows, the rows an earlier pass counted, else a CSV file's bytes), counts written out
with separators, and its figures before the rate and times, so a narrow terminal trims those
first.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["PROGRESS_DELAY_S", "PROGRESS_ENV", "Progress", "amount", "bars_enabled", "counter"]

PROGRESS_DELAY_S = 1.0  # seconds of work before a bar appears
# FEEDKIT_PROGRESS=0 turns every bar off (CI logs, the tutorials under nbval: a bar that
# shows only after a second would make their outputs depend on the machine's speed).
PROGRESS_ENV = "FEEDKIT_PROGRESS"


def bars_enabled(asked: bool) -> bool:
    """Whether a bar the caller asked for is shown: not where FEEDKIT_PROGRESS=0."""
    return asked and os.environ.get(PROGRESS_ENV, "1").strip() not in ("0", "false", "no")


# A progress bar's line: the figures before the rate and times (a narrow terminal trims the
# end of the line); without a total, no percentage, bar or time left.
BAR_FORMAT = (
    "{desc} {percentage:3.0f}%|{bar}| {done}/{whole}{postfix} [{elapsed}<{remaining}, {rate_fmt}]"
)
BAR_FORMAT_OPEN = "{desc} {done}{postfix} [{elapsed}, {rate_fmt}]"


def amount(n: float | None, by_bytes: bool) -> str:
    """A count as a bar shows it: rows with thousands separators, bytes in KiB, MiB, GiB."""
    if n is None:
        return "?"
    if not by_bytes:
        return f"{int(n):,}"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _bar(by_bytes: bool, **options: Any) -> Any:
    from tqdm.auto import tqdm

    class _Bar(tqdm):  # type: ignore[misc]
        @property
        def format_dict(self) -> dict[str, Any]:
            found: dict[str, Any] = super().format_dict
            found.update(done=amount(found["n"], by_bytes), whole=amount(found["total"], by_bytes))
            return found

    options["disable"] = not bars_enabled(not options.get("disable", False))
    return _Bar(delay=PROGRESS_DELAY_S, dynamic_ncols=True, **options)


def counter(enabled: bool, desc: str, unit: str = "activities") -> Any:
    """A bar of a count with no total known beforehand (the pages of an export)."""
    return _bar(False, desc=desc, unit=f" {unit}", unit_scale=True, disable=not enabled,
                bar_format=BAR_FORMAT_OPEN)  # fmt: skip


class Progress:
    """A tqdm bar (a widget in notebooks) of a pass over a source, with a total wherever one
    can be known: the source's rows, the rows an earlier pass counted, or else the file's
    bytes (a CSV file). Its figures come before the rate and times, so a narrow terminal
    trims those first."""

    def __init__(
        self, enabled: bool, source: Any, desc: str, rows_total: int | None = None
    ) -> None:
        rows_total = source.total_rows if rows_total is None else rows_total
        self.source = source
        self.by_bytes = rows_total is None and source.size is not None
        self._at = 0
        unit = {"unit": "B", "unit_divisor": 1024} if self.by_bytes else {"unit": " rows"}
        self.bar = _bar(
            self.by_bytes,
            total=source.size if self.by_bytes else rows_total, desc=desc, disable=not enabled,
            unit_scale=True, **unit,
            bar_format=BAR_FORMAT if self.by_bytes or rows_total is not None else BAR_FORMAT_OPEN,
        )  # fmt: skip

    def advance(self, rows: int, stats: dict[str, int] | None = None) -> None:
        if self.by_bytes:
            at = self.source.position()
            self.bar.update(at - self._at)
            self._at = at
        elif rows:
            self.bar.update(rows)
        if stats:
            self.bar.set_postfix_str(", ".join(f"{k} {v:,}" for k, v in stats.items()), False)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
