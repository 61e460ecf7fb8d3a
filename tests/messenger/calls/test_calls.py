"""Calls over real HTTP and WebSocket: ringing, answering, signalling, records, minutes, permissions."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable

import pytest
from call_helpers import TURN_SECRET, act, frame_reply, next_kind, person, start_call

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]


async def _pair(signup: Signup) -> tuple[MessengerClient, MessengerClient, str]:
    alice, bob = await signup(), await signup()
    return alice, bob, await alice.open_private(bob.user_id)


async def test_direct_call_rings_answers_signals_and_records_minutes(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    async with alice.socket() as a_ws, bob.socket() as b_ws:
        call = await start_call(alice, chat, media="video")
        incoming = await next_kind(b_ws, "call.incoming")
        assert incoming["data"]["call_id"] == call["id"] and incoming["data"]["by"] == alice.user_id
        assert incoming["data"]["media"] == "video" and incoming["data"]["invitees"] == [bob.user_id]
        await act(bob, call["id"], "ring")
        assert (await next_kind(a_ws, "call.ringing"))["data"]["user_id"] == bob.user_id
        await act(bob, call["id"], "accept")
        joined = await next_kind(a_ws, "call.joined")
        assert joined["data"]["user_id"] == bob.user_id and joined["data"]["state"] == "active"

        offer = {"sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "type": "offer"}
        reply = await frame_reply(a_ws, {"type": "call.signal", "call_id": call["id"], "data": offer})
        assert reply == {"type": "call.signal.ok", "delivered": 1, "id": "f1"}
        signal = await next_kind(b_ws, "call.signal")
        assert signal["data"] == {
            "call_id": call["id"],
            "from_user": alice.user_id,
            "from_device": alice.device_id,
            "data": offer,
        }
        beat = await frame_reply(b_ws, {"type": "call.heartbeat", "call_id": call["id"], "id": "hb"})
        assert beat == {"type": "call.heartbeat.ok", "legs": 1, "id": "hb"}
        await asyncio.sleep(1.2)
        await act(alice, call["id"], "hangup")
        ended = await next_kind(b_ws, "call.ended")
    assert ended["data"]["reason"] == "hangup" and ended["data"]["by"] == alice.user_id

    record = await bob.request("GET", f"/v1/calls/{call['id']}")
    assert record["state"] == "ended" and record["kind"] == "direct" and record["media"] == "video"
    assert record["started_at"] <= record["answered_at"] <= record["ended_at"]
    assert record["duration"] == pytest.approx(record["ended_at"] - record["answered_at"], abs=1e-3)
    for user in (alice, bob):
        mine = person(record, user.user_id)
        assert mine["status"] == "left"
        # Both were connected from the answer to the hang-up: the whole duration, no ringing time.
        assert mine["seconds"] == pytest.approx(record["duration"], abs=2e-3)
        assert 1.2 <= mine["seconds"] < 60
        usage = await user.request("GET", "/v1/usage")
        assert usage["minutes"] == 1  # per_minute_up: a started minute counts in full
        assert usage["seconds"] == pytest.approx(mine["seconds"], abs=2e-3)
        assert usage["calls"] == 1


async def test_declined_call_ends_with_no_minutes(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    call = await start_call(alice, chat)
    async with alice.socket(resume=False) as a_ws:
        await act(bob, call["id"], "decline")
        assert (await next_kind(a_ws, "call.declined"))["data"]["user_id"] == bob.user_id
        assert (await next_kind(a_ws, "call.ended"))["data"]["reason"] == "declined"
    record = await alice.request("GET", f"/v1/calls/{call['id']}")
    assert record["answered_at"] is None and record["duration"] is None
    assert person(record, bob.user_id)["status"] == "declined"
    assert [p["seconds"] for p in record["participants"]] == [0, 0]
    assert (await alice.request("GET", "/v1/usage"))["minutes"] == 0
    with pytest.raises(ApiFailure) as late:
        await act(bob, call["id"], "accept")
    assert (late.value.status, late.value.error) == (409, "call_ended")


async def test_group_call_join_leave_and_outsiders(signup: Signup) -> None:
    alice, bob, carol, dave, eve = [await signup() for _ in range(5)]
    group = await alice.create_group([bob.user_id, carol.user_id, dave.user_id], "standup")
    call = await start_call(alice, group, invitees=[bob.user_id, carol.user_id])
    assert call["kind"] == "group" and call["state"] == "ringing"
    await act(bob, call["id"], "accept")
    await act(carol, call["id"], "decline")  # others still in: the call goes on
    joined = await act(dave, call["id"], "join")  # a member who was not rung joins late
    assert joined["state"] == "active" and person(joined, dave.user_id)["status"] == "joined"
    await act(carol, call["id"], "join")  # changed her mind
    for outsider_call in (
        eve.request("GET", f"/v1/calls/{call['id']}"),
        act(eve, call["id"], "join"),
        eve.request("GET", f"/v1/calls/{call['id']}/turn"),
        eve.request("POST", f"/v1/calls/{call['id']}/signal", json={"data": {"x": 1}}),
        eve.request("GET", f"/v1/chats/{group}/calls"),
    ):
        with pytest.raises(ApiFailure) as denied:
            await outsider_call
        assert denied.value.status == 404, denied.value
    with pytest.raises(ApiFailure) as not_creator:
        await act(bob, call["id"], "hangup")
    assert (not_creator.value.status, not_creator.value.error) == (403, "not_allowed")
    await act(bob, call["id"], "leave")
    assert (await alice.request("GET", f"/v1/calls/{call['id']}"))["state"] == "active"
    for user in (alice, dave, carol):
        await act(user, call["id"], "leave")
    record = await dave.request("GET", f"/v1/calls/{call['id']}")
    assert record["state"] == "ended" and record["end_reason"] == "hangup"
    assert {p["user_id"]: p["status"] for p in record["participants"]} == {
        u.user_id: "left" for u in (alice, bob, carol, dave)
    }
    assert all(0 < p["seconds"] <= record["duration"] + 1e-3 for p in record["participants"])
    history = await bob.request("GET", f"/v1/chats/{group}/calls")
    assert [c["id"] for c in history] == [call["id"]]


async def test_turn_credentials_follow_the_coturn_rest_convention(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    call = await start_call(alice, chat)
    before = int(time.time())
    creds = await bob.request("GET", f"/v1/calls/{call['id']}/turn")
    expiry, _, user = creds["username"].partition(":")
    assert user == bob.user_id and creds["ttl"] == 3600
    assert before + 3600 <= int(expiry) == creds["expires_at"] <= int(time.time()) + 3600
    expected = hmac.new(TURN_SECRET.encode(), creds["username"].encode(), hashlib.sha1).digest()
    assert base64.b64decode(creds["password"]) == expected
    assert creds["uris"] == ["turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349"]
    await act(alice, call["id"], "hangup")
    with pytest.raises(ApiFailure) as ended:
        await bob.request("GET", f"/v1/calls/{call['id']}/turn")
    assert (ended.value.status, ended.value.error) == (409, "call_ended")


async def test_bad_call_requests_are_refused_and_change_nothing(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    stranger = await signup()
    cases = [
        (stranger, {"chat_id": chat}, 404, "chat_not_found"),
        (alice, {"chat_id": chat, "invitees": [stranger.user_id]}, 400, "invalid_invitees"),
        (alice, {"chat_id": chat, "media": "hologram"}, 422, "validation_error"),
        (alice, {"chat_id": chat, "extra": 1}, 422, "validation_error"),
    ]
    for client, body, status, code in cases:
        with pytest.raises(ApiFailure) as bad:
            await client.request("POST", "/v1/calls", json=body)
        assert (bad.value.status, bad.value.error) == (status, code), body
    assert await alice.request("GET", f"/v1/chats/{chat}/calls") == []
    call = await start_call(alice, chat)
    with pytest.raises(ApiFailure) as busy:
        await start_call(bob, chat)
    assert (busy.value.status, busy.value.error) == (409, "call_in_progress")
    assert call["id"] in busy.value.detail
    with pytest.raises(ApiFailure) as not_joined:
        await act(bob, call["id"], "leave")
    assert (not_joined.value.status, not_joined.value.error) == (409, "not_joined")
    huge = {"sdp": "a" * 20_000}
    with pytest.raises(ApiFailure) as too_big:
        await bob.request("POST", f"/v1/calls/{call['id']}/signal", json={"data": huge})
    assert (too_big.value.status, too_big.value.error) == (413, "signal_too_large")
    async with bob.socket(resume=False) as ws:
        reply = await frame_reply(ws, {"type": "call.signal", "call_id": call["id"], "data": huge})
        assert (reply["type"], reply["error"]) == ("error", "signal_too_large")
        reply = await frame_reply(ws, {"type": "call.signal", "data": {"sdp": "x"}})
        assert (reply["type"], reply["error"]) == ("error", "bad_frame")
        reply = await frame_reply(ws, {"type": "call.signal", "call_id": "k0000", "data": {}})
        assert (reply["type"], reply["error"]) == ("error", "call_not_found")
        reply = await frame_reply(ws, {"type": "call.dance", "call_id": call["id"]})
        assert (reply["type"], reply["error"]) == ("error", "bad_frame")
        assert (await frame_reply(ws, {"type": "call.heartbeat", "call_id": call["id"]}))["legs"] == 0
    assert [c["id"] for c in await alice.request("GET", f"/v1/chats/{chat}/calls")] == [call["id"]]
    await act(alice, call["id"], "hangup")
    record = await alice.request("GET", f"/v1/calls/{call['id']}")
    assert record["end_reason"] == "cancelled" and person(record, bob.user_id)["status"] == "missed"


def _metric(text: str, name: str, labels: str) -> float:
    prefix = f"{name}{{{labels}}} "
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


async def test_prometheus_counts_call_minutes(signup: Signup, node: object) -> None:
    alice, bob, chat = await _pair(signup)
    metrics_before = (await alice.http.get("/metrics")).text
    call = await start_call(alice, chat)
    await act(bob, call["id"], "accept")
    await act(bob, call["id"], "hangup")
    after = (await alice.http.get("/metrics")).text
    minutes = _metric(after, "msgfleet_call_minutes_total", 'media="audio"')
    assert minutes - _metric(metrics_before, "msgfleet_call_minutes_total", 'media="audio"') == 2  # 1 + 1
    ended = 'kind="direct",reason="hangup"'
    assert _metric(after, "msgfleet_calls_ended_total", ended) >= 1 + _metric(
        metrics_before, "msgfleet_calls_ended_total", ended
    )


async def test_simultaneous_calls_and_answers_leave_one_call_and_one_leg(signup: Signup) -> None:
    alice, bob, chat = await _pair(signup)
    bob_laptop = await signup(phone=bob.phone, device_name="laptop")
    results = await asyncio.gather(start_call(alice, chat), start_call(bob, chat), return_exceptions=True)
    calls = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ApiFailure)]
    assert len(calls) == 1 and [(e.status, e.error) for e in refused] == [(409, "call_in_progress")]
    call, callee = calls[0], bob if calls[0]["created_by"] == alice.user_id else alice
    devices = [bob, bob_laptop] if callee is bob else [callee]
    await asyncio.gather(*(act(d, call["id"], "accept") for d in devices))
    record = await alice.request("GET", f"/v1/calls/{call['id']}")
    legs = person(record, callee.user_id)["legs"]
    assert len(legs) == len(devices) and sum(leg["left_at"] is None for leg in legs) == 1
    assert all(leg["end_reason"] == "switched" for leg in legs if leg["left_at"] is not None)
    await act(alice, call["id"], "hangup")
    assert [c["id"] for c in await alice.request("GET", f"/v1/chats/{chat}/calls")] == [call["id"]]
