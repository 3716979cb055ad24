"""The docstring examples of the package run, module by module, as doctest would run them.

Equivalent to ``pytest --doctest-modules feedkit``, kept here so a plain ``pytest`` runs them
and a module whose examples go missing is noticed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import feedkit

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Modules whose docstrings show a runnable example; a test fails if one loses its examples.
EXPECTED = {
    "feedkit.arrowjson", "feedkit.client", "feedkit.convert", "feedkit.display", "feedkit.files",
    "feedkit.resources", "feedkit.schema.activity", "feedkit.schema.fields", "feedkit.threads",
    "feedkit.widgets.activity_form", "feedkit.widgets.partial_form",
}  # fmt: skip


def _modules() -> list[str]:
    found = [m.name for m in pkgutil.walk_packages(feedkit.__path__, "feedkit.")]
    return sorted(name for name in found if name != "feedkit.__main__")


def _examples(module: ModuleType) -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module.__name__)
    return [t for t in tests if t.examples]


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)  # not '-v' in sys.argv
    for test in _examples(module):
        runner.run(test, out=lambda text: print(text, end=""))
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_modules_with_examples_keep_them() -> None:
    with_examples = {n for n in MODULES if _examples(importlib.import_module(n))}
    assert with_examples >= EXPECTED, sorted(EXPECTED - with_examples)
    assert "feedkit.files" in MODULES and len(MODULES) > 20
