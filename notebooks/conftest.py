"""nbval over the tutorials: strict output checks, with notebooks/nbval_sanitize.cfg.

pyproject.toml turns on ``--nbval --nbval-current-env`` and lists this directory in
``testpaths``; this file points nbval at the sanitize file wherever pytest was started from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("nbval_sanitize_with", None) is None:
        config.option.nbval_sanitize_with = str(SANITIZE)
    # On a fresh machine matplotlib builds its font cache on first import and may say so on
    # stderr, which would be an unexpected output of the kernel's first plotting cell.
    import matplotlib.font_manager  # noqa: F401
