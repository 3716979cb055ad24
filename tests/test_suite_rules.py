"""The rules the suite holds itself to (the project's root conftest.py), each shown to bite.

- It reads nothing outside the repository: a user's clone has nothing beside it.
- Under ``CI=true`` a skip is a failure.
- A run that changes the work tree (``git status --porcelain``) fails, naming the paths.
- RELIABILITY.md is written only when ``FEEDKIT_WRITE_RELIABILITY=1``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import _reliability
import pytest

ROOT = Path(__file__).resolve().parents[1]
SEARCHED = ("feedkit", "tests", "scripts", "notebooks", "benchmarks", "data", ".ci")
SUFFIXES = {".py", ".ipynb", ".toml", ".cfg", ".sh", ".md", ""}
# Ways a file could reach a folder beside the checkout: the shared reference folder by name,
# (spelled here with "sh[a]red" so that this file does not itself name it to other scanners),
# the workplace's own folders, and a path climbing out of the repository.
OUTSIDE = re.compile(r"\.\./sh[a]red|sh[a]red/reference|[\"']sh[a]red[\"']|/work/|\.library")
PARENTS = re.compile(r"Path\(__file__\)[\w.()]*?((?:\.parent(?!s))+|\.parents\[(\d+)\])")
RELATIVE = re.compile(r"Path\([\"'](\.\./[^\"']*)[\"']\)")


def _files() -> list[Path]:
    found = []
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*")):
            skip = {"__pycache__", "reference", ".ipynb_checkpoints"} & set(path.parts)
            mine = path == Path(__file__).resolve()  # names the patterns it looks for
            if path.is_file() and path.suffix in SUFFIXES and not skip and not mine:
                found.append(path)
    return found


def _sources(path: Path) -> str:
    """The text to search: a notebook's code cells (its saved outputs are not read by it)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _escapes(path: Path, text: str) -> list[str]:
    found = [f"names {m[0]!r}" for m in OUTSIDE.finditer(text)]
    depth = len(path.relative_to(ROOT).parts) - 1  # folders between the file and the root
    for m in PARENTS.finditer(text):
        up = int(m[2]) + 1 if m[2] is not None else m[1].count(".parent")
        if up > depth + 1:  # Path(__file__) climbs out of the root
            found.append(f"climbs {up} folders from depth {depth}: {m[0]!r}")
    base = path.parent if path.suffix == ".ipynb" else ROOT  # a notebook runs in its folder
    for m in RELATIVE.finditer(text):
        if not (base / m[1]).resolve().is_relative_to(ROOT):
            found.append(f"relative path outside the repository: {m[1]!r}")
    return found


def test_nothing_in_the_project_reads_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 50, "the walk found the project's files"
    bad = [f"{p.relative_to(ROOT)}: {w}" for p in files for w in _escapes(p, _sources(p))]
    assert not bad, "\n".join(bad)


def test_the_check_finds_a_path_outside() -> None:
    probe = ROOT / "tests" / "test_probe.py"
    assert _escapes(probe, 'Path(__file__).resolve().parents[2] / "x"')
    assert _escapes(probe, 'Path(__file__).parent.parent.parent / "x"')
    assert _escapes(probe, 'ROOT / "../' + "sh" + 'ared/reference/spec.json"')
    assert _escapes(ROOT / "notebooks" / "n.ipynb", 'Path("../../elsewhere")')
    assert not _escapes(probe, 'Path(__file__).resolve().parents[1] / "data"')
    assert not _escapes(ROOT / "notebooks" / "n.ipynb", 'Path("../data")')


def test_the_reference_material_is_in_the_repository() -> None:
    reference = ROOT / "tests" / "reference"
    kinds = {p.name.split(".")[0] for p in (reference / "import-schemas").glob("*.schema.json")}
    assert kinds >= {"item", "user", "feed", "feed_group", "feed_view", "activity", "comment",
                     "reaction", "bookmark", "follow"}  # fmt: skip
    for name in ("feeds-serverside-api.json", "sdk-golden-requests.jsonl", "PROTOCOL.md"):
        assert (reference / name).stat().st_size > 1000, name


# -- the root conftest's rules, run on a throwaway project -------------------------------------


def _project(tmp_path: Path, test: str) -> Path:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_it.py").write_text(test, encoding="utf-8")
    (tmp_path / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True, timeout=60)
    subprocess.run([*git, "add", "-A"], check=True, timeout=60)
    subprocess.run([*git, "commit", "-qm", "x"], check=True, timeout=60)
    return tmp_path


def _pytest(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CI"} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
        cwd=project, capture_output=True, text=True, timeout=120, env=environ, check=False,
    )  # fmt: skip


SKIPS = "import pytest\n\ndef test_s():\n    pytest.skip('no chromium')\n"


def test_a_skip_fails_under_ci_and_stays_a_skip_elsewhere(tmp_path: Path) -> None:
    project = _project(tmp_path, SKIPS)
    local = _pytest(project)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
    ci = _pytest(project, CI="true")
    assert ci.returncode == 1 and "1 failed" in ci.stdout, ci.stdout
    assert "skipped under CI=true" in ci.stdout and "no chromium" in ci.stdout


def test_a_skipped_module_fails_under_ci(tmp_path: Path) -> None:
    project = _project(tmp_path, "import pytest\npytest.importorskip('no_such_module_here')\n")
    ci = _pytest(project, CI="true")
    assert ci.returncode != 0 and "no_such_module_here" in ci.stdout, ci.stdout


def test_a_run_that_changes_the_work_tree_fails(tmp_path: Path) -> None:
    writes = "from pathlib import Path\n\ndef test_w():\n    Path('stray.txt').write_text('x')\n"
    project = _project(tmp_path, writes)
    done = _pytest(project)
    assert done.returncode == 1, done.stdout
    assert "1 passed" in done.stdout and "work tree changed" in done.stdout, done.stdout
    assert "?? stray.txt" in done.stdout
    (project / "stray.txt").unlink()
    (project / "test_it.py").write_text("def test_fine():\n    pass\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(project), "commit", "-qam", "y", "--author", "t <t@t>"],
                   check=True, timeout=60, env=os.environ | {"GIT_COMMITTER_NAME": "t",
                   "GIT_COMMITTER_EMAIL": "t@t"})  # fmt: skip
    assert _pytest(project).returncode == 0


def test_reliability_md_is_written_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "RELIABILITY.md"
    monkeypatch.setattr(_reliability, "PATH", target)
    monkeypatch.delenv(_reliability.WRITE_ENV, raising=False)
    _reliability.record("probe", "A probe", "measured 7", test="t")
    assert not target.exists() and "measured 7" in capsys.readouterr().out
    monkeypatch.setenv(_reliability.WRITE_ENV, "1")
    _reliability.record("probe", "A probe", "measured 7", test="t")
    text = target.read_text(encoding="utf-8")
    assert "<!-- section:probe -->\n## A probe" in text and "measured 7" in text
