"""Key directory (identity keys, one-time prekeys claimed once) and the WebSocket auth-frame variant."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from messenger.client import MessengerClient
from messenger.client.crypto import b64

Signup = Callable[..., Awaitable[MessengerClient]]


async def test_prekeys_are_handed_out_once_each(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    published = alice.keys.publication()
    claimed = [
        (await bob.request("GET", f"/v1/users/{alice.user_id}/devices"))[0]["prekey"] for _ in range(3)
    ]
    assert [c["id"] for c in claimed] == [0, 1, 2]
    assert [c["key"] for c in claimed] == [p["key"] for p in published["prekeys"][:3]]  # type: ignore[index]
    listing = await bob.request("GET", f"/v1/users/{alice.user_id}/devices", params={"claim": "false"})
    assert (
        listing[0]["identity_key"] == b64(bytes(alice.keys.box.public_key)) and listing[0]["prekey"] is None
    )
    left = await alice.request("PUT", "/v1/keys", json={**published, "prekeys": []})
    assert left["prekeys_available"] == len(published["prekeys"]) - 3  # type: ignore[arg-type]


async def test_socket_auth_by_first_frame_and_resume_cursor(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "one")
    await alice.send(chat, "two")
    url = bob.base_url.replace("http", "ws", 1) + "/v1/ws"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": bob.token, "cursor": 0}))
        ready = json.loads(await ws.recv())
        frames = [json.loads(await ws.recv()) for _ in range(3)]
        await ws.send(json.dumps({"type": "ping"}))
        pong = json.loads(await ws.recv())
    assert ready["type"] == "ready" and ready["cursor"] == 0 and ready["head"] == 3
    assert [f["kind"] for f in frames] == ["chat.created", "message.new", "message.new"]
    assert [f["cursor"] for f in frames] == [1, 2, 3]
    assert pong == {"type": "pong"}
    async with connect(url + "?cursor=2", additional_headers={"Authorization": f"Bearer {bob.token}"}) as ws:
        await ws.recv()  # ready
        assert json.loads(await ws.recv())["cursor"] == 3  # only what came after the cursor


@pytest.mark.parametrize("first", ["not json", b'{"type": "auth"}', '{"type": "auth", "token": 5}'])
async def test_socket_with_bad_auth_frame_is_closed_4400(signup: Signup, first: str | bytes) -> None:
    alice = await signup()
    async with connect(alice.base_url.replace("http", "ws", 1) + "/v1/ws") as ws:
        await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
