"""Malformed, unknown, oversize and wrong-method requests get a 4xx with {"error", "detail"}."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["detail"], str)
    if code is not None:
        assert body["error"] == code


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        (
            "POST",
            "/v1/auth/request-code",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/auth/request-code",
            {"json": {"phone": "+79991234567", "admin": True}},
            422,
            "validation_error",
        ),
        ("POST", "/v1/auth/request-code", {"json": ["+79991234567"]}, 422, "validation_error"),
        ("POST", "/v1/auth/request-code", {"json": {"phone": 79991234567}}, 422, "validation_error"),
        (
            "POST",
            "/v1/auth/verify",
            {"json": {"phone": "+79991234567", "code": "12ab56", "device_name": "x", "platform": "y"}},
            422,
            "validation_error",
        ),
        ("POST", "/v1/auth/request-code", {"content": b"x" * 2_000_000}, 413, "payload_too_large"),
        ("GET", "/v1/no/such/route", {}, 404, "not_found"),
        ("DELETE", "/healthz", {}, 405, "method_not_allowed"),
        ("GET", "/v1/devices", {}, 401, "missing_token"),
        ("GET", "/v1/devices", {"headers": {"Authorization": "Bearer nope"}}, 401, "invalid_token"),
        ("GET", "/v1/sync?cursor=-1", {"headers": {"Authorization": "Bearer nope"}}, 401, None),
    ],
)
async def test_anonymous_bad_requests(
    node: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str | None
) -> None:
    async with httpx.AsyncClient(base_url=node.url, timeout=60) as http:
        assert_error(await http.request(method, path, **kwargs), status, code)


async def test_authenticated_bad_requests(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    http = alice.http
    assert_error(await http.get("/v1/sync", params={"cursor": -1}), 422, "validation_error")
    assert_error(await http.get(f"/v1/chats/{chat}/messages", params={"after": "x"}), 422)
    alice.crypto.account.generate_one_time_keys(1)
    keys = alice.crypto.publication()
    assert_error(await http.put("/v1/keys", json={**keys, "identity_key": "A" * 44}), 400, "invalid_key")
    assert_error(await http.put("/v1/keys", json={**keys, "identity_key": "!" * 44}), 400, "invalid_key")
    assert_error(
        await http.put("/v1/keys", json={**keys, "identity_key": bob.crypto.identity_key}),
        400,
        "invalid_signature",
    )
    forged = [{**keys["prekeys"][0], "signature": keys["identity_signature"]}]  # type: ignore[index]
    assert_error(await http.put("/v1/keys", json={**keys, "prekeys": forged}), 400, "invalid_signature")
    assert_error(await http.post("/v1/chats", json={"kind": "channel", "members": []}), 422)
    assert_error(
        await http.post("/v1/chats", json={"kind": "group", "members": ["bob"]}), 400, "invalid_user"
    )
    message = {"client_msg_id": "big", "ciphertext": "x" * 70_000, "session_id": "s"}
    assert_error(await http.post(f"/v1/chats/{chat}/messages", json=message), 400, "ciphertext_too_large")
    assert_error(
        await http.post(f"/v1/chats/{chat}/messages", json={"client_msg_id": "e", "ciphertext": "eA=="}),
        422,
        "validation_error",
    )
    assert_error(
        await http.post(f"/v1/chats/{chat}/messages", json={**message, "ciphertext": "eA==", "extra": 1}),
        422,
        "validation_error",
    )
    edit = {"ciphertext": "eA==", "session_id": "s"}
    assert_error(await http.patch(f"/v1/chats/{chat}/messages/7", json=edit), 404, "message_not_found")
    to_bob = {"messages": {bob.user_id: {bob.device_id: "eA=="}}}
    assert_error(
        await http.put(
            "/v1/sendToDevice/t1", json={"messages": {bob.user_id: {"d0000000000000000": "eA=="}}}
        ),
        404,
        "unknown_device",
    )
    assert_error(
        await http.put("/v1/sendToDevice/t1", json={"messages": {alice.user_id: {bob.device_id: "eA=="}}}),
        404,
        "unknown_device",
    )
    assert_error(
        await http.put(
            "/v1/sendToDevice/t1", json={"messages": {bob.user_id: {bob.device_id: "x" * 70_000}}}
        ),
        400,
        "ciphertext_too_large",
    )
    assert_error(await http.put(f"/v1/sendToDevice/{'t' * 65}", json=to_bob), 422, "validation_error")
    assert_error(await http.put("/v1/sendToDevice/t1", json={"messages": []}), 422, "validation_error")
    assert_error(
        await http.post("/v1/keys/claim", json={"devices": {bob.user_id: ["d0000000000000000"]}}),
        404,
        "unknown_device",
    )
    assert_error(await http.post("/v1/keys/claim", json={"devices": {}}), 422, "validation_error")
    assert_error(await http.get("/v1/keys/backup"), 404, "backup_not_found")
    assert_error(
        await http.put("/v1/keys/backup", json={"version": 1, "sessions": {}}), 404, "backup_not_found"
    )
    assert_error(
        await http.post("/v1/keys/backup/version", json={"public_key": "!" * 44}), 400, "invalid_key"
    )
    assert_error(await http.post(f"/v1/chats/{chat}/pins", json={"seq": 3}), 404, "message_not_found")
    assert_error(await http.get("/v1/users/u0123456789abcdef@RU-MOW/devices"), 404, "user_not_found")


# Integers a column cannot hold: PostgreSQL ``integer`` ends at 2**31 - 1, SQLite's at 2**63 - 1; both
# were a 500 (and sometimes a dropped kept-alive connection) on the routes below.
TOO_BIG = [2**31, 2**63, 2**70]


@pytest.mark.parametrize("big", TOO_BIG)
async def test_integers_beyond_the_database_are_422(
    signup: Signup, trust_node: Any, admin_phone: str, big: int
) -> None:
    alice, bob = await signup(node_=trust_node), await signup(node_=trust_node)
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "hello")
    channel = (await alice.request("POST", "/v1/channels", json={"title": "news"}))["id"]
    admin = await signup(phone=admin_phone, node_=trust_node)
    http = alice.http
    calls: list[tuple[httpx.AsyncClient, str, str, dict[str, Any]]] = [
        (http, "GET", f"/v1/chats/{chat}/messages", {"params": {"after": big}}),
        (http, "GET", f"/v1/chats/{chat}/messages/{big}/replies", {}),
        (http, "GET", f"/v1/chats/{chat}/messages/1/replies", {"params": {"after": big}}),
        (http, "PATCH", f"/v1/chats/{chat}/messages/{big}", {"json": {"ciphertext": "x", "session_id": "s"}}),
        (http, "DELETE", f"/v1/chats/{chat}/messages/{big}", {}),
        (http, "POST", f"/v1/chats/{chat}/pins", {"json": {"seq": big}}),
        (http, "DELETE", f"/v1/chats/{chat}/pins/{big}", {}),
        (http, "POST", f"/v1/chats/{chat}/read", {"json": {"seq": big}}),
        (
            http,
            "POST",
            f"/v1/chats/{chat}/messages",
            {"json": {"client_msg_id": "r", "ciphertext": "x", "session_id": "s", "reply_to": big}},
        ),
        (http, "GET", f"/v1/channels/{channel}/posts", {"params": {"after": big}}),
        (http, "GET", f"/v1/channels/{channel}/posts/{big}/stats", {}),
        (http, "POST", f"/v1/channels/{channel}/read", {"json": {"seq": big}}),
        (admin.http, "GET", "/v1/admin/audit", {"params": {"after": big}}),
    ]
    for client, method, path, kwargs in calls:
        response = await client.request(method, path, **kwargs)
        assert_error(response, 422, "validation_error")
        assert response.headers.get("connection") != "close", (method, path)
    assert (await http.get(f"/v1/chats/{chat}/messages", params={"after": 2**31 - 1})).json() == []


async def test_booleans_are_not_numbers(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "hello")
    http = alice.http
    assert_error(await http.post(f"/v1/chats/{chat}/pins", json={"seq": True}), 422, "validation_error")
    assert_error(await http.post(f"/v1/chats/{chat}/read", json={"seq": True}), 422, "validation_error")
    assert_error(await http.post(f"/v1/chats/{chat}/pins", json={"seq": "1"}), 422, "validation_error")
    point = {"lat": True, "lon": 37.6}
    assert_error(await http.post(f"/v1/chats/{chat}/locations", json=point), 422, "validation_error")
    assert (await http.post(f"/v1/chats/{chat}/pins", json={"seq": 1})).status_code == 204


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/v1/chats", "GET, POST"), ("/v1/contacts", "DELETE, GET, POST"), ("/healthz", "GET")],
)
async def test_405_lists_every_method_of_the_path(node: Any, path: str, allow: str) -> None:
    """A path served by one route per method: ``Allow`` names them all (RFC 9110 §15.5.6), not the first."""
    async with httpx.AsyncClient(base_url=node.url) as http:
        response = await http.request("PATCH", path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow
