"""Timeouts on ``clock_node`` (600 s heartbeat, 300 s ring timeout): its clock is moved on and the call
sweep run explicitly, so the outcome does not depend on how fast the machine is. Vanished clients are
not metered on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from call_helpers import HEARTBEAT_TIMEOUT, RING_TIMEOUT, act, frame_reply, next_kind, person, start_call
from clock_helpers import DevClock

from messenger.client import MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def _pair(signup: Signup, node: Any) -> tuple[MessengerClient, MessengerClient, str]:
    alice, bob = await signup(node_=node), await signup(node_=node)
    return alice, bob, await alice.open_private(bob.user_id)


async def test_vanished_participant_is_closed_at_last_heartbeat(
    signup: Signup, clock_node: Any, clock: DevClock
) -> None:
    alice, bob, chat = await _pair(signup, clock_node)
    call = await start_call(alice, chat)
    async with bob.socket(resume=False) as b_ws:
        await act(bob, call["id"], "accept")
        await clock.advance(60)
        assert (await act(alice, call["id"], "heartbeat"))["legs"] == 1  # alice's last sign of life
        await clock.advance(HEARTBEAT_TIMEOUT * 2 / 3)
        # Bob keeps beating over the WebSocket; alice's client has vanished.
        reply = await frame_reply(b_ws, {"type": "call.heartbeat", "call_id": call["id"]})
        assert reply["type"] == "call.heartbeat.ok", reply
        assert (await clock.sweep("calls"))["calls_changed"] == 0  # nobody silent for 600 s yet
        await clock.advance(HEARTBEAT_TIMEOUT * 2 / 3)  # alice silent 800 s, bob 400 s
        assert (await clock.sweep("calls"))["calls_changed"] == 1
        ended = await next_kind(b_ws, "call.ended")
    assert ended["data"]["reason"] == "timeout"
    record = await bob.request("GET", f"/v1/calls/{call['id']}")
    gone = person(record, alice.user_id)
    [leg] = gone["legs"]
    assert leg["end_reason"] == "timeout"
    # Closed at her last heartbeat (60 s after the answer), not when the sweep noticed (800 s later).
    assert record["ended_at"] - leg["left_at"] >= 2 * HEARTBEAT_TIMEOUT * 2 / 3
    assert leg["left_at"] - record["answered_at"] == pytest.approx(60, abs=30)  # 60 s plus request time
    assert gone["seconds"] == pytest.approx(leg["left_at"] - record["answered_at"], abs=2e-3)
    assert person(record, bob.user_id)["seconds"] > gone["seconds"]
    usage = await alice.request("GET", "/v1/usage")
    assert (usage["minutes"], usage["seconds"]) == (2, pytest.approx(gone["seconds"], abs=2e-3))


async def test_unanswered_call_ends_missed_after_ring_timeout(
    signup: Signup, clock_node: Any, clock: DevClock
) -> None:
    alice, bob, chat = await _pair(signup, clock_node)
    async with bob.socket(resume=False) as b_ws:
        call = await start_call(alice, chat)
        await next_kind(b_ws, "call.incoming")
        await clock.advance(RING_TIMEOUT / 2)
        await act(alice, call["id"], "heartbeat")  # the caller stays alive while it rings
        assert (await clock.sweep("calls"))["calls_changed"] == 0
        assert (await alice.request("GET", f"/v1/calls/{call['id']}"))["state"] == "ringing"
        await clock.advance(RING_TIMEOUT / 2 + 1)
        assert (await clock.sweep("calls"))["calls_changed"] == 1
        ended = await next_kind(b_ws, "call.ended")
    assert ended["data"]["reason"] == "missed"
    record = await alice.request("GET", f"/v1/calls/{call['id']}")
    assert record["answered_at"] is None and person(record, bob.user_id)["status"] == "missed"
    assert all(p["seconds"] == 0 for p in record["participants"])
    assert (await alice.request("GET", "/v1/usage"))["minutes"] == 0
    metrics = (await alice.http.get("/metrics")).text
    assert 'msgfleet_calls_ended_total{kind="direct",reason="missed"}' in metrics
