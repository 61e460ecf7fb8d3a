"""Key directory (identity keys, one-time prekeys claimed once) and the WebSocket auth-frame variant."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from messenger.client import MessengerClient
from messenger.client.crypto import verify

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_prekeys_are_handed_out_once_each_then_the_fallback_key(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    alice.crypto.account.generate_one_time_keys(3)
    published = alice.crypto.publication()  # three more one-time keys, on top of the 20 of the sign-up
    assert len(published["prekeys"]) == 3  # type: ignore[arg-type]
    assert (await alice.request("PUT", "/v1/keys", json=published))["prekeys_available"] == 23
    claimed = [
        (await bob.request("GET", f"/v1/users/{alice.user_id}/devices"))[0]["prekey"] for _ in range(3)
    ]
    assert [c["id"] for c in claimed] == [0, 1, 2]
    listing = await bob.request("GET", f"/v1/users/{alice.user_id}/devices", params={"claim": "false"})
    assert listing[0]["identity_key"] == alice.crypto.identity_key and listing[0]["prekey"] is None
    assert listing[0]["identity_signature"] and listing[0]["signing_key"] == alice.crypto.signing_key
    left = await alice.request("PUT", "/v1/keys", json={**published, "prekeys": []})
    assert left["prekeys_available"] == 23 - 3
    for _ in range(20):
        await bob.request("POST", "/v1/keys/claim", json={"devices": {alice.user_id: [alice.device_id]}})
    fallback = [
        (await bob.request("POST", "/v1/keys/claim", json={"devices": {alice.user_id: [alice.device_id]}}))[
            alice.device_id
        ]
        for _ in range(2)
    ]
    assert fallback[0] == fallback[1] and fallback[0]["id"] is None  # kept, handed out again
    verify(alice.crypto.signing_key, fallback[0]["key"], fallback[0]["signature"], "fallback key")


async def test_concurrent_claims_get_different_one_time_keys(signup: Signup) -> None:
    alice, bob, carol = await signup(), await signup(), await signup()

    async def claim(client: MessengerClient) -> str:
        answer = await client.request(
            "POST", "/v1/keys/claim", json={"devices": {alice.user_id: [alice.device_id]}}
        )
        return str(answer[alice.device_id]["key"])

    keys = await asyncio.gather(*(claim(c) for _ in range(10) for c in (bob, carol)))
    assert len(set(keys)) == 20  # every claim its own key: none handed out twice, none lost to a race


async def test_socket_auth_by_first_frame_and_resume_cursor(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "one")
    await alice.send(chat, "two")
    url = bob.base_url.replace("http", "ws", 1) + "/v1/ws"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": bob.token, "cursor": 0}))
        ready = json.loads(await ws.recv())
        frames = [json.loads(await ws.recv()) for _ in range(4)]
        await ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(await ws.recv())
    assert ready["type"] == "ready" and ready["cursor"] == 0 and ready["head"] == 4
    assert [f["kind"] for f in frames] == ["chat.created", "to_device", "message.new", "message.new"]
    assert [f["cursor"] for f in frames] == [1, 2, 3, 4]
    assert pong == {"type": "pong"}
    async with connect(url + "?cursor=3", additional_headers={"Authorization": f"Bearer {bob.token}"}) as ws:
        await ws.recv()  # ready
        assert json.loads(await ws.recv())["cursor"] == 4  # only what came after the cursor


@pytest.mark.parametrize("first", ["not json", b'{"type": "auth"}', '{"type": "auth", "token": 5}'])
async def test_socket_with_bad_auth_frame_is_closed_4400(signup: Signup, first: str | bytes) -> None:
    alice = await signup()
    async with connect(alice.base_url.replace("http", "ws", 1) + "/v1/ws") as ws:
        await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
