"""SIGKILL the importer and the server at random points of a 100,000-row import: exact end state.

``feedkit import --checkpoint`` runs as a child process against a ``feedkit serve`` child. At 15
seeded points of the import's progress (requests journaled as acknowledged) one of them is
SIGKILLed: the importer 10 times (and run again at once, with the same checkpoint), the
server 5 times (the database checked with ``PRAGMA integrity_check``, then the server restarted
on the same SQLite file and the same port). An importer that gives up while the server is
down reports the rows as failed and is run again. At the end the store holds each valid row
once, equal to its source, and nothing else, and one more run finds every valid row already
acknowledged.

The importer reaches the server through ``tests/_proxy.py`` with no faults: a tap counting how
many rows reached the server, so the rows sent more than once after a kill are measured. The
figures go to RELIABILITY.md (section "crashes").
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from _bigimport import MAPPING_PATH, Expected, assert_exact, write_source
from _proxy import FaultProxy
from _reliability import record, table
from _serve import API_KEY, STARTUP_TIMEOUT_S, STOP_TIMEOUT_S, Server, new_secret

from feedkit.bulk import ImportOptions
from feedkit.serve import spawn

pytestmark = pytest.mark.reliability

_DEFAULTS = ImportOptions()  # what `feedkit import` runs with
ROWS = 100_000
IMPORTER_KILLS = 10
SERVER_KILLS = 5
SEED = 20_260_302
# How long the server stays down after each kill, before its restart: the importer's retries
# (default Retry(): at most 0.25 + 0.5 + 1 + 2 s of backoff) bridge the short outages. The last
# kill is the server's, with the long outage: the importer gives up on the rows in flight,
# finishes, reports them failed, and a rerun sends them.
OUTAGES_S = (0.0, 0.5, 1.0, 2.0)
LONG_OUTAGE_S = 6.0
DEADLINE_S = 330.0  # the whole kill-and-rerun loop
MAX_RUNS = 60
RUN_TIMEOUT_S = 180.0  # the last, checking run
POLL_S = 0.01
SUMMARY = re.compile(
    r"^\s+(rows read|valid|invalid|skipped|sent|acknowledged|failed)\s+([\d,]+)", re.M
)


@dataclass
class Run:
    """One importer run: how it ended, and its report's figures (none when killed)."""

    end: str  # "killed", "complete", "failed" (some rows not acknowledged), "error"
    figures: dict[str, int]


def _figures(output: str) -> dict[str, int]:
    return {name: int(n.replace(",", "")) for name, n in SUMMARY.findall(output)}


def _journal_lines(path: Path) -> int:
    """Requests the journal holds as acknowledged (its "ack" records; each request also has
    a "send" record, written before it went out)."""
    try:
        with path.open("rb") as f:
            return f.read().count(b'\n["ack",')
    except FileNotFoundError:
        return 0


class Importer:
    """``feedkit import`` as a child process, output to a file of its own."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.cmd, self.env, self.log_dir = cmd, env, log_dir
        self.runs: list[Run] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path = log_dir / "import-0.log"

    def start(self) -> None:
        self._log_path = self.log_dir / f"import-{len(self.runs)}.log"
        self._log = self._log_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )

    def ended(self, valid: int) -> Run | None:
        """The run, if the process has ended (and then it is recorded)."""
        assert self.proc is not None and self._log is not None
        code = self.proc.poll()
        if code is None:
            return None
        self._log.close()
        output = self._log_path.read_text(errors="replace")
        figures = _figures(output)
        if code == -signal.SIGKILL:
            end = "killed"
        elif "failed" not in figures:
            end = "error"
        elif figures["failed"] == 0 and figures["skipped"] + figures["acknowledged"] == valid:
            end = "complete"
        else:
            end = "failed"
        run = Run(end, figures)
        self.runs.append(run)
        assert end != "error" or sum(r.end == "error" for r in self.runs) <= 3, output[-3000:]
        return run

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_S)


def _integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` on a read-write connection (it recovers the WAL, as the
    restarted server will)."""
    with closing(sqlite3.connect(db, timeout=30)) as con:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.timeout(480)
def test_sigkill_importer_and_server_at_random_points_then_exact(tmp_path: Path) -> None:
    source = write_source(tmp_path / "posts-100k.parquet", ROWS)
    expected = Expected(source)
    db, journal = tmp_path / "crash.db", tmp_path / "crash.checkpoint"
    secret = new_secret()

    def serve(port: int) -> Server:
        process = spawn(
            db,
            api_key=API_KEY,
            api_secret=secret,
            port=port,
            timeout=STARTUP_TIMEOUT_S,
            log_dir=tmp_path,
        )
        return Server(process.url, API_KEY, secret, db, process)

    rng = random.Random(SEED)
    requests = expected.valid // 100
    targets = sorted(
        int(rng.uniform(0.03, 0.9) * requests) for _ in range(IMPORTER_KILLS + SERVER_KILLS)
    )
    kinds = ["importer"] * IMPORTER_KILLS + ["server"] * SERVER_KILLS
    rng.shuffle(kinds)
    kinds.remove("server")
    kinds.append("server")  # the last kill is the server's, with the long outage
    events = list(zip(targets, kinds, strict=True))
    outages = [*rng.sample(OUTAGES_S, len(OUTAGES_S)), LONG_OUTAGE_S]

    server = serve(0)
    port = int(server.base_url.rsplit(":", 1)[1])
    tap = FaultProxy(server.base_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAM_", "FEEDKIT_"))}
    env.update(STREAM_API_KEY=API_KEY, STREAM_API_SECRET=secret, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "feedkit",
        "import",
        str(source),
        "--mapping",
        str(MAPPING_PATH),
        "--base-url",
        tap.url,
        "--checkpoint",
        str(journal),
        "--no-progress",
    ]
    importer = Importer(cmd, env, tmp_path)
    fired: list[tuple[int, str, int]] = []  # (target, kind, journal lines when fired)
    downtimes: list[float] = []
    integrity: list[str] = []
    same_port = 0
    started = time.perf_counter()
    deadline = time.monotonic() + DEADLINE_S
    try:
        importer.start()
        while True:
            assert time.monotonic() < deadline, f"not done in {DEADLINE_S:g}s: {importer.runs}"
            run = importer.ended(expected.valid)
            if run is not None:
                if run.end == "complete":
                    assert not events, f"the import ended before the kills at {events}"
                    break
                assert len(importer.runs) < MAX_RUNS, importer.runs
                importer.start()
                continue
            lines = _journal_lines(journal)
            if events and lines >= events[0][0]:
                target, kind = events.pop(0)
                fired.append((target, kind, lines))
                if kind == "importer":
                    importer.kill()
                    continue
                down = time.perf_counter()
                server.proc.kill()
                assert server.proc.wait(timeout=STOP_TIMEOUT_S) == -signal.SIGKILL
                integrity.append(_integrity(db))
                time.sleep(max(0.0, outages[len(integrity) - 1] - (time.perf_counter() - down)))
                try:
                    server = serve(port)
                    same_port += 1
                except RuntimeError:  # the port was taken meanwhile: any port will do
                    server = serve(0)
                    tap.set_upstream(server.base_url)
                downtimes.append(time.perf_counter() - down)
                continue
            time.sleep(POLL_S)
        duration = time.perf_counter() - started
        last = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S)
        counts = tap.counts()
    finally:
        if importer.proc is not None and importer.proc.poll() is None:
            importer.kill()
        tap.stop()
        server.process.stop(STOP_TIMEOUT_S)

    ends = [r.end for r in importer.runs]
    assert [kind for _, kind, _ in fired] == kinds
    assert ends.count("killed") == IMPORTER_KILLS, ends
    assert ends[-2:] == ["failed", "complete"], ends  # gave up in the long outage, then rerun
    assert integrity == ["ok"] * SERVER_KILLS
    final = _figures(last.stdout)
    assert last.returncode == 1, last.stdout + last.stderr  # the invalid rows, reported
    assert final == {
        "rows read": ROWS,
        "valid": expected.valid,
        "invalid": expected.invalid,
        "skipped": expected.valid,
        "sent": 0,
        "acknowledged": 0,
        "failed": 0,
    }
    checked = assert_exact(db, expected)
    resent = counts["rows_forwarded"] - expected.valid
    assert resent >= 0

    summary = (
        f"events {fired}\nruns {ends}\nserver downtimes {[round(d, 2) for d in downtimes]}\n"
        f"tap {counts}\nrows re-sent {resent}\nduration {duration:.1f} s"
    )
    print(summary)
    completed = next(r for r in reversed(importer.runs) if r.end == "complete")
    figures = [
        ["importer SIGKILLs (each followed by a rerun)", IMPORTER_KILLS],
        ["server SIGKILLs (each followed by a restart)", SERVER_KILLS],
        ["server restarts on the same port", f"{same_port} of {SERVER_KILLS}"],
        [
            "server downtime per kill (integrity check, outage, restart)",
            f"{min(downtimes):.1f}-{max(downtimes):.1f} s",
        ],
        [
            "importer runs",
            f"{len(ends)}: {ends.count('killed')} killed, "
            f"{ends.count('failed')} gave up on some rows while the server was down, "
            f"{ends.count('complete')} complete",
        ],
        [
            "rows the completing run skipped / sent",
            f"{completed.figures['skipped']:,} / {completed.figures['sent']:,}",
        ],
        ["requests that found the server gone", counts["upstream_errors"]],
        ["rows that reached the server", f"{counts['rows_forwarded']:,}"],
        [
            "rows sent more than once (after a kill)",
            f"{resent:,} ({resent / expected.valid:.1%} of the valid rows)",
        ],
        ["kill-and-rerun loop", f"{duration:.1f} s"],
        ["last run", f"{final['skipped']:,} skipped, 0 sent, 0 failed"],
        [
            "store",
            f"{checked['activities']:,} activities, each once, equal to source; integrity ok",
        ],
    ]
    down_for = iter(downtimes)
    kill_rows = [
        [i + 1, kind, f"{lines / requests:.0%}",
         f"{next(down_for):.1f} s" if kind == "server" else "rerun at once"]
        for i, (_, kind, lines) in enumerate(fired)
    ]  # fmt: skip
    record(
        "crashes",
        f"Crashes: SIGKILL the importer {IMPORTER_KILLS} times and the server {SERVER_KILLS} times",
        f"""
`feedkit import --checkpoint` (a child process, {_DEFAULTS.concurrency} workers, requests of
{_DEFAULTS.batch_size}, default `Retry()`) imports {ROWS:,} rows ({expected.invalid} invalid)
into `feedkit serve` (a child process). At {len(fired)}
seeded random points of its progress one of them is SIGKILLed: the importer is run again at
once with the same checkpoint; the server's database is checked (`PRAGMA integrity_check`)
and, after an outage of 0 to {LONG_OUTAGE_S:g} s, the server is restarted on the same file
and port. An importer that gives up on rows while the server is down reports them failed and
is run again (the last kill is the server's, with the longest outage, so this happens).
Result: **no loss, no duplicate, no corruption**: each of the {expected.valid:,} valid rows
stored once and equal to its source, nothing else, integrity ok after every server kill and at
the end, and a last run finds every valid row already acknowledged. Duplicate sends are
harmless (upserts by id) and counted below.

{table(["figure", "value"], figures)}

{table(["kill", "process", "progress (acknowledged requests / requests)", "down for"], kill_rows)}
""",
        test="tests/test_reliability_crashes.py::"
        "test_sigkill_importer_and_server_at_random_points_then_exact",
    )
