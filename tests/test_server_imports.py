"""The embedded server's import pipeline (feedkit.server.imports): upload URLs, uploads, tasks
run in the background, line errors, history, a server killed mid-import, the official SDK."""

from __future__ import annotations

import collections
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from _importschemas import validator
from _importtasks import DONE, TIMEOUT_S, app_import_file, run_import, wait, write_lines
from _serve import STOP_TIMEOUT_S, assert_error_body, new_secret, start

import feedkit
from feedkit.client import Client
from feedkit.errors import APIError
from feedkit.schema import parse_time
from feedkit.server import imports
from feedkit.server.app import create_app
from feedkit.server.import_lines import KINDS, check_line
from feedkit.server.importer import Importer
from feedkit.server.store import DEFERRED_INDEXES
from feedkit.transport import InProcessTransport


@pytest.fixture(scope="module")
def app_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/app's whole app as one import file."""
    return app_import_file(tmp_path_factory.mktemp("app"))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with feedkit.connect(db=tmp_path / "x.db") as c:
        yield c


def _small_app(max_upload_bytes: int) -> Client:
    app = create_app(":memory:", api_key="k", api_secret=new_secret(),
                     max_upload_bytes=max_upload_bytes)  # fmt: skip
    transport = InProcessTransport(app)
    c = Client("http://feedkit.embedded", "k", app.state.feeds.auth._secret, transport=transport)
    c._owned += [transport, app.state.imports, app.state.store]
    return c


def lines_by_type(path: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for raw in path.read_bytes().splitlines():
        line = orjson.loads(raw)
        out[line["type"]].append(line["data"])
    return out


def assert_holds_exactly(db_path: Path, path: Path) -> None:
    """The store holds every item of the file, once (and nothing else of those kinds)."""
    lines = lines_by_type(path)
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return sorted(db.execute(sql).fetchall())

        assert rows("SELECT id FROM users") == sorted((d["id"],) for d in lines["user"])
        assert rows("SELECT id FROM activities") == sorted((d["id"],) for d in lines["activity"])
        assert rows("SELECT source, target FROM follows") == sorted(
            (d["source_fid"], d["target_fid"]) for d in lines["follow"]
        )
        assert rows("SELECT id, parent_id FROM comments") == sorted(
            (d["id"], d.get("parent_id")) for d in lines["comment"]
        )
        assert rows("SELECT object_id, user_id, type FROM reactions") == sorted(
            (d.get("comment_id") or d["activity_id"], d["user_id"], d["type"])
            for d in lines["reaction"]
        )
        assert rows("SELECT activity_id, user_id FROM bookmarks") == sorted(
            (d.get("object_id") or d["activity_id"], d["user_id"]) for d in lines["bookmark"]
        )
        times = dict(db.execute("SELECT id, created_at FROM activities"))
        for d in lines["activity"]:
            if d.get("created_at"):
                assert times[d["id"]] == parse_time(d["created_at"]), d["id"]


# -- the whole pipeline ---------------------------------------------------------------------


def test_an_app_file_is_imported_with_its_history_and_every_state_change(
    client: Client, app_file: Path, tmp_path: Path
) -> None:
    task = run_import(client, app_file)
    assert task["state"] == "completed", task
    steps = [(h["prev_state"], h["next_state"]) for h in task["history"]]
    assert steps == [("uploaded", "analyzing"), ("analyzing", "importing"),
                     ("importing", "completed")]  # fmt: skip
    total = sum(len(v) for v in lines_by_type(app_file).values())
    assert task["lines"] == task["applied"] == total and task["error_count"] == 0
    assert task["size"] == app_file.stat().st_size and task["mode"] == "upsert"
    assert [t["id"] for t in client.list_imports()] == [task["id"]]
    assert_holds_exactly(tmp_path / "x.db", app_file)
    # Feed pages read the file's times: a user's feed is newest first by them.
    first = lines_by_type(app_file)["activity"][0]
    got = client.get_activity(first["id"])
    assert got["created_at"] == parse_time(first["created_at"])


def _activities(db_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return db.execute("SELECT id, type, user_id, visibility, parent_id, created_at, "
                          "updated_at, popularity, mentions, doc FROM activities ORDER BY id"
                          ).fetchall()  # fmt: skip


def test_a_big_import_builds_the_read_indexes_after_its_rows_and_ends_the_same(
    app_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with feedkit.connect(db=tmp_path / "kept.db") as c:
        assert run_import(c, app_file)["state"] == "completed"
    seen: list[set[str]] = []
    apply_run = Importer.apply_run

    def watched(self: Importer, kind: str, lines: Any) -> Any:
        with sqlite3.connect(f"file:{tmp_path / 'deferred.db'}?mode=ro", uri=True) as db:
            seen.append({r[0] for r in db.execute("SELECT name FROM sqlite_master")})
        return apply_run(self, kind, lines)

    monkeypatch.setattr(Importer, "apply_run", watched)
    monkeypatch.setattr(imports, "DEFER_INDEXES_LINES", 1)  # every import is a big one
    with feedkit.connect(db=tmp_path / "deferred.db") as c:
        task = run_import(c, app_file)
        assert task["state"] == "completed" and task["error_count"] == 0
        ann = c.query_activities({"user_id": lines_by_type(app_file)["activity"][0]["user_id"]})
        assert len(ann) > 0
    assert seen and all(not set(DEFERRED_INDEXES) & names for names in seen)
    with sqlite3.connect(tmp_path / "deferred.db") as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert set(DEFERRED_INDEXES) <= names
    assert_holds_exactly(tmp_path / "deferred.db", app_file)
    assert _activities(tmp_path / "deferred.db") == _activities(tmp_path / "kept.db")


def test_importing_the_same_file_again_changes_nothing(
    client: Client, app_file: Path, tmp_path: Path
) -> None:
    run_import(client, app_file)
    again = run_import(client, app_file)
    assert again["state"] == "completed" and again["error_count"] == 0
    assert_holds_exactly(tmp_path / "x.db", app_file)


def test_insert_mode_skips_items_that_exist(client: Client, tmp_path: Path) -> None:
    client.upsert_users([{"id": "ann", "name": "kept"}])
    path = write_lines(tmp_path / "u.jsonl", [
        {"type": "user", "data": {"id": "ann", "name": "new"}},
        {"type": "user", "data": {"id": "bob", "name": "bob"}},
    ])  # fmt: skip
    task = run_import(client, path, mode="insert")
    assert (task["applied"], task["skipped"]) == (1, 1)
    names = {u["id"]: u.get("name") for u in client.query_users()}
    assert names == {"ann": "kept", "bob": "bob"}


def test_line_errors_name_line_type_and_reason_and_the_rest_is_applied(
    client: Client, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [
        {"type": "user", "data": {"id": "ann"}},
        {"type": "follow", "data": {"source_fid": "user:ann"}},  # no target: the schema
        {"type": "nonsense", "data": {}},
        {"type": "reaction", "data": {"activity_id": "nope", "user_id": "ann",
                                      "type": "like"}},  # no such activity: the write
        {"type": "activity", "data": {"id": "a1", "type": "post", "user_id": "ann",
                                      "fids": ["user:ann"], "text": "hi",
                                      "created_at": "2020-01-02T03:04:05Z"}},
    ])  # fmt: skip
    task = run_import(client, path)
    assert task["state"] == "completed" and task["applied"] == 2
    errors = {e["line"]: e for e in task["errors"]}
    assert sorted(errors) == [2, 3, 4] and task["error_count"] == 3
    assert errors[2]["type"] == "follow" and "target_fid" in errors[2]["reason"]
    assert errors[3]["type"] == "" and "type" in errors[3]["reason"]
    assert errors[4]["type"] == "reaction" and errors[4]["reason"]
    assert client.get_activity("a1")["created_at"] == parse_time("2020-01-02T03:04:05Z")


def _post(n: int, **data: Any) -> dict[str, Any]:
    return {
        "type": "activity",
        "data": {
            "id": f"a{n}",
            "type": "post",
            "user_id": "ann",
            "fids": ["user:ann"],
            "text": f"post {n}",
            **data,
        },
    }


def test_a_line_the_write_refuses_inside_a_run_is_the_only_one_refused(
    client: Client, tmp_path: Path
) -> None:
    """A run of activities is one batch write; a line in it that the write refuses (a feed
    id the schema lets through) sends the run line by line: that line alone is refused."""
    bad = _post(7, fids=["nocolon"])
    path = write_lines(tmp_path / "run.jsonl", [
        {"type": "user", "data": {"id": "ann"}},
        *[_post(n, created_at=f"2020-01-{n + 1:02d}T00:00:00Z") for n in range(7)], bad,
        *[_post(n) for n in range(8, 12)],
        {"type": "user", "data": {"id": "bad id!"}},  # refused by the schema: reported earlier
        {"type": "user", "data": {"id": "bob", "name": "b"}},
    ])  # fmt: skip
    task = run_import(client, path)
    assert task["state"] == "completed" and (task["applied"], task["error_count"]) == (13, 2)
    errors = {e["line"]: e for e in task["errors"]}
    assert sorted(errors) == [9, 14] and errors[9]["reason"].startswith("data.fids[0]: ")
    # Newest first: the lines without times were written now, the others at the file's times.
    feed = [a.id for a in client.read_feed("user:ann", limit=100)]
    assert feed == [f"a{n}" for n in (11, 10, 9, 8, 6, 5, 4, 3, 2, 1, 0)]
    assert {u["id"]: u.get("name") for u in client.query_users()} == {"ann": None, "bob": "b"}


def test_a_new_created_at_for_an_activity_moves_it_in_its_feeds(
    client: Client, tmp_path: Path
) -> None:
    first = [_post(n, created_at=f"2020-01-0{n + 1}T00:00:00Z") for n in range(3)]
    run_import(client, write_lines(tmp_path / "1.jsonl", first))
    again = [_post(0, created_at="2021-01-01T00:00:00Z"), _post(1)]
    task = run_import(client, write_lines(tmp_path / "2.jsonl", again))
    assert task["applied"] == 2
    feed = client.read_feed("user:ann", limit=10)
    assert [a.id for a in feed] == ["a0", "a2", "a1"]
    assert feed[0]["created_at"] == parse_time("2021-01-01T00:00:00Z")
    assert client.get_activity("a1")["created_at"] == parse_time("2020-01-02T00:00:00Z")
    with sqlite3.connect(tmp_path / "x.db") as db:  # its one key row is at the new time
        keys = db.execute("SELECT k.created_at FROM activity_keys k JOIN activities a "
                          "ON a.rid = k.rid WHERE a.id = 'a0'").fetchall()  # fmt: skip
    assert keys == [(parse_time("2021-01-01T00:00:00Z"),)] * len(keys) and keys


def test_insert_mode_keeps_the_first_of_two_lines_of_one_new_item(
    client: Client, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "twice.jsonl", [_post(1, text="first"), _post(1, text="second"),
                                                   _post(2)])  # fmt: skip
    task = run_import(client, path, mode="insert")
    assert (task["applied"], task["skipped"]) == (2, 1)
    assert client.get_activity("a1")["text"] == "first"


def test_a_line_naming_a_user_alone_never_wipes_the_user(client: Client, tmp_path: Path) -> None:
    """A file of reactions names each user it uses in a line of its own (the id alone): the
    user is created if missing, and one that exists keeps its name and custom data."""
    client.upsert_users([{"id": "ann", "name": "Ann", "custom": {"bio": "kept"}}])
    path = write_lines(tmp_path / "bare.jsonl", [
        {"type": "user", "data": {"id": "ann"}}, {"type": "user", "data": {"id": "bob"}},
        {"type": "user", "data": {"id": "cy", "name": "Cy"}},
        {"type": "user", "data": {"id": "cy"}},
    ])  # fmt: skip
    task = run_import(client, path)
    assert task["state"] == "completed" and task["error_count"] == 0
    users = {u["id"]: (u.get("name"), u.get("custom")) for u in client.query_users()}
    assert users == {"ann": ("Ann", {"bio": "kept"}), "bob": (None, {}), "cy": ("Cy", {})}


def test_a_file_of_no_valid_line_fails_its_analysis(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"not json\n{}\n")
    task = run_import(client, path)
    assert task["state"] == "analyze_failed" and task["error_count"] == 2


# -- upload URLs ----------------------------------------------------------------------------


def test_an_upload_url_is_signed_single_use_and_never_holds_the_secret(
    client: Client, tmp_path: Path
) -> None:
    url = client.create_import_url("../../etc/passwd")
    assert "/" not in url["path"].split("/", 1)[1] and ".." not in url["path"]
    assert client._secret is not None and client._secret.reveal() not in url["upload_url"]
    path = write_lines(tmp_path / "u.jsonl", [{"type": "user", "data": {"id": "ann"}}])
    client.upload_import_file(url["upload_url"], path)
    client.upload_import_file(url["upload_url"], path)  # a retry whose answer was lost
    other = write_lines(tmp_path / "v.jsonl", [{"type": "user", "data": {"id": "bob"}}])
    with pytest.raises(APIError) as used:
        client.upload_import_file(url["upload_url"], other)
    assert used.value.status == 403 and "used" in str(used.value)
    task = wait(client, client.create_import(url["path"])["id"])  # the first bytes stand
    assert task["applied"] == 1 and [u["id"] for u in client.query_users()] == ["ann"]


@pytest.mark.parametrize("change", ["signature", "expires"])
def test_an_upload_url_changed_is_refused(client: Client, tmp_path: Path, change: str) -> None:
    url = httpx.URL(client.create_import_url("f.jsonl")["upload_url"])
    params = dict(url.params)
    params[change] = "0" if change == "expires" else "f" * 64
    answer = client._http.put(url.copy_with(params=params), content=b"{}\n")
    assert_error_body(answer, 403)


def test_an_expired_upload_url_is_refused(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedkit.server import imports

    monkeypatch.setattr(imports, "UPLOAD_URL_TTL_S", -10)
    url = client.create_import_url("f.jsonl")["upload_url"]
    body = assert_error_body(client._http.put(url, content=b"{}\n"), 403)
    assert "expired" in body["message"]


def test_an_upload_past_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    with _small_app(max_upload_bytes=100) as c:
        url = c.create_import_url("big.jsonl")["upload_url"]
        answer = c._http.put(url, content=b"x" * 101)
        assert_error_body(answer, 413)
        assert c._http.put(url, content=b"x" * 100).status_code == 200  # not used up


def test_an_import_of_a_path_never_uploaded_is_refused(client: Client) -> None:
    url = client.create_import_url("f.jsonl")
    with pytest.raises(APIError) as refused:
        client.create_import(url["path"])
    assert refused.value.status == 400 and "path" in (refused.value.exception_fields or {})
    with pytest.raises(APIError) as mode:
        client.create_import(url["path"], mode="replace")
    assert "mode" in (mode.value.exception_fields or {})


def test_imports_need_a_server_side_token(client: Client) -> None:
    with pytest.raises(APIError) as refused:
        client.as_user("ann").create_import_url("f.jsonl")
    assert refused.value.status == 403
    with pytest.raises(APIError) as missing:
        client.get_import("no-such-task")
    assert missing.value.status == 404


# -- the line checks ------------------------------------------------------------------------


def test_the_line_checks_agree_with_the_vendor_schemas(app_file: Path) -> None:
    """Every line of a whole app, and a broken variant of each line type, is judged the same
    by :func:`check_line` and by jsonschema over the reference schemas."""
    check = validator()
    samples = [orjson.loads(raw) for raw in app_file.read_bytes().splitlines()]
    for kind in KINDS:
        samples += [{"type": kind, "data": {}}, {"type": kind, "data": {"id": 3}}]
    samples += [{"type": "user", "data": {"id": "bad id!"}}, {"type": "user"}]
    for line in samples:
        ours = check_line(orjson.dumps(line))[2]
        theirs = [e.message for e in check.iter_errors(line)]
        assert (ours is None) == (not theirs), (line, ours, theirs)


# -- a server killed mid-import -------------------------------------------------------------


def _progress(db_path: Path) -> tuple[str, int]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT state, doc FROM import_tasks").fetchone()
    return ("", 0) if row is None else (row[0], orjson.loads(row[1])["line"])


def test_a_server_killed_mid_import_resumes_and_ends_with_exactly_the_file(
    tmp_path: Path, app_file: Path
) -> None:
    # The app and 10,000 more posts: long enough to be killed half way.
    extra = [{"type": "activity", "data": {"id": f"x{i}", "type": "post", "user_id": "kim",
              "fids": ["user:kim"], "text": f"post {i}",
              "created_at": f"2021-01-01T00:00:{i % 60:02d}Z"}} for i in range(10_000)]  # fmt: skip
    path = tmp_path / "big.jsonl"
    path.write_bytes(app_file.read_bytes() + b"".join(orjson.dumps(x) + b"\n" for x in
                     [{"type": "user", "data": {"id": "kim"}}, *extra]))  # fmt: skip
    total = len(path.read_bytes().splitlines())
    db_path, secret = tmp_path / "srv.db", new_secret()
    server = start(db_path, api_secret=secret)
    try:
        c = server.client()
        url = c.create_import_url(path.name)
        c.upload_import_file(url["upload_url"], path)
        task_id = c.create_import(url["path"])["id"]
        c.close()
        end = time.monotonic() + TIMEOUT_S
        while _progress(db_path)[1] < 1000 and time.monotonic() < end:
            time.sleep(0.005)
        server.proc.kill()
        assert server.proc.wait(timeout=STOP_TIMEOUT_S) == -signal.SIGKILL
    finally:
        server.process.stop(STOP_TIMEOUT_S)
    state, line = _progress(db_path)
    assert state == "importing" and 0 < line < total, (state, line, total)
    server = start(db_path, api_secret=secret)
    try:
        with server.client() as c:
            task = wait(c, task_id)
    finally:
        server.process.stop(STOP_TIMEOUT_S)
    assert task["state"] == "completed", task
    assert task["applied"] == total and task["error_count"] == 0
    assert_holds_exactly(db_path, path)


# -- the official SDK -----------------------------------------------------------------------


def test_the_official_sdk_imports_through_the_server(
    sdk_client: Any, live_server: Any, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "sdk.jsonl", [
        {"type": "user", "data": {"id": "ann"}},
        {"type": "activity", "data": {"id": "s1", "type": "post", "user_id": "ann",
                                      "fids": ["user:ann"], "text": "from the SDK"}},
    ])  # fmt: skip
    url = sdk_client.create_import_url(filename="sdk.jsonl").data
    answer = httpx.put(url.upload_url, content=path.read_bytes(), timeout=15.0)
    assert answer.status_code == 200, answer.text
    task = sdk_client.create_import(mode="upsert", path=url.path).data.import_task
    end = time.monotonic() + TIMEOUT_S
    while task.state not in DONE and time.monotonic() < end:
        time.sleep(0.05)
        task = sdk_client.get_import(id=task.id).data.import_task
    assert task.state == "completed"
    assert [h.next_state for h in task.history][-1] == "completed"
    listed = sdk_client.list_imports().data.import_tasks
    assert [t.id for t in listed] == [task.id]
    with live_server.client() as c:
        assert c.get_activity("s1")["text"] == "from the SDK"
