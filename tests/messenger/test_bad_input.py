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
    assert_error(await http.put("/v1/keys", json={"identity_key": "A" * 44}), 400, "invalid_key")
    assert_error(await http.put("/v1/keys", json={"identity_key": "!" * 44}), 400, "invalid_key")
    assert_error(await http.post("/v1/chats", json={"kind": "channel", "members": []}), 422)
    assert_error(
        await http.post("/v1/chats", json={"kind": "group", "members": ["bob"]}), 400, "invalid_user"
    )
    envelopes = [{"device_id": d, "ciphertext": "x" * 70_000} for d in (alice.device_id, bob.device_id)]
    assert_error(
        await http.post(f"/v1/chats/{chat}/messages", json={"client_msg_id": "big", "envelopes": envelopes}),
        400,
        "envelope_too_large",
    )
    twice = [{"device_id": bob.device_id, "ciphertext": "eA=="}] * 2
    assert_error(
        await http.post(f"/v1/chats/{chat}/messages", json={"client_msg_id": "d", "envelopes": twice}),
        400,
        "duplicate_envelope",
    )
    assert_error(
        await http.post(
            f"/v1/chats/{chat}/messages", json={"client_msg_id": "e", "envelopes": [], "extra": 1}
        ),
        422,
        "validation_error",
    )
    assert_error(
        await http.patch(f"/v1/chats/{chat}/messages/7", json={"envelopes": []}), 404, "message_not_found"
    )
    assert_error(await http.post(f"/v1/chats/{chat}/pins", json={"seq": 3}), 404, "message_not_found")
    assert_error(await http.get("/v1/users/u0123456789abcdef@RU-MOW/devices"), 404, "user_not_found")
