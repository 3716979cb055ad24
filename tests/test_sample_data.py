"""The sample in data/: the converter reports exactly the bad rows it was made with."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import feedkit

DATA = Path(__file__).resolve().parents[1] / "data"


def _bad_rows() -> dict[str, dict[str, object]]:
    spec = importlib.util.spec_from_file_location("make_sample", DATA / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module
    spec.loader.exec_module(module)
    return dict(module.BAD_ROWS)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_every_bad_row_and_only_them(kind: str) -> None:
    mapping = feedkit.Mapping.from_toml(DATA / "posts.toml")
    result = feedkit.to_activities(DATA / f"posts.{kind}", mapping, batch_rows=700)
    unread = ("malformed_row",)  # the record never reached a field
    expected = {
        (bad["row"], bad["reason"], "" if bad["reason"] in unread else bad["field"])
        for bad in _bad_rows().values()
        if kind in bad["files"]  # type: ignore[operator]
    }
    found = set(zip(result.errors["row"], result.errors["code"], result.errors["field"],
                    strict=True))  # fmt: skip
    assert found == expected
    assert result.rows_read == 3000
    assert result.valid + result.invalid == result.rows_read
    assert all(feedkit.validate_activity(a) == [] for a in result.activities)
