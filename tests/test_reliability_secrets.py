"""Secret hygiene: the API secret appears in nothing feedkit writes, prints, logs or raises.

Three nets, each shown to catch a planted secret:

(a) every test of the suite: conftest's ``pytest_runtest_makereport`` fails any test whose
    captured stdout, stderr, log or failure text holds a secret minted by
    ``_serve.new_secret`` (or anything shaped like one), and redacts it from what is shown;
(b) one end-to-end run here with a known secret through every path that holds it: client
    reprs and errors, ``feedkit serve`` (and the app under uvicorn at trace level with DEBUG
    logging), ``feedkit import`` with ``STREAM_API_SECRET`` set (stdout, stderr, checkpoint,
    ``--errors`` CSV), the ImportReport's repr and HTML, ``feedkit export`` files; every byte
    produced is scanned;
(c) the saved outputs of ``notebooks/*.ipynb``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _reliability import record, table
from _serve import (
    SECRET_SHAPE,
    STARTUP_TIMEOUT_S,
    STOP_TIMEOUT_S,
    leaks,
    new_secret,
    running,
    user_token,
)

import feedkit

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CLI_TIMEOUT_S = 120.0
# A secret written out beside its name, in code or in output: api_secret='...', api_secret=...
# or STREAM_API_SECRET=...; '***' and empty values are the redacted forms.
NAMED_SECRET = re.compile(r"""(?:api_secret|STREAM_API_SECRET)\s*[=:]\s*['"]?[\w\-]{16,}""")


def scan_tree(root: Path, secret: str) -> tuple[int, int, list[str]]:
    """Files and bytes under ``root``, and where any of them holds a secret."""
    files = nbytes = 0
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files, nbytes = files + 1, nbytes + len(data)
        found += [f"{path.relative_to(root)}: {w}" for w in leaks(data, (secret,))]
    return files, nbytes, found


def notebook_outputs(notebook: dict[str, Any]) -> Iterator[str]:
    """The text of every saved output of a notebook (streams, results, HTML, tracebacks)."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            for key in ("text", "traceback"):
                value = output.get(key)
                if value:
                    yield "".join(value) if isinstance(value, list) else str(value)
            for content in (output.get("data") or {}).values():
                yield "".join(content) if isinstance(content, list) else json.dumps(content)


def notebook_leaks(notebook: dict[str, Any]) -> list[str]:
    found = []
    for i, text in enumerate(notebook_outputs(notebook)):
        found += [f"output {i}: {w}" for w in leaks(text)]
        found += [f"output {i}: a named secret" for _ in NAMED_SECRET.finditer(text)]
    return found


# --------------------------------------------------------------------------------------------
# (b) one run through every path that holds the secret
# --------------------------------------------------------------------------------------------

CSV = """post_id,author,topic,body,likes
p1,alice,news,hello,1
p2,bob,news,world,2
p3,dave,news,third,3
p4,carol,bad topic,space in the feed id,4
p5,carol,news,again,5
"""
MAPPING = """[activity]
id = "{post_id}"
type = "post"
user_id = "{author}"
feeds = ["user:{author}", "topic:{topic}"]
text = "{body}"
custom = ["likes"]
"""

VERBOSE_SERVER = textwrap.dedent(
    """
    import logging, os, sys
    import uvicorn
    from feedkit.serve import _Server
    from feedkit.server.app import create_app

    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
    app = create_app(sys.argv[1], api_key=os.environ["STREAM_API_KEY"],
                     api_secret=os.environ["STREAM_API_SECRET"])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="trace",
                            access_log=True, lifespan="on")
    server = _Server(config)
    server.announce = lambda url: print("feedkit serving", url, "(db: verbose)", flush=True)
    server.run()
    """
)


def _verbose_server(tmp: Path, key: str, secret: str) -> tuple[subprocess.Popen[bytes], str]:
    """The app under uvicorn at trace level, DEBUG logging everywhere; its URL."""
    log = tmp / "verbose-server.log"
    env = {**os.environ, "STREAM_API_KEY": key, "STREAM_API_SECRET": secret,
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", VERBOSE_SERVER, str(tmp / "verbose.db")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"feedkit serving (http://\S+)", log.read_text(errors="replace"))
        if found:
            return proc, found.group(1)
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=STOP_TIMEOUT_S)
    raise RuntimeError("the verbose server did not start: " + log.read_text(errors="replace"))


def _cli(
    tmp: Path, args: list[str], env: dict[str, str], name: str
) -> subprocess.CompletedProcess[bytes]:
    """``feedkit ARGS`` in a child process; its stdout and stderr kept as files to scan."""
    result = subprocess.run(
        [sys.executable, "-m", "feedkit", *args],
        cwd=tmp, env={**os.environ, **env}, capture_output=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    (tmp / f"{name}.stdout").write_bytes(result.stdout)
    (tmp / f"{name}.stderr").write_bytes(result.stderr)
    return result


def _exercise(tmp: Path, secret: str, texts: list[str]) -> None:
    """Drive every secret-bearing path with ``secret``; outputs land in ``tmp`` and ``texts``."""
    other = new_secret()
    (tmp / "posts.csv").write_text(CSV)
    (tmp / "posts.toml").write_text(MAPPING)
    key = "hygiene-key"
    with running(tmp / "served.db", api_secret=secret, api_key=key, log_dir=tmp) as server:
        env = {
            "STREAM_API_KEY": key,
            "STREAM_API_SECRET": secret,
            "STREAM_BASE_URL": server.base_url,
        }
        # the client: reprs, and the errors of each kind
        fast = feedkit.Retry(attempts=2, backoff=0.0, max_backoff=0.0)
        with feedkit.connect(
            base_url=server.base_url, api_key=key, api_secret=secret, retry=fast
        ) as client:
            texts += [repr(client), str(client), repr(vars(client))]
            bob = client.as_user("bob")
            texts += [repr(bob), repr(vars(bob))]
            failures: list[BaseException] = []
            for call in (
                lambda: client.get_activity("missing"),
                lambda: client.add_activity(type="post", feeds=["nocolon"]),
                lambda: client.request(
                    "PATCH", "/api/v2/feeds/activities/x", json={"set": {"id": 1}}
                ),
                lambda: bob.add_activity(type="post", feeds=["user:alice"], user_id="alice"),
            ):
                with pytest.raises(feedkit.FeedkitError) as exc:
                    call()
                failures.append(exc.value)
        with feedkit.connect(
            base_url=server.base_url, api_key=key, api_secret=other, retry=fast
        ) as wrong:
            with pytest.raises(feedkit.AuthError) as exc:
                wrong.get_activity("x")
            failures.append(exc.value)
        for error in failures:
            texts += [
                str(error),
                repr(error),
                repr(vars(error)),
                "".join(traceback.format_exception(error)),
            ]
        # feedkit import with the secret in the environment, then with a wrong one
        imported = _cli(tmp, ["import", "posts.csv", "--mapping", "posts.toml", "--checkpoint",
                              "posts.checkpoint", "--errors", "errors.csv", "--no-progress"],
                        env, "import")  # fmt: skip
        assert imported.returncode == 1, imported.stderr  # two bad rows, the rest sent
        assert (tmp / "posts.checkpoint").exists() and (tmp / "errors.csv").exists()
        refused = _cli(tmp, ["import", "posts.csv", "--mapping", "posts.toml", "--no-progress"],
                       {**env, "STREAM_API_SECRET": other}, "import-refused")  # fmt: skip
        assert refused.returncode == 1
        # the library's report, as a notebook shows it
        with feedkit.connect(base_url=server.base_url, api_key=key, api_secret=secret) as client:
            mapping = feedkit.Mapping.from_toml(tmp / "posts.toml")
            report = feedkit.import_activities(
                client, tmp / "posts.csv", mapping, checkpoint=tmp / "lib.ck", progress=False
            )
            texts += [repr(report), report._repr_html_(), report.summary(), str(report.errors)]
            token = user_token(secret, "alice")
            texts.append(token)  # a token is signed with the secret; it must not carry it
        # feedkit export to every format
        for suffix in ("parquet", "csv", "jsonl"):
            exported = _cli(
                tmp,
                ["export", "user:alice", "-o", f"out.{suffix}", "--no-progress"],
                env,
                f"export-{suffix}",
            )
            assert exported.returncode == 0, exported.stderr
        texts.append(server.output())
    # the same app under uvicorn at trace level, DEBUG logging, hit by the SDK's requests
    proc, url = _verbose_server(tmp, key, secret)
    try:
        with feedkit.connect(base_url=url, api_key=key, api_secret=secret, retry=fast) as client:
            client.add_activity(type="post", feeds=["user:alice"], user_id="alice", text="x")
            client.query_activities({"user_id": "alice"})
            with pytest.raises(feedkit.NotFoundError):
                client.get_activity("missing")
        with (
            feedkit.connect(base_url=url, api_key=key, api_secret=other, retry=fast) as wrong,
            pytest.raises(feedkit.AuthError),
        ):
            wrong.get_activity("x")
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_TIMEOUT_S)
    verbose = (tmp / "verbose-server.log").read_text(errors="replace")
    assert "ASGI" in verbose and "TRACE" in verbose.upper()  # trace logging really ran


def test_no_path_that_holds_the_secret_shows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = new_secret()
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    _exercise(tmp_path, secret, texts)
    texts.append(caplog.text)
    texts += [f"{r.getMessage()} {r.args!r}" for r in caplog.records]
    assert caplog.records, "DEBUG logging captured nothing"
    found = [w for t in texts for w in leaks(t, (secret,))]
    files, nbytes, in_files = scan_tree(tmp_path, secret)
    assert not found and not in_files, found + in_files
    produced = sorted(p.name for p in tmp_path.iterdir())
    for name in ("posts.checkpoint", "errors.csv", "out.parquet", "out.csv", "out.jsonl",
                 "import.stdout", "import.stderr", "verbose-server.log"):  # fmt: skip
        assert name in produced, produced
    test = "tests/test_reliability_secrets.py::test_no_path_that_holds_the_secret_shows_it"
    record(
        "secrets",
        "Secret hygiene",
        f"One run with a known secret through every path that holds it, then every byte "
        f"scanned for it and for anything shaped like a minted secret: **{files} files "
        f"({nbytes:,} bytes) and {len(texts)} texts, 0 found**. The texts: client reprs and "
        "`vars()`, the str, repr, `vars()` and traceback of a NotFoundError, ValidationError, "
        "APIError and two AuthErrors (wrong user, wrong secret), an ImportReport's repr, "
        "`_repr_html_()` and summary, a user token, every log record at DEBUG. The files: "
        "`feedkit serve`'s output, the same app under uvicorn at `trace` level with DEBUG "
        "logging (ASGI messages, headers included), `feedkit import` with "
        "`STREAM_API_SECRET` set (stdout, stderr, checkpoint, `--errors` CSV; again with a "
        "wrong secret), `feedkit export` to Parquet, CSV (+ mapping) and JSON lines, and "
        "the SQLite files.\n\n"
        "Every test of the suite is watched too: conftest fails any test whose captured "
        "stdout, stderr, log or failure text holds a secret minted in the session, and "
        "redacts it from the report; `test_the_scanners_find_a_planted_secret` shows each "
        "net catching one.",
        test=test,
    )


# --------------------------------------------------------------------------------------------
# (c) the notebooks' saved outputs
# --------------------------------------------------------------------------------------------


def test_saved_notebook_outputs_hold_no_secret() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    outputs, found = 0, []
    for path in paths:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        outputs += sum(1 for _ in notebook_outputs(notebook))
        found += [f"{path.name}: {w}" for w in notebook_leaks(notebook)]
    assert not found, found
    record(
        "secrets-notebooks",
        "Secret hygiene: saved notebook outputs",
        table(
            ["notebooks scanned", "saved outputs", "secrets found"],
            [[", ".join(p.name for p in paths) or "none yet", outputs, 0]],
        )
        + "\n\nEach output (streams, results, HTML, tracebacks) is scanned for minted "
        "secrets and for a secret written beside its name (`api_secret=...`, "
        "`STREAM_API_SECRET=...`, anything but `'***'`).",
        test="tests/test_reliability_secrets.py::test_saved_notebook_outputs_hold_no_secret",
    )


# --------------------------------------------------------------------------------------------
# the nets catch what is planted in them
# --------------------------------------------------------------------------------------------

PLANTED_TEST = """
from _serve import new_secret


def test_prints_a_secret():
    print("connecting with", new_secret())


def test_logs_a_secret():
    import logging
    logging.getLogger("planted").warning("secret is %s", new_secret())


def test_fails_showing_a_secret():
    secret = new_secret()
    assert secret == "something else"


def test_clean():
    print("nothing to see")
"""


def test_the_scanners_find_a_planted_secret(tmp_path: Path) -> None:
    planted = new_secret()
    # files: in a nested file, as bytes inside JSON
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "report.json").write_text(json.dumps({"k": f"x{planted}y"}))
    (tmp_path / "clean.txt").write_text("nothing")
    files, _, found = scan_tree(tmp_path, planted)
    assert files == 2 and len(found) == 1 and found[0].startswith("a/b/report.json")
    assert planted not in found[0]
    # a secret that was not minted here, by its shape; and one passed in explicitly
    assert leaks("k=" + "fk-secret-" + "A" * 40)
    assert leaks("plain words with the secret inside", ("secret inside",))
    # a notebook output, and a secret written beside its name
    notebook = {"cells": [{"outputs": [{"output_type": "stream", "text": ["x ", planted]}]}]}
    assert notebook_leaks(notebook)
    named = {
        "cells": [{"outputs": [{"data": {"text/plain": "api_secret='Zx9-" + "q" * 30 + "'"}}]}]
    }
    assert notebook_leaks(named)
    clean = {"cells": [{"outputs": [{"data": {"text/plain": ["Client(api_secret='***')"]}}]}]}
    assert not notebook_leaks(clean)
    # every test's output: an inner pytest run with conftest's hook fails exactly the
    # three tests that show a secret, and shows none of them
    for name in ("conftest.py", "_serve.py"):
        shutil.copy(Path(__file__).parent / name, tmp_path / name)
    (tmp_path / "test_planted.py").write_text(PLANTED_TEST)
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "-o", "log_level=WARNING", "test_planted.py"],
        cwd=tmp_path, capture_output=True, timeout=CLI_TIMEOUT_S, text=True,
    )  # fmt: skip
    out = inner.stdout + inner.stderr
    assert inner.returncode == 1, out[-3000:]
    assert "3 failed, 1 passed" in out, out[-3000:]
    for test in ("test_prints_a_secret", "test_logs_a_secret", "test_fails_showing_a_secret"):
        assert f"FAILED test_planted.py::{test}" in out, out[-3000:]
    assert out.count("secret hygiene: an API secret was shown in") >= 3
    assert not SECRET_SHAPE.search(out), "the inner report showed a secret unredacted"
