"""Helpers of the calls / tariffs / meetings tests (events by kind, WebSocket frames, call actions)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from messenger.client import MessengerClient
from messenger.client.client import EventSocket

TURN_SECRET = "test-turn-secret-0123456789"
TARIFFS: dict[str, Any] = {
    "minute_rounding": "per_minute_up",
    "price_per_extra_minute": 1.0,
    "price_per_1000_messages": 100.0,
    "plans": [
        {
            "name": "basic",
            "included_minutes": 0,
            "included_messages": 2,
            "price_per_extra_minute": 2.5,
            "price_per_1000_messages": 500.0,
        },
        {"name": "family", "kind": "family", "max_members": 3, "monthly_fee": 9.99, "included_minutes": 1},
        {"name": "solo", "monthly_fee": 1.5},
    ],
}
ENV = {
    "MSGFLEET_DEV_SMS_ENDPOINT": "true",
    "MSGFLEET_TARIFFS": json.dumps(TARIFFS),
    "MSGFLEET_TURN_SECRET": TURN_SECRET,
    "MSGFLEET_TURN_URIS": "turn:127.0.0.1:3478?transport=udp,turns:127.0.0.1:5349",
}
HEARTBEAT_TIMEOUT, RING_TIMEOUT = 600, 300  # seconds, on clock_node (its clock is moved on, not waited for)


def _skipped(ws: EventSocket) -> list[dict[str, Any]]:
    """Events read past by ``frame_reply``, kept for ``next_kind``."""
    skipped: list[dict[str, Any]] = ws.__dict__.setdefault("skipped_events", [])
    return skipped


async def next_kind(ws: EventSocket, kind: str, timeout: float = 60) -> dict[str, Any]:
    """The next event of ``kind`` on ``ws`` (earlier events of other kinds are skipped)."""
    skipped = _skipped(ws)
    while skipped:
        event = skipped.pop(0)
        if event["kind"] == kind:
            return event
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await ws.next(timeout=max(0.05, deadline - loop.time()))
        if event["kind"] == kind:
            return event


async def frame_reply(ws: EventSocket, frame: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Send a client frame and return the reply frame that echoes its ``id`` (events are kept)."""
    assert ws.conn is not None
    frame = {**frame, "id": frame.get("id", "f1")}
    await ws.conn.send(json.dumps(frame))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.conn.recv(), timeout))
        if reply.get("type") == "event":
            ws.client.cursor = reply["cursor"]
            _skipped(ws).append(reply)
        elif reply.get("id") == frame["id"]:
            return dict(reply)


async def start_call(client: MessengerClient, chat_id: str, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await client.request("POST", "/v1/calls", json={"chat_id": chat_id, **body})
    return result


async def act(client: MessengerClient, call_id: str, action: str) -> dict[str, Any]:
    result: dict[str, Any] = await client.request("POST", f"/v1/calls/{call_id}/{action}")
    return result


def person(record: dict[str, Any], user_id: str) -> dict[str, Any]:
    return next(p for p in record["participants"] if p["user_id"] == user_id)
