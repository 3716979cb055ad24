"""Every benchmark runs end to end in its smoke mode (--quick) and prints its ratio lines.

Only behaviour is checked (it finishes, it reports every ratio, with a verdict where there is
a target); timings are never asserted, because they depend on the machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
VERDICT = r"\((?:target [<>]= [\d.]+x\) (?:PASS|MISS)|no target\))"


def run_quick(name: str, tmp_path: Path) -> str:
    """Run ``benchmarks/<name> --quick`` with a fresh cache; its output (exit 0 asserted)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_")}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), "--quick", "--cache-dir", str(tmp_path / "c")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def ratios(output: str, kinds: str) -> list[str]:
    # What is compared may be two words: ``migrate ratio user feedkit/sdk 12.3x``.
    line = re.compile(rf"({kinds}) ratio (.+?) \d+\.\d+x .*{VERDICT}$")
    return [f"{m.group(1)} {m.group(2)}" for x in output.splitlines() if (m := line.search(x))]


def test_server_benchmark(tmp_path: Path) -> None:
    found = ratios(run_quick("bench_server.py", tmp_path), "ingest|read|engagement")
    kinds = ["ingest"] * 2 + ["read"] * 5 + ["engagement"] * 2
    assert [r.split()[0] for r in found] == kinds, found
    assert found[-2:] == ["engagement engaged/plain"] * 2, found  # the small size, the big
    assert list((tmp_path / "c").glob("store-*.db")), "built stores are cached"
    assert len(list((tmp_path / "c").glob("engaged-*.db"))) == 2, "engaged stores are cached"


def test_import_benchmark(tmp_path: Path) -> None:
    output = run_quick("bench_import.py", tmp_path)
    expected = ["conversion feedkit/naive", "conversion feedkit/polars", "import feedkit/sdk",
                "import feedkit/raw", "rss 100k/50k", "rss send/dry-run"]  # fmt: skip
    assert ratios(output, "conversion|import|rss") == expected, output
    assert list((tmp_path / "c").glob("posts-*.parquet")), "generated files are cached"


def test_export_benchmark(tmp_path: Path) -> None:
    output = run_quick("bench_export.py", tmp_path)
    expected = ["export feedkit/sdk", "export feedkit-1cursor/json_normalize-1cursor",
                "export feedkit-4ranges/json_normalize-4ranges", "rss 50k/25k"]  # fmt: skip
    assert ratios(output, "export|rss") == expected, output
    assert "raw paging: httpx + response.json()" in output, output
    assert list((tmp_path / "c").glob("export-*.db")), "built stores are cached"


def test_migrate_benchmark(tmp_path: Path) -> None:
    output = run_quick("bench_migrate.py", tmp_path)
    steps = ("user", "activity", "follow", "comment", "reaction", "bookmark")
    expected = [f"migrate {kind} feedkit/{peer}" for kind in steps for peer in ("sdk", "raw")]
    expected += ["rss 20x/10x", "refs checked/unchecked"]
    assert ratios(output, "migrate|rss|refs") == expected, output
    assert len(list((tmp_path / "c").glob("app-*"))) == 3, "generated apps are cached"


def test_pipeline_benchmark(tmp_path: Path) -> None:
    output = run_quick("bench_pipeline.py", tmp_path)
    expected = ["write feedkit/polars", "pipeline import/api", "pipeline server/bulk-load",
                "limited import/api", "rss 100k/50k"]  # fmt: skip
    assert ratios(output, "write|pipeline|limited|rss") == expected, output
    assert re.search(r"schema check of every 50th line: [\d,]+ lines checked, 0 refused", output)
    assert list((tmp_path / "c").glob("posts-*.parquet")), "generated files are cached"
