"""The protocol table: each operation as the vendor's spec declares it, declared nowhere else."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedkit.protocol import OPERATIONS, OPS, SPEC_OPERATIONS, markdown_table, segment
from feedkit.server.app import HANDLERS, ROUTES

ROOT = Path(__file__).resolve().parents[1]
SPEC = json.loads((ROOT / "tests" / "reference" / "feeds-serverside-api.json").read_text())


def test_every_operation_is_the_specs() -> None:
    declared = {
        op["operationId"]: (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }
    for op in OPERATIONS:
        assert declared.get(op.id) == (op.method, op.pattern), op.id
    assert len(OPS) == len(OPERATIONS)


def test_the_server_routes_exactly_the_operations_it_handles() -> None:
    assert set(HANDLERS) <= set(OPS)
    assert [op.id for op in ROUTES] == [op.id for op in OPERATIONS if op.id in HANDLERS]


def test_no_module_but_the_protocol_writes_a_path() -> None:
    found = []
    for path in sorted((ROOT / "feedkit").rglob("*.py")):
        if path.name == "protocol.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"[\"'/]api/v2", line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


@given(st.text(min_size=1), st.text(min_size=1))
def test_any_parameters_travel_as_one_segment_each(source: str, target: str) -> None:
    op = OPS["Unfollow"]
    raw = op.path(source=source, target=target)
    segments = [unquote(s) for s in raw.strip("/").split("/")]
    assert op.match("DELETE", segments) == {"source": source, "target": target}
    assert op.match("POST", segments) is None


def test_dot_segments_are_encoded() -> None:
    assert [segment(x) for x in (".", "..", "...", "a.b")] == ["%2E", "%2E%2E", "...", "a.b"]


def test_the_spec_operation_list_is_the_specs() -> None:
    declared = sorted(
        (op["operationId"], method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    )
    assert sorted((op.id, op.method, op.pattern) for op in SPEC_OPERATIONS) == declared
    assert {op.id for op in OPERATIONS} <= {op.id for op in SPEC_OPERATIONS}


def test_an_operation_not_implemented_answers_501_naming_it() -> None:
    import feedkit

    with feedkit.connect(":memory:") as client:
        for operation, params in [("TranslateComment", {"id": "c"}),
                                  ("ActivityFeedback", {"activity_id": "a"}),
                                  ("QueryPolls", {}),
                                  # a literal path, not GetImport of an import named "v2"
                                  ("ListImportV2Tasks", {})]:  # fmt: skip
            op = SPEC_OPERATIONS_BY_ID[operation]
            with pytest.raises(feedkit.APIError) as caught:
                client.request(op.method, op.path(**params), json={})
            assert caught.value.status == 501 and operation in str(caught.value)
        with pytest.raises(feedkit.NotFoundError):  # a path of no operation at all
            client.request("GET", "/api/v2/feeds/no-such-thing")


SPEC_OPERATIONS_BY_ID = {op.id: op for op in SPEC_OPERATIONS}


def test_the_readme_lists_the_operations_of_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = readme.split("<!-- operations -->\n", 1)[1].split("\n<!-- /operations -->", 1)[0]
    assert listed == markdown_table(), "regenerate with feedkit.protocol.markdown_table()"


def test_one_grep_of_an_operation_id_finds_where_it_is_served_and_spoken() -> None:
    """Grep an operationId: the protocol table declares it, the app routes it, the server
    module of its resource serves it (and names it), and the client speaks it."""
    from feedkit.server.app import HANDLERS, ROUTES

    modules = [p for p in (ROOT / "feedkit" / "server").glob("*.py") if p.name != "app.py"]
    server = {p.name: p.read_text(encoding="utf-8") for p in modules}
    client = (ROOT / "feedkit" / "client.py").read_text(encoding="utf-8")
    unnamed = [op.id for op in ROUTES if not any(op.id in text for text in server.values())]
    unspoken = [op.id for op in ROUTES if f'"{op.id}"' not in client]
    assert unnamed == [] and unspoken == []
    assert {op.id for op in ROUTES} == set(HANDLERS)
