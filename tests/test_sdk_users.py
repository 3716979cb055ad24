"""Users through the official SDK (getstream 7.0.0, unmodified) against ``feedkit serve``: every
user operation, the SDK's own response parsing, and the data it sent coming back field for
field (teams_role and privacy_settings included)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from getstream import Stream, StreamApiException
from getstream.models import (
    PrivacySettingsResponse,
    QueryUsersPayload,
    SortParamRequest,
    TypingIndicatorsResponse,
    UpdateUserPartialRequest,
    UserRequest,
)

import feedkit


def _ann() -> UserRequest:
    return UserRequest(
        id="ann",
        name="Ann",
        image="https://img/ann.png",
        role="admin",
        language="nl",
        invisible=True,
        teams=["red", "blue"],
        teams_role={"red": "lead", "blue": "member"},
        privacy_settings=PrivacySettingsResponse(
            typing_indicators=TypingIndicatorsResponse(enabled=False)
        ),
        custom={"city": "Utrecht", "age": 41},
    )


SENT: dict[str, Any] = {
    "name": "Ann",
    "image": "https://img/ann.png",
    "role": "admin",
    "language": "nl",
    "invisible": True,
    "teams": ["red", "blue"],
    "teams_role": {"red": "lead", "blue": "member"},
    "privacy_settings": {"typing_indicators": {"enabled": False}},
    "custom": {"city": "Utrecht", "age": 41},
}


def _as_sent(user: Any) -> dict[str, Any]:
    """The fields SENT names, as the SDK parsed them (its models' empty members dropped)."""

    def bare(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: bare(v) for k, v in value.items() if v is not None}
        return value

    data = user.to_dict()
    return {k: bare(data.get(k)) for k in SENT}


def _users(sdk_client: Stream) -> None:
    sdk_client.update_users(
        users={
            "ann": _ann(),
            "bob": UserRequest(
                id="bob", name="Bob", role="user", teams=["blue"], custom={"city": "Oslo"}
            ),
            "cy": UserRequest(id="cy", name="Cyrus", teams=["green"], custom={"city": "Oslo"}),
        }
    )


def test_update_users_keeps_and_answers_every_field(sdk_client: Stream) -> None:
    answer = sdk_client.update_users(users={"ann": _ann()})
    assert _as_sent(answer.data.users["ann"]) == SENT
    found = sdk_client.query_users(QueryUsersPayload(filter_conditions={"id": "ann"}))
    assert [_as_sent(u) for u in found.data.users] == [SENT]


def test_query_users_filters_sorts_and_pages(sdk_client: Stream) -> None:
    _users(sdk_client)

    def ids(**payload: Any) -> list[str]:
        answer = sdk_client.query_users(QueryUsersPayload(**payload))
        return [u.id for u in answer.data.users]

    assert ids(filter_conditions={"role": "admin"}) == ["ann"]
    assert ids(filter_conditions={"teams": {"$contains": "blue"}}) == ["ann", "bob"]
    assert ids(filter_conditions={"custom.city": "Oslo"}) == ["bob", "cy"]
    assert ids(filter_conditions={"name": {"$autocomplete": "cy"}}) == ["cy"]
    assert ids(filter_conditions={"id": {"$in": ["cy", "ann", "zed"]}}) == ["ann", "cy"]
    by_name = [SortParamRequest(field="name", direction=-1)]
    assert ids(filter_conditions={}, sort=by_name) == ["cy", "bob", "ann"]
    assert ids(filter_conditions={}, sort=by_name, limit=1, offset=1) == ["bob"]


def test_update_users_partial_sets_and_unsets(sdk_client: Stream) -> None:
    _users(sdk_client)
    answer = sdk_client.update_users_partial(
        users=[
            UpdateUserPartialRequest(
                id="bob", set={"name": "Robert", "custom.age": 7}, unset=["custom.city"]
            )
        ]
    )
    bob = answer.data.users["bob"]
    assert (bob.name, bob.custom, bob.teams) == ("Robert", {"age": 7}, ["blue"])
    with pytest.raises(StreamApiException) as refused:
        sdk_client.update_users_partial(users=[UpdateUserPartialRequest(id="bob", unset=["id"])])
    assert refused.value.status_code == 400


def test_deactivate_reactivate_delete_and_restore(sdk_client: Stream) -> None:
    _users(sdk_client)

    def visible() -> list[str]:
        return [
            u.id for u in sdk_client.query_users(QueryUsersPayload(filter_conditions={})).data.users
        ]

    one = sdk_client.deactivate_user("bob")
    assert one.data.user is not None and one.data.user.deactivated_at is not None
    assert visible() == ["ann", "cy"]
    task = sdk_client.deactivate_users(user_ids=["ann", "cy"]).data.task_id
    assert sdk_client.get_task(task).data.status == "completed"
    assert visible() == []
    sdk_client.reactivate_user("bob")
    sdk_client.reactivate_users(user_ids=["ann", "cy"])
    assert visible() == ["ann", "bob", "cy"]
    deleted = sdk_client.delete_users(user_ids=["cy"]).data.task_id
    assert sdk_client.get_task(deleted).data.status == "completed"
    (cy,) = sdk_client.query_users(QueryUsersPayload(filter_conditions={"id": "cy"})).data.users
    assert cy.deleted_at is not None
    sdk_client.restore_users(user_ids=["cy"])
    (cy,) = sdk_client.query_users(QueryUsersPayload(filter_conditions={"id": "cy"})).data.users
    assert cy.deleted_at is None and cy.name == "Cyrus"
    sdk_client.delete_users(user_ids=["cy"], user="hard")
    assert (
        sdk_client.query_users(QueryUsersPayload(filter_conditions={"id": "cy"})).data.users == []
    )


@pytest.fixture
def admin(live_server: Any) -> Iterator[feedkit.Client]:
    """feedkit's own client, server-side, of the same live server."""
    with feedkit.connect(
        base_url=live_server.base_url,
        api_key=live_server.api_key,
        api_secret=live_server.api_secret,
    ) as client:
        yield client


def test_user_operations_need_a_server_token(admin: feedkit.Client) -> None:
    admin.upsert_users([{"id": "ann"}, {"id": "bob"}])
    as_ann = admin.as_user("ann")
    with pytest.raises(feedkit.APIError) as refused:
        as_ann.deactivate_user("bob")
    assert refused.value.status == 403
    with pytest.raises(feedkit.APIError):
        as_ann.update_users_partial([{"id": "bob", "set": {"name": "hacked"}}])
    assert admin.query_users({"id": "bob"})[0].get("name") is None


def test_feedkit_client_validates_users_before_sending(admin: feedkit.Client) -> None:
    with pytest.raises(feedkit.ValidationError, match=r"users\[0\]\.teams_role\.red"):
        admin.upsert_users([{"id": "ann", "teams_role": {"red": 1}}])
    with pytest.raises(feedkit.ValidationError, match="cannot be unset"):
        admin.update_users_partial([{"id": "ann", "unset": ["id"]}])


@pytest.mark.parametrize(
    ("operation", "body", "params"),
    [
        ("UpdateUsersPartial", {"users": [{"id": "ann", "unset": [["name"]]}]}, None),
        ("QueryUsers", None, {"payload": '{"filter_conditions": {"teams": ["red"]}}'}),
        ("QueryUsers", None, {"payload": '{"filter_conditions": {}, "sort": 7}'}),
        ("QueryFollows", {"filter": {"status": {"$in": 7}}, "sort": 7}, None),
    ],
)  # found by schemathesis: each was a 500 (an unhashable or unbindable value)
def test_malformed_members_are_400_naming_them(
    admin: feedkit.Client, operation: str, body: Any, params: Any
) -> None:
    admin.upsert_users([{"id": "ann"}])
    with pytest.raises(feedkit.APIError) as refused:
        admin.call(operation, json=body, params=params)
    assert refused.value.status == 400 and refused.value.exception_fields
