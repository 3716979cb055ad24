"""Every Python block of README.md runs, in order, as a reader would paste them.

The blocks share one namespace (a later one uses the ``client`` an earlier one made). They run
in a temporary folder holding the sample ``data/``, with ``FEEDKIT_DB`` pointing there, so the
files they write (feedkit.db, posts.checkpoint, all.parquet) never land in the work tree. A
``>>>`` block is a transcript: its statement must raise the error it shows, with that message.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_python_blocks() -> None:
    assert len(blocks()) >= 4


def test_every_python_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDKIT_DB", str(tmp_path / "feedkit.db"))
    namespace: dict[str, object] = {}
    shown = io.StringIO()
    for number, code in enumerate(blocks(), 1):
        if code.startswith(">>> "):
            statement, expected = code[4:].split("\n", 1)
            name, _, message = expected.strip().partition(": ")
            with pytest.raises(Exception) as caught:
                exec(compile(statement, f"README block {number}", "exec"), namespace)
            assert type(caught.value).__name__ == name, number
            assert str(caught.value) == message, number
            continue
        with contextlib.redirect_stdout(shown):
            exec(compile(code, f"README block {number}", "exec"), namespace)
    assert "Hello" in shown.getvalue()  # the taste's loop printed the activity it added
    for client in ("client", "other"):
        close = getattr(namespace.get(client), "close", None)
        if callable(close):
            close()
