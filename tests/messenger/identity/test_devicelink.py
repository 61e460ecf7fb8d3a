"""Device sign-in by code: a new device asks, a signed-in device of the same account approves, the new
device claims its own token and keys; expiry (dev clock), single use, the wrong account, limits, audit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from clock_helpers import DevClock
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def audit_rows(node: Any, action: str) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    engine = create_async_engine(node.db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT actor, target, detail FROM audit_log WHERE action = :a ORDER BY seq"),
                {"a": action},
            )
            return [(r[0], r[1], json.loads(r[2])) for r in rows]
    finally:
        await engine.dispose()


async def failure(call: Awaitable[Any]) -> tuple[int, str]:
    with pytest.raises(ApiFailure) as err:
        await call
    return err.value.status, err.value.error


async def test_approved_code_signs_the_new_device_in_once(clock_node: Any, signup: Signup) -> None:
    phone = await signup(node_=clock_node, device_name="phone")
    assert phone.phone is not None
    link = await MessengerClient.start_device_link(
        clock_node.url, phone.phone, device_name="desk", platform="linux"
    )
    assert link["qr_payload"] == f"msgfleet://link/{link['code']}"
    assert await MessengerClient.finish_device_link(clock_node.url, link) is None  # not approved yet
    async with phone.socket(resume=False) as ws:
        approved = await phone.approve_device_link(link["code"].lower().replace("-", " "))  # as typed
        assert (approved["device_name"], approved["platform"]) == ("desk", "linux")
        desk = await MessengerClient.finish_device_link(clock_node.url, link)
        assert desk is not None
        added = await ws.next("device.added")
    try:
        assert desk.user_id == phone.user_id and desk.device_id != phone.device_id
        assert added["data"]["device_id"] == desk.device_id
        directory = await phone.request(
            "GET", f"/v1/users/{phone.user_id}/devices", params={"claim": "false"}
        )
        keys = {d["device_id"]: d["identity_key"] for d in directory}
        assert keys[desk.device_id] == desk.crypto.publication()["identity_key"]  # its own keys
        assert await failure(MessengerClient.finish_device_link(clock_node.url, link)) == (409, "link_used")
        assert await failure(phone.approve_device_link(link["code"])) == (409, "link_used")
    finally:
        await desk.close()
    assert (phone.user_id, link["link_id"]) in [
        (a, t) for a, t, _ in await audit_rows(clock_node, "device.link_approved")
    ]
    logins = [d for a, t, d in await audit_rows(clock_node, "auth.login") if t == desk.device_id]
    assert logins == [{"new_user": False, "via": "device_link"}]


async def test_another_account_cannot_approve(clock_node: Any, signup: Signup) -> None:
    owner, stranger = await signup(node_=clock_node), await signup(node_=clock_node)
    assert owner.phone is not None
    link = await MessengerClient.start_device_link(clock_node.url, owner.phone)
    assert await failure(stranger.approve_device_link(link["code"])) == (403, "link_wrong_user")
    refusals = await audit_rows(clock_node, "device.link_refused")
    assert (stranger.user_id, link["link_id"]) in [(a, t) for a, t, _ in refusals]
    assert await MessengerClient.finish_device_link(clock_node.url, link) is None
    await owner.approve_device_link(link["code"])
    desk = await MessengerClient.finish_device_link(clock_node.url, link)
    assert desk is not None and desk.user_id == owner.user_id
    await desk.close()


async def test_code_expires(clock_node: Any, clock: DevClock, signup: Signup) -> None:
    owner = await signup(node_=clock_node)
    assert owner.phone is not None
    link = await MessengerClient.start_device_link(clock_node.url, owner.phone)
    await clock.advance(121)  # device_link_ttl_seconds is 120
    assert await failure(owner.approve_device_link(link["code"])) == (400, "link_expired")
    assert await failure(MessengerClient.finish_device_link(clock_node.url, link)) == (400, "link_expired")


async def test_guessing_codes_is_rate_limited(clock_node: Any, signup: Signup) -> None:
    guesser = await signup(node_=clock_node)
    for _ in range(10):  # device_link_approvals_per_user
        assert await failure(guesser.approve_device_link("0000-0000")) == (404, "link_not_found")
    status, error = await failure(guesser.approve_device_link("0000-0000"))
    assert (status, error) == (429, "rate_limited")


async def test_new_codes_are_rate_limited_per_address(node_factory: Any) -> None:
    node = node_factory(MSGFLEET_DEVICE_LINK_RATE_PER_IP="2")
    for _ in range(2):
        await MessengerClient.start_device_link(node.url, "+79990000001")
    assert await failure(MessengerClient.start_device_link(node.url, "+79990000001")) == (429, "rate_limited")
