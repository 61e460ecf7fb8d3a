"""Bad frames on ``/v1/ws``: an error frame (``bad_frame``) or a close with a code, never a dropped socket.

RFC 6455 §7.4.1 names the codes: 1003 for data of a type the endpoint cannot accept (binary, on this
text-only protocol), 1007 for a text frame that is not UTF-8. docs/API.md: 4400 for a bad auth frame.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


# A hang guard, not a margin: every answer here comes at once or never (a dropped or silent socket).
RECV_SECONDS = 10


async def recv(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), RECV_SECONDS))


def ws_url(client: MessengerClient) -> str:
    return client.base_url.replace("http", "ws", 1) + "/v1/ws"


@asynccontextmanager
async def authenticated(client: MessengerClient, **auth: Any) -> AsyncIterator[ClientConnection]:
    """A socket past its ``ready`` frame, authenticated by the documented first frame."""
    async with connect(ws_url(client)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": client.token, **auth}))
        ready = await recv(ws)
        assert ready["type"] == "ready", ready
        yield ws


async def close_code(ws: ClientConnection) -> int:
    """Read until the server closes; its close code (a drop without a close frame has none: 1006)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), RECV_SECONDS)
    return closed.value.rcvd.code if closed.value.rcvd is not None else 1006


async def test_binary_first_frame_is_closed_4400(signup: Signup) -> None:
    alice = await signup()
    async with connect(ws_url(alice)) as ws:
        await ws.send(b'{"type": "auth"}')
        assert await close_code(ws) == 4400


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "no.such.thing"}', "unknown frame type"),
        ('{"kind": "ping"}', "unknown frame type"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),  # deeper than the JSON parser recurses
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "not JSON"),
    ],
    ids=["text", "array", "unknown-type", "no-type", "deep-array", "deep-object"],
)
async def test_bad_frame_after_auth_is_answered_and_the_socket_lives(
    signup: Signup, frame: str, reason: str
) -> None:
    alice = await signup()
    async with authenticated(alice) as ws:
        await ws.send(frame)
        error = await recv(ws)
        assert error["type"] == "error" and error["error"] == "bad_frame", error
        assert reason in error["detail"] and error["status"] == 422
        await ws.send(json.dumps({"type": "ping"}))
        assert await recv(ws) == {"type": "pong"}


async def test_unknown_frame_with_id_is_answered_with_the_id(signup: Signup) -> None:
    alice = await signup()
    async with authenticated(alice) as ws:
        await ws.send(json.dumps({"type": "nope", "id": 7}))
        error = await recv(ws)
    assert error["error"] == "bad_frame" and error["id"] == 7


async def test_binary_frame_after_auth_is_answered_then_closed_1003(signup: Signup) -> None:
    alice = await signup()
    async with authenticated(alice) as ws:
        await ws.send(b'{"type": "ping"}')
        error = await recv(ws)
        assert error["type"] == "error" and error["error"] == "bad_frame", error
        assert await close_code(ws) == 1003


async def test_text_frame_that_is_not_utf8_is_closed_1007(signup: Signup) -> None:
    alice = await signup()
    async with authenticated(alice) as ws:
        await ws.send(b'{"type": "\xff\xfe"}', text=True)
        assert await close_code(ws) == 1007


@pytest.mark.parametrize("cursor", [2**31, 2**63, 2**70, -1, "x", True, 1.5])
async def test_resume_cursor_the_log_cannot_hold_is_refused(signup: Signup, cursor: object) -> None:
    alice = await signup()
    async with connect(ws_url(alice)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": alice.token, "cursor": cursor}))
        error = await recv(ws)
        assert error["type"] == "error" and error["error"] == "bad_cursor", error
        assert await close_code(ws) == 4400


async def test_resume_cursor_beyond_the_head_is_refused_with_the_head(signup: Signup) -> None:
    alice, bob = await signup(), await signup()
    chat = await alice.open_private(bob.user_id)
    await alice.send(chat, "one")
    async with connect(ws_url(bob)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": bob.token, "cursor": 50}))
        error = await recv(ws)
        assert error["type"] == "error" and error["error"] == "cursor_ahead", error
        assert error["head"] == 3 and "3" in error["detail"]  # chat.created, to_device (room key), message
        assert await close_code(ws) == 4400
    async with authenticated(bob, cursor=error["head"]) as ws:  # resuming at the head is fine
        await alice.send(chat, "two")
        event = await recv(ws)
    assert event["type"] == "event" and event["cursor"] == 4
