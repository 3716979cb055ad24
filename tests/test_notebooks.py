"""The tutorials as saved: outputs of one clean run, plots as images, linked from the README.

nbval (``--nbval``, see pyproject.toml) runs every notebook and compares each output with the
saved one. It cannot see what this file checks: that the saved outputs come from a single
top-to-bottom run without errors, that plots were saved as PNG images (nbval skips comparing
images), and that the README sends readers to every notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(path: Path) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def test_the_five_tutorials_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_bulk_migration.ipynb",
        "03_export_and_analysis.ipynb",
        "04_forms.ipynb",
        "05_whole_app_migration.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_come_from_one_clean_run(path: Path) -> None:
    cells = code_cells(path)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    assert sum(len(c["outputs"]) for c in cells) >= len(cells) // 2, "outputs were stripped"


@pytest.mark.parametrize(("name", "plots"), [("03_export_and_analysis", 3),
                                             ("05_whole_app_migration", 2)])  # fmt: skip
def test_plots_are_saved_as_images(name: str, plots: int) -> None:
    cells = code_cells(ROOT / f"notebooks/{name}.ipynb")
    images = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) >= plots


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_readme_links_each_tutorial(path: Path) -> None:
    assert f"](notebooks/{path.name})" in (ROOT / "README.md").read_text(encoding="utf-8")


TUTORIALS = [p for p in NOTEBOOKS if p.stem != "04_forms"]  # the forms of 04 are widgets
IGNORED = "nbval-ignore-output"  # a cell whose output depends on speed (a progress bar or none)


def output_texts(cell: dict[str, Any]) -> list[str]:
    """Every text a cell's saved outputs show: streams, plain text and HTML."""
    texts = []
    for output in cell["outputs"]:
        if "text" in output:
            texts.append("".join(output["text"]))
        for mime in ("text/plain", "text/html"):
            if mime in output.get("data", {}):
                texts.append("".join(output["data"][mime]))
    return texts


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_outputs_read_whole(path: Path) -> None:
    """No value cut short, no numpy-style list, no <NA> for an empty list, no pandas-style
    times: the tables come from feedkit.show and the reprs of feedkit's objects."""
    for cell in code_cells(path):
        for text in output_texts(cell):
            assert "..." not in text and "…" not in text, text
            assert not re.search(r"\['[^'\n]*'\s+'", text), text
            assert "<NA>" not in text and "&lt;NA&gt;" not in text, text
            assert not re.search(r"\d\d:\d\d:\d\d\+00:00", text), text


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_progress_bars_only_where_work_takes_a_while(path: Path) -> None:
    """A bar shows only after a second of work: only the one import that may take that long
    can have one (its output is not compared, as a fast run shows none)."""
    for cell in code_cells(path):
        if IGNORED in cell["metadata"].get("tags", []):
            assert "import_activities(" in "".join(cell["source"])
            continue
        for output in cell["outputs"]:
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {})
        assert not any(re.search(r"\d+%\||\[\d+:\d\d[<,]", t) for t in output_texts(cell))


def test_the_quickstart_displays_objects_not_dicts() -> None:
    """Activities, pages and tables show as HTML tables; no dict or tuple is printed."""
    cells = code_cells(ROOT / "notebooks/01_quickstart.ipynb")
    results = [o for c in cells for o in c["outputs"] if o["output_type"] == "execute_result"]
    for output in results:
        plain = "".join(output["data"]["text/plain"])
        assert "text/html" in output["data"] or not plain.startswith(("{", "(", "[(")), plain
    html = ["".join(o["data"]["text/html"]) for o in results if "text/html" in o["data"]]
    assert sum("<caption" in h and ">Activity " in h for h in html) >= 5
    assert any("next cursor: " in h for h in html)
