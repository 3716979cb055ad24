"""The server benchmark runs end to end in its smoke mode and prints its ratio lines.

Only behaviour is checked (it finishes, it reports every ratio with a verdict); timings are
never asserted, because they depend on the machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH = REPO_ROOT / "benchmarks" / "bench_server.py"
RATIO_LINE = re.compile(
    r"(ingest|read) ratio \S+ \d+\.\d+x .*\((target [<>]= [\d.]+x)\) (PASS|MISS)$"
)


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
    kinds = [m.group(1) for line in done.stdout.splitlines() if (m := RATIO_LINE.search(line))]
    assert kinds.count("ingest") == 2, done.stdout
    assert kinds.count("read") == 5, done.stdout
    assert list((tmp_path / "cache").glob("store-*.db")), "built stores are cached"
