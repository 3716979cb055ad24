"""UpdateUsers of the embedded server: the answer is rendered from what was written (each
user as a read finds it after), a replaced user keeps when it was deactivated or deleted, and
a bad user refuses the batch as it did."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedkit.schema.user import USER_FIELDS, validate_user
from feedkit.server.auth import APP
from feedkit.server.problems import Problem
from feedkit.server.service import AppService
from feedkit.server.store import Store

USERS: dict[str, Any] = {
    "ann": {"name": "Ann", "custom": {"prefs": {"theme": "dark"}, "n": 1.5}, "teams": ["a"]},
    "bob": {"image": "https://x.example/b.png", "language": "fr", "role": "admin"},
    "cy": {},
}


@pytest.fixture
def service(tmp_path: Any) -> Iterator[AppService]:
    store = Store(str(tmp_path / "users.db"))
    yield AppService(store)
    store.close()


def _read(service: AppService, ids: list[str]) -> dict[str, Any]:
    payload = orjson.dumps({"filter_conditions": {"id": {"$in": ids}},
                            "include_deactivated_users": True}).decode()  # fmt: skip
    return {u["id"]: u for u in service.users.query(APP, {"payload": payload})["users"]}


def test_the_answer_is_each_user_as_a_read_finds_it(service: AppService) -> None:
    service.users.update(APP, {"users": {"bob": {"name": "Old Bob"}}})
    service.users.deactivate(APP, "bob", {})
    answer = service.users.update(APP, {"users": USERS})["users"]
    assert list(answer) == list(USERS)
    assert answer == _read(service, list(USERS))
    assert answer["bob"]["deactivated_at"] > 0 and "name" not in answer["bob"]
    assert answer["ann"]["created_at"] == answer["ann"]["updated_at"]
    assert answer["bob"]["created_at"] < answer["bob"]["updated_at"]


def test_a_partial_update_answers_as_a_read_finds_it(service: AppService) -> None:
    service.users.update(APP, {"users": USERS})
    changes = [{"id": "ann", "set": {"custom.n": 2}, "unset": ["teams"]},
               {"id": "dan", "set": {"name": "Dan"}}]  # fmt: skip
    answer = service.users.update_partial(APP, {"users": changes})["users"]
    assert answer == _read(service, ["ann", "dan"])
    assert answer["ann"]["custom"] == {"prefs": {"theme": "dark"}, "n": 2}


def test_a_bad_user_refuses_the_batch_naming_it(service: AppService) -> None:
    bad = {**USERS, "dan": {"name": 7, "teams": "x"}}
    with pytest.raises(Problem) as caught:
        service.users.update(APP, {"users": bad})
    assert caught.value.status == 400
    assert set(caught.value.fields) == {"users.dan.name", "users.dan.teams"}
    assert _read(service, list(bad)) == {}


_VALUES = st.one_of(
    st.text(max_size=3), st.sampled_from(["", "x" * 300, "admin", "user"]), st.integers(-2, 2),
    st.booleans(), st.none(), st.floats(allow_nan=True),
    st.lists(st.one_of(st.text(max_size=2), st.integers()), max_size=3),
    st.dictionaries(st.sampled_from(["a", "theme", 7]), st.one_of(st.integers(), st.text(
        max_size=2), st.none(), st.lists(st.integers(), max_size=2)), max_size=2),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*USER_FIELDS, "unknown"]), _VALUES, max_size=4))
def test_the_fast_verdict_of_a_user_is_that_of_its_errors(changed: dict[str, Any]) -> None:
    """``validate_user`` answers a valid user by each field's ``accepts``; the verdict is
    the same as the full checks'."""
    user = {"id": "ann", "name": "Ann", **changed}
    with mock.patch("feedkit.schema.user._accepted", return_value=False):
        full = validate_user(user)
    assert (validate_user(user) == []) == (full == []), (user, full)
    if full:  # the reasons are the full checks' own
        assert validate_user(user) == full
