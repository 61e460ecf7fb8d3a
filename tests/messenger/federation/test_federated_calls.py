"""Calls between users homed in different states: ringing, answers and signalling go through each
user's home node, and each user's minutes are metered (and their leg recorded) only at their home node
(real nodes, real HTTP between them)."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from fednodes import Nodes, StateNode, chat_visible
from waits import EVENT_TIMEOUT, wait_for

from messenger.client import ApiFailure, MessengerClient

# call.* events a client synced but a test has not taken yet (per client)
_EVENTS: weakref.WeakKeyDictionary[MessengerClient, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


async def _event(
    client: MessengerClient, call_id: str, kind: str, timeout: float = EVENT_TIMEOUT
) -> dict[str, Any]:
    """The next ``kind`` event of ``call_id`` on ``client``'s device (long-polling ``/v1/sync``)."""
    stash = _EVENTS.setdefault(client, [])
    deadline = time.monotonic() + timeout
    while True:
        for event in stash:
            if event["kind"] == kind and event["data"].get("call_id") == call_id:
                stash.remove(event)
                return dict(event["data"])
        left = deadline - time.monotonic()
        if left <= 0:
            seen = [e["kind"] for e in stash]
            raise AssertionError(f"{client.user_id} got no {kind} of {call_id} (saw {seen})")
        stash += [e for e in await client.sync(timeout=min(2.0, left)) if e["kind"].startswith("call.")]


async def _usage(node: StateNode, user_id: str) -> list[Any]:
    return await node.rows("SELECT seconds, minutes, calls FROM call_usage WHERE user_id = :u", u=user_id)


async def test_call_across_states_rings_answers_signals_and_bills_at_home(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states["RU-MOW"], three_states["RU-SPE"]
    a = await login(mow)
    b = await login(spe)
    chat_id = await a.open_private(b.user_id)  # hosted by RU-MOW
    await chat_visible(b, chat_id)

    call = await a.request("POST", "/v1/calls", json={"chat_id": chat_id})
    call_id = call["id"]
    incoming = await _event(b, call_id, "call.incoming")
    assert incoming["by"] == a.user_id and incoming["invitees"] == [b.user_id]

    forwarded = await b.http.post(f"/v1/calls/{call_id}/ring")
    assert forwarded.status_code == 202, forwarded.text
    assert (await _event(a, call_id, "call.ringing"))["user_id"] == b.user_id
    assert (await b.http.post(f"/v1/calls/{call_id}/accept")).status_code == 202
    joined = await _event(a, call_id, "call.joined")
    assert joined["user_id"] == b.user_id and joined["answered_at"] is not None
    await _event(b, call_id, "call.joined")  # B's own devices learn it too, from B's home node

    # Signalling both ways: B → RU-SPE → RU-MOW → A, and A → RU-MOW → RU-SPE → B.
    resp = await b.http.post(f"/v1/calls/{call_id}/signal", json={"data": {"sdp": "offer-b"}})
    assert resp.status_code == 202, resp.text
    got = await _event(a, call_id, "call.signal")
    assert got["from_user"] == b.user_id and got["data"] == {"sdp": "offer-b"}
    sent = await a.request("POST", f"/v1/calls/{call_id}/signal", json={"data": {"sdp": "answer-a"}})
    assert sent == {"delivered": 1}  # one remote user, delivered by their home node
    got = await _event(b, call_id, "call.signal")
    assert got["from_user"] == a.user_id and got["data"] == {"sdp": "answer-a"}

    turn = await b.request("GET", f"/v1/calls/{call_id}/turn")  # from B's home state's coturn
    assert turn["username"].endswith(f":{b.user_id}")

    await asyncio.sleep(1.2)
    assert (await b.http.post(f"/v1/calls/{call_id}/hangup")).status_code == 202
    ended = await _event(a, call_id, "call.ended")
    assert ended["reason"] == "hangup" and ended["by"] == b.user_id
    await _event(b, call_id, "call.ended")

    # Each user's minutes at their own home node only.
    b_usage = await wait_for(lambda: _usage(spe, b.user_id), what="B's usage at RU-SPE")
    a_usage = await _usage(mow, a.user_id)
    assert len(a_usage) == 1 and len(b_usage) == 1
    assert a_usage[0][0] >= 1.0 and b_usage[0][0] >= 1.0 and b_usage[0][2] == 1
    assert abs(a_usage[0][0] - b_usage[0][0]) < 1.0  # both legs run from the answer to the hang-up
    assert await _usage(mow, b.user_id) == [], "RU-MOW metered a user of RU-SPE"
    assert await _usage(spe, a.user_id) == [], "RU-SPE metered a user of RU-MOW"
    # The call detail record of B's leg lives at RU-SPE; RU-MOW keeps the call with participant ids.
    legs = await spe.rows("SELECT user_id, seconds FROM fed_call_legs WHERE call_id = :c", c=call_id)
    assert [(u, s >= 1.0) for u, s in legs] == [(b.user_id, True)]
    assert await mow.rows("SELECT id FROM call_legs WHERE user_id = :u", u=b.user_id) == []
    parts = await mow.rows("SELECT user_id FROM call_participants WHERE call_id = :c", c=call_id)
    assert {p[0] for p in parts} == {a.user_id, b.user_id}
    assert await spe.rows("SELECT id FROM calls WHERE id = :c", c=call_id) == []
    record = await a.request("GET", f"/v1/calls/{call_id}")
    assert record["state"] == "ended" and record["duration"] >= 1.0


async def test_call_hosted_by_the_callers_state_declined_from_another(
    three_states: Nodes, login: Any
) -> None:
    mow, spe, nvs = three_states["RU-MOW"], three_states["RU-SPE"], three_states["RU-NVS"]
    a = await login(mow)
    b = await login(spe)
    outsider = await login(nvs)
    chat_id = await a.open_private(b.user_id)  # hosted by RU-MOW; B calls from its replica at RU-SPE
    await chat_visible(b, chat_id)

    call_id = (await b.request("POST", "/v1/calls", json={"chat_id": chat_id}))["id"]
    await _event(a, call_id, "call.incoming")
    hosts = await mow.rows("SELECT host_state FROM fed_call_hosts WHERE call_id = :c", c=call_id)
    assert hosts == [("RU-SPE",)]
    try:
        await outsider.request("POST", f"/v1/calls/{call_id}/accept")
        raise AssertionError("a user of a state the call never rang could answer it")
    except ApiFailure as exc:
        assert exc.status == 404 and exc.error == "call_not_found"

    assert (await a.http.post(f"/v1/calls/{call_id}/decline")).status_code == 202
    assert (await _event(b, call_id, "call.declined"))["user_id"] == a.user_id
    assert (await _event(a, call_id, "call.ended"))["reason"] == "declined"
    assert (await b.request("GET", f"/v1/calls/{call_id}"))["end_reason"] == "declined"
    for node in (mow, spe):  # never answered: nothing metered anywhere
        for user in (a.user_id, b.user_id):
            assert await _usage(node, user) == []
