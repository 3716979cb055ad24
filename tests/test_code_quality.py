"""The package stays ruff-clean and passes mypy --strict (configured in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "feedkit", "tests", "benchmarks"],
        [sys.executable, "-m", "ruff", "format", "--check", "feedkit"],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


# Parameters and CLI options that carry a protocol limit or default: each must name the
# schema's constant (MAX_PAGE, DEFAULT_PAGE, MAX_BATCH, DEFAULT_CONCURRENCY), never repeat it.
LIMITED = {"limit", "page_size", "batch_size", "concurrency"}


def _number(node: ast.expr) -> bool:
    """A number written out, other than 1 (one at a time is no limit)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value != 1


def _literal_defaults(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            with_defaults = positional[len(positional) - len(args.defaults) :]
            pairs = list(zip(with_defaults, args.defaults, strict=True))
            keywords = zip(args.kwonlyargs, args.kw_defaults, strict=True)
            pairs += [(a, d) for a, d in keywords if d is not None]
            found += [f"{node.name}({a.arg}={ast.unparse(d)})" for a, d in pairs
                      if a.arg in LIMITED and _number(d)]  # fmt: skip
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id in LIMITED and node.value is not None and _number(node.value):
                found.append(f"{node.target.id} = {ast.unparse(node.value)}")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = str(node.args[0].value).lstrip("-").replace("-", "_")
            for kw in node.keywords:
                if name in LIMITED and kw.arg == "default" and _number(kw.value):
                    found.append(f"option {node.args[0].value} default={kw.value.value}")
    return found


def test_no_module_repeats_a_limit_as_a_literal() -> None:
    found = []
    for path in sorted((ROOT / "feedkit").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(ROOT)}: {x}" for x in _literal_defaults(tree)]
    assert not found, "\n".join(found)


def test_the_literal_check_finds_one() -> None:
    probe = "def f(limit: int = 25, *, page_size=100): ...\nclass O:\n    batch_size: int = 100\n"
    assert len(_literal_defaults(ast.parse(probe))) == 3
