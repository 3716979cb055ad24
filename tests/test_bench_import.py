"""The import benchmark runs end to end in its smoke mode and prints its ratio lines.

Only behaviour is checked (it finishes, it reports every ratio, with a verdict where there is
a target); timings are never asserted, because they depend on the machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH = REPO_ROOT / "benchmarks" / "bench_import.py"
RATIO_LINE = re.compile(
    r"(conversion|import|rss) ratio (\S+) \d+\.\d+x .*"
    r"\((?:target [<>]= [\d.]+x\) (?:PASS|MISS)|no target\))$"
)
POLARS_SKIPPED = "conversion ratio feedkit/polars skipped: polars is not installed"


def test_quick_run_prints_every_ratio(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_")}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ratios = [
        f"{m.group(1)} {m.group(2)}"
        for line in done.stdout.splitlines()
        if (m := RATIO_LINE.search(line))
    ]
    expected = [
        "conversion feedkit/naive",
        "conversion feedkit/polars",
        "import feedkit/sdk",
        "import feedkit/raw",
        "rss 100k/50k",
        "rss send/dry-run",
    ]
    if importlib.util.find_spec("polars") is None:
        expected.remove("conversion feedkit/polars")
        assert POLARS_SKIPPED in done.stdout, done.stdout
    assert ratios == expected, done.stdout
    assert list((tmp_path / "cache").glob("posts-*.parquet")), "generated files are cached"
