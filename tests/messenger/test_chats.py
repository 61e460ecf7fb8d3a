"""Membership is checked on every chat route; group roles (owner/admin/member), pins, leave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]

# Every route under /v1/chats/{chat_id}: (method, path suffix, JSON body).
CHAT_ROUTES = [
    ("GET", "", None),
    ("GET", "/devices", None),
    ("GET", "/messages", None),
    ("POST", "/messages", {"client_msg_id": "x", "ciphertext": "x", "session_id": "s"}),
    ("PATCH", "/messages/1", {"ciphertext": "x", "session_id": "s"}),
    ("DELETE", "/messages/1", None),
    ("POST", "/read", {"seq": 1}),
    ("GET", "/pins", None),
    ("POST", "/pins", {"seq": 1}),
    ("DELETE", "/pins/1", None),
    ("POST", "/members", {"user_id": "u0000000000000000@RU-MOW"}),
    ("DELETE", "/members/me", None),
    ("PATCH", "/members/u0000000000000000@RU-MOW", {"role": "admin"}),
]


def test_route_table_covers_every_chat_route() -> None:
    from messenger.app import ROUTERS, create_app
    from messenger.settings import load_settings

    app = create_app(load_settings(state="RU-MOW"), routers=ROUTERS)
    declared = {
        (method, route.path.removeprefix("/v1/chats/{chat_id}"))
        for route in app.routes
        if getattr(route, "path", "").startswith("/v1/chats/{chat_id}")
        for method in getattr(route, "methods", ())
    }
    listed = {
        (
            m,
            p.replace("/1", "/{seq}")
            .replace("/me", "/{user_id}")
            .replace("/u0000000000000000@RU-MOW", "/{user_id}"),
        )
        for m, p, _ in CHAT_ROUTES
    }
    assert declared <= listed, f"chat routes without a membership test: {sorted(declared - listed)}"


async def test_outsider_gets_404_on_every_chat_route(signup: Signup) -> None:
    alice, bob, eve = await signup(), await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "private")
    wrong = []
    for method, suffix, body in CHAT_ROUTES:
        response = await eve.http.request(method, f"/v1/chats/{chat}{suffix}", json=body)
        if (response.status_code, response.json().get("error")) != (404, "chat_not_found"):
            wrong.append(f"{method} {suffix}: {response.status_code} {response.text[:80]}")
    assert wrong == []
    assert [m["seq"] for m in await alice.history(chat)] == [1]  # nothing changed


async def test_unauthenticated_requests_get_401(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    anonymous = MessengerClient(alice.base_url, token="bad", user_id="", device_id="", keys=alice.crypto)
    with pytest.raises(ApiFailure) as err:
        await anonymous.request("GET", f"/v1/chats/{chat}/messages")
    await anonymous.close()
    assert (err.value.status, err.value.error) == (401, "invalid_token")


async def test_group_roles_moderation_pins_and_leaving(signup: Signup) -> None:
    owner, admin, member, newcomer = [await signup() for _ in range(4)]
    group = await owner.create_group([admin.user_id, member.user_id], "team")
    await owner.request("PATCH", f"/v1/chats/{group}/members/{admin.user_id}", json={"role": "admin"})

    # members cannot add, pin or delete others' messages; admins can
    with pytest.raises(ApiFailure) as err:
        await member.request("POST", f"/v1/chats/{group}/members", json={"user_id": newcomer.user_id})
    assert err.value.status == 403
    await admin.request("POST", f"/v1/chats/{group}/members", json={"user_id": newcomer.user_id})
    await member.send(group, "spam")
    with pytest.raises(ApiFailure) as err:
        await member.request("POST", f"/v1/chats/{group}/pins", json={"seq": 1})
    assert err.value.status == 403
    await admin.request("POST", f"/v1/chats/{group}/pins", json={"seq": 1})
    assert [p["seq"] for p in await member.request("GET", f"/v1/chats/{group}/pins")] == [1]
    await newcomer.send(group, "hello")
    with pytest.raises(ApiFailure) as err:
        await member.delete(group, 2)
    assert err.value.status == 403
    await admin.delete(group, 1)  # deleting also unpins
    assert await owner.request("GET", f"/v1/chats/{group}/pins") == []

    # admins cannot remove admins or change roles; the owner can
    with pytest.raises(ApiFailure) as err:
        await admin.request("PATCH", f"/v1/chats/{group}/members/{member.user_id}", json={"role": "admin"})
    assert err.value.status == 403
    await admin.request("DELETE", f"/v1/chats/{group}/members/{member.user_id}")
    with pytest.raises(ApiFailure) as err:
        await member.history(group)
    assert err.value.status == 404  # removed members lose access at once

    # members leave; an owner who leaves hands the chat to the admin
    await newcomer.request("DELETE", f"/v1/chats/{group}/members/me")
    await owner.request("DELETE", f"/v1/chats/{group}/members/me")
    info = await admin.request("GET", f"/v1/chats/{group}")
    assert info["members"] == [{"user_id": admin.user_id, "role": "owner"}]


async def test_private_chat_membership_is_fixed(signup: Signup) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    with pytest.raises(ApiFailure) as err:
        await alice.request("POST", f"/v1/chats/{chat}/members", json={"user_id": carol.user_id})
    assert err.value.error == "not_a_group"
    with pytest.raises(ApiFailure) as err:
        await alice.request(
            "POST", "/v1/chats", json={"kind": "private", "members": [bob.user_id, carol.user_id]}
        )
    assert err.value.error == "invalid_members"
    with pytest.raises(ApiFailure) as err:
        await alice.request(
            "POST", "/v1/chats", json={"kind": "group", "members": ["u0123456789abcdef@RU-MOW"]}
        )
    assert err.value.error == "user_not_found"


async def test_membership_changes_reach_sockets(signup: Signup) -> None:
    owner, friend = await signup(), await signup()
    group = await owner.create_group([], "solo")
    async with friend.socket() as ws:
        await owner.request("POST", f"/v1/chats/{group}/members", json={"user_id": friend.user_id})
        event = await ws.next("member.added")
    assert event["data"]["chat_id"] == group and event["data"]["user_id"] == friend.user_id
    await owner.send(group, "welcome")
    assert [m["text"] for m in await friend.history(group)] == ["welcome"]
