"""A 100,000-row import through a fault-injecting proxy stores every valid row exactly once.

``tests/_proxy.py`` sits on 127.0.0.1 between ``feedkit.import_activities`` and a real
``feedkit serve`` and spoils 20% of the requests, spread evenly over eight kinds: 429 with
Retry-After, 500, 502 (after the write was applied), 503, connection resets before and after
the server saw the request, answers held past the client's timeout, and truncated bodies. The
import must still end with every valid row stored once, equal to its source, and a report that
accounts for every row; the figures go to RELIABILITY.md (section "faults").

The first tests check the proxy itself, one kind at a time, on a small server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _bigimport import MAPPING, Expected, assert_exact, write_source
from _proxy import KINDS, NOT_FORWARDED, FaultProxy
from _reliability import record, table
from _serve import ACTIVITIES, Server, auth_headers, new_secret, running, server_token

import feedkit
from feedkit.bulk import ImportOptions

pytestmark = pytest.mark.reliability

_DEFAULTS = ImportOptions()  # what import_activities runs with
ROWS = 100_000
FAULT_RATE = 0.20
RATES = {kind: FAULT_RATE / len(KINDS) for kind in KINDS}
SEED = 20_260_301
CLIENT_TIMEOUT_S = 2.0
RETRY_AFTER_S = (0, 1)  # the Retry-After of the proxy's 429s, drawn from these
SLOW_S = CLIENT_TIMEOUT_S + 1.0  # a slow answer is held past the client's timeout
# At 20% faults, five attempts leave 0.2**5 = 1 request in 3,000 failed: about one of the
# 1,000 requests of the import. Ten leave 1 in 10 million.
RETRY = feedkit.Retry(attempts=10, backoff=0.1, max_backoff=2.0)
# What the client names the retry each kind causes: its status, or (for the transport faults)
# one of the httpx errors a broken connection raises.
STATUS_KINDS = ("429", "500", "502", "503")
TRANSPORT_KINDS = ("reset_before", "reset_after", "slow", "truncated")
TRANSPORT_ERRORS = frozenset(
    {"ReadError", "RemoteProtocolError", "ReadTimeout", "WriteError", "ConnectError"}
)


# --------------------------------------------------------------------------------------------
# the proxy, one kind at a time
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("proxy") / "proxy.db"
    with running(db, api_secret=new_secret()) as server:
        yield server


def _raw(server: Server, url: str, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(
        base_url=url,
        headers=auth_headers(server_token(server.api_secret)),
        params={"api_key": server.api_key},
        timeout=timeout,
    )


def _activity(activity_id: str) -> dict[str, object]:
    return {"id": activity_id, "type": "post", "feeds": ["user:ann"], "user_id": "ann"}


def test_the_proxy_relays_keep_alive_and_chunked_requests(small_server: Server) -> None:
    with FaultProxy(small_server.base_url) as proxy, _raw(small_server, proxy.url) as http:
        for i in range(5):
            assert http.post(ACTIVITIES, json=_activity(f"relay-{i}")).status_code == 201
        body = httpx.Request("POST", "/", json=_activity("relay-chunked")).content
        chunked = http.post(ACTIVITIES, content=iter([body[:20], body[20:]]))
        assert "content-length" not in chunked.request.headers
        assert chunked.status_code == 201, chunked.text
        assert http.get(f"{ACTIVITIES}/relay-chunked").json()["activity"]["user"]["id"] == "ann"
        assert http.get(f"{ACTIVITIES}/nope").status_code == 404
        counts = proxy.counts()
    assert counts["connections"] == 1  # every request on one kept-alive connection
    assert counts["received"] == counts["forwarded"] == counts["delivered"] == 8
    assert counts["injected"] == {} and counts["upstream_errors"] == 0


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_looks_as_it_should_to_the_client(small_server: Server, kind: str) -> None:
    aid = f"fault-{kind}"
    with (
        FaultProxy(small_server.base_url, {kind: 1.0}, slow_s=1.0, retry_after=(1,)) as proxy,
        _raw(small_server, proxy.url, timeout=0.5) as http,
    ):
        if kind in STATUS_KINDS:
            response = http.post(ACTIVITIES, json=_activity(aid))
            assert response.status_code == int(kind)
            assert response.json()["StatusCode"] == int(kind)
            if kind == "429":
                assert response.headers["Retry-After"] == "1"
        else:
            with pytest.raises(httpx.TransportError) as exc:
                http.post(ACTIVITIES, json=_activity(aid))
            assert type(exc.value).__name__ in TRANSPORT_ERRORS
            if kind == "slow":
                assert isinstance(exc.value, httpx.ReadTimeout)
        counts = proxy.counts()
    assert counts["injected"] == {kind: 1}
    assert counts["forwarded"] == (0 if kind in NOT_FORWARDED else 1)
    with _raw(small_server, small_server.base_url) as direct:
        stored = direct.get(f"{ACTIVITIES}/{aid}").status_code
    assert stored == (404 if kind in NOT_FORWARDED else 200)


# --------------------------------------------------------------------------------------------
# the 100,000-row import at 20% faults
# --------------------------------------------------------------------------------------------


@pytest.mark.timeout(400)
def test_import_through_20_percent_faults_stores_every_valid_row_once(tmp_path: Path) -> None:
    source = write_source(tmp_path / "posts-100k.parquet", ROWS)
    expected = Expected(source)
    errors_csv = tmp_path / "errors.csv"
    secret = new_secret()
    with (
        running(tmp_path / "faults.db", api_secret=secret) as server,
        FaultProxy(
            server.base_url, RATES, seed=SEED, slow_s=SLOW_S, retry_after=RETRY_AFTER_S
        ) as proxy,
        feedkit.connect(
            base_url=proxy.url,
            api_key=server.api_key,
            api_secret=secret,
            timeout=CLIENT_TIMEOUT_S,
            retry=RETRY,
        ) as client,
    ):
        started = time.perf_counter()
        report = feedkit.import_activities(
            client, source, MAPPING, progress=False, errors_path=errors_csv
        )
        duration = time.perf_counter() - started
        counts = proxy.counts()
        retries = dict(client.retries)
    checked = assert_exact(server.db_path, expected)

    # the report accounts for every row
    assert report.rows_read == expected.rows_read == ROWS
    assert report.valid == expected.valid and report.invalid == expected.invalid > 0
    assert report.valid + report.invalid == report.rows_read
    assert report.sent == report.acknowledged == report.valid
    assert report.failed == report.skipped == 0
    assert "send_failed" not in set(report.errors["code"])
    assert report.errors["row"].nunique() == report.invalid

    # faults were injected at the rate asked, of every kind, and each one was retried
    injected = counts["injected"]
    assert set(injected) == set(KINDS)
    total_faults = sum(injected.values())
    assert 0.15 < total_faults / counts["received"] < 0.25, counts
    for kind in STATUS_KINDS:
        assert retries.get(kind, 0) == injected[kind], (kind, retries, injected)
    transport_retries = sum(n for cause, n in retries.items() if cause not in STATUS_KINDS)
    assert set(retries) - set(STATUS_KINDS) <= TRANSPORT_ERRORS, retries
    assert transport_retries >= sum(injected[k] for k in TRANSPORT_KINDS)
    resent = counts["rows_forwarded"] - report.valid
    assert resent >= 0

    rows = [[kind, injected[kind]] for kind in KINDS]
    rows.append(
        [
            "**total**",
            f"**{total_faults}** of {counts['received']} requests "
            f"({total_faults / counts['received']:.1%})",
        ]
    )
    retry_rows = [[cause, n] for cause, n in sorted(retries.items())]
    retry_rows.append(["**total**", f"**{sum(retries.values())}**"])
    figures = [
        ["rows read", f"{report.rows_read:,}"],
        ["valid / invalid", f"{report.valid:,} / {report.invalid:,}"],
        ["acknowledged / failed", f"{report.acknowledged:,} / {report.failed}"],
        [
            "stored (checked field by field)",
            f"{checked['activities']:,} activities, {checked['fields']:,} fields",
        ],
        ["requests forwarded to the server", f"{counts['forwarded']:,}"],
        [
            "rows that reached the server (more than once: applied, answer lost)",
            f"{counts['rows_forwarded']:,} ({resent:,})",
        ],
        ["duration", f"{duration:.1f} s ({report.valid / duration:,.0f} valid rows/s)"],
    ]
    summary = "\n".join(
        [
            f"faults by kind: {injected}",
            f"retries by cause: {retries}",
            f"proxy: {counts}",
            f"duration {duration:.1f} s, {report.valid / duration:,.0f} rows/s",
            report.summary(),
        ]
    )
    print(summary)
    record(
        "faults",
        f"Faults: a {ROWS:,}-row import at a {FAULT_RATE:.0%} fault rate",
        f"""
`feedkit.import_activities` ({_DEFAULTS.concurrency} workers, requests of
{_DEFAULTS.batch_size}) sends {ROWS:,} rows (the sample
`data/posts.parquet` repeated, {report.invalid} of them deliberately invalid) through a proxy
(`tests/_proxy.py`) that spoils {FAULT_RATE:.0%} of the requests, evenly over {len(KINDS)} kinds, on
their way to `feedkit serve`. Client: timeout {CLIENT_TIMEOUT_S:g} s,
`Retry(attempts={RETRY.attempts}, backoff={RETRY.backoff:g}, max_backoff={RETRY.max_backoff:g})`;
429s carry `Retry-After` {" or ".join(map(str, RETRY_AFTER_S))} s; slow answers are held
{SLOW_S:g} s. Result: **every valid row
stored exactly once and equal to its source**, no row failed, the feed index and share counts
consistent, `PRAGMA integrity_check` ok.

{table(["fault injected", "count"], rows)}

{table(["client retry, by cause", "count"], retry_rows)}

{table(["figure", "value"], figures)}
""",
        test="tests/test_reliability_faults.py::"
        "test_import_through_20_percent_faults_stores_every_valid_row_once",
    )
