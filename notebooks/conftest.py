"""nbval over the tutorials: strict output checks, with notebooks/nbval_sanitize.cfg.

pyproject.toml turns on ``--nbval --nbval-current-env`` and lists this directory in
``testpaths``; this file points nbval at the sanitize file wherever pytest was started from.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from feedkit.progress import PROGRESS_ENV

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config: pytest.Config) -> None:
    # No progress bars in the kernels: one appears only after a second of work, so whether a
    # cell shows one would depend on the machine (the saved outputs are made the same way).
    os.environ[PROGRESS_ENV] = "0"
    if config.getoption("nbval_sanitize_with", None) is None:
        config.option.nbval_sanitize_with = str(SANITIZE)
    # On a fresh machine matplotlib builds its font cache on first import and may say so on
    # stderr, which would be an unexpected output of the kernel's first plotting cell.
    import matplotlib.font_manager  # noqa: F401
