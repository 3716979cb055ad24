"""The tutorials as saved: outputs of one clean run, plots as images, linked from the README.

nbval (``--nbval``, see pyproject.toml) runs every notebook and compares each output with the
saved one. It cannot see what this file checks: that the saved outputs come from a single
top-to-bottom run without errors, that plots were saved as PNG images (nbval skips comparing
images), and that the README sends readers to every notebook.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(path: Path) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def test_the_four_tutorials_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_bulk_migration.ipynb",
        "03_export_and_analysis.ipynb",
        "04_forms.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_come_from_one_clean_run(path: Path) -> None:
    cells = code_cells(path)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    assert sum(len(c["outputs"]) for c in cells) >= len(cells) // 2, "outputs were stripped"


def test_plots_are_saved_as_images() -> None:
    cells = code_cells(ROOT / "notebooks/03_export_and_analysis.ipynb")
    images = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_readme_links_each_tutorial(path: Path) -> None:
    assert f"](notebooks/{path.name})" in (ROOT / "README.md").read_text(encoding="utf-8")
