"""Timeouts on a node with a 1.5 s heartbeat and 2 s ring timeout: vanished clients are not metered on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from call_helpers import HEARTBEAT_TIMEOUT, act, frame_reply, next_kind, person, start_call

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def _pair(signup: Signup, node: Any) -> tuple[MessengerClient, MessengerClient, str]:
    alice, bob = await signup(node_=node), await signup(node_=node)
    return alice, bob, await alice.open_private(bob.user_id)


async def test_vanished_participant_is_closed_at_last_heartbeat(signup: Signup, fast_node: Any) -> None:
    alice, bob, chat = await _pair(signup, fast_node)
    call = await start_call(alice, chat)
    async with bob.socket(resume=False) as b_ws:
        await act(bob, call["id"], "accept")
        await asyncio.sleep(0.5)
        assert (await act(alice, call["id"], "heartbeat"))["legs"] == 1  # alice's last sign of life
        # Bob keeps beating over the WebSocket; alice's client has vanished.
        for _ in range(12):
            reply = await frame_reply(b_ws, {"type": "call.heartbeat", "call_id": call["id"]})
            if reply.get("type") != "call.heartbeat.ok" or reply["legs"] == 0:
                break
            await asyncio.sleep(0.3)
        ended = await next_kind(b_ws, "call.ended")
    assert ended["data"]["reason"] == "timeout"
    record = await bob.request("GET", f"/v1/calls/{call['id']}")
    gone = person(record, alice.user_id)
    [leg] = gone["legs"]
    assert leg["end_reason"] == "timeout"
    # Closed at her last heartbeat (~0.5 s after the answer), not when the sweep noticed (>= 1.5 s later).
    assert record["ended_at"] - leg["left_at"] >= HEARTBEAT_TIMEOUT - 0.05
    assert gone["seconds"] == pytest.approx(leg["left_at"] - record["answered_at"], abs=2e-3)
    assert person(record, bob.user_id)["seconds"] > gone["seconds"]
    usage = await alice.request("GET", "/v1/usage")
    assert (usage["minutes"], usage["seconds"]) == (1, pytest.approx(gone["seconds"], abs=2e-3))


async def test_unanswered_call_ends_missed_after_ring_timeout(signup: Signup, fast_node: Any) -> None:
    alice, bob, chat = await _pair(signup, fast_node)
    async with bob.socket(resume=False) as b_ws:
        call = await start_call(alice, chat)
        await next_kind(b_ws, "call.incoming")
        for _ in range(10):  # the caller stays alive while it rings
            await act(alice, call["id"], "heartbeat")
            record = await alice.request("GET", f"/v1/calls/{call['id']}")
            if record["state"] == "ended":
                break
            await asyncio.sleep(0.3)
        ended = await next_kind(b_ws, "call.ended")
    assert ended["data"]["reason"] == "missed"
    record = await alice.request("GET", f"/v1/calls/{call['id']}")
    assert record["answered_at"] is None and person(record, bob.user_id)["status"] == "missed"
    assert all(p["seconds"] == 0 for p in record["participants"])
    assert (await alice.request("GET", "/v1/usage"))["minutes"] == 0
    metrics = (await alice.http.get("/metrics")).text
    assert 'msgfleet_calls_ended_total{kind="direct",reason="missed"}' in metrics
