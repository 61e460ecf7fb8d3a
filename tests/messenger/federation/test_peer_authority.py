"""A peer speaks only for its own users: with RU-MOW's real federation key, requests to RU-SPE cannot post
as RU-SPE's users, push events to users outside the chat, bill a call leg that did not happen, drain
prekeys of strangers (or replay a claim), or fill the audit trail with junk (real nodes, signed HTTP)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any

import httpx
from fednodes import ALLOWED_FAKE, Nodes, StateNode, signed_put, wait_for

from messenger.client import MessengerClient
from messenger.federation.signing import sign_headers

ATTACKER = "RU-MOW"


async def _send(node: StateNode, attacker: StateNode, pdus: list[dict[str, Any]]) -> None:
    """One transaction from ``attacker``'s node, signed with its real key; it is acknowledged."""
    path = f"/_federation/v1/send/{secrets.token_hex(8)}"
    response = await signed_put(
        node, path, {"pdus": pdus}, origin=attacker.state, key=attacker.federation_key()
    )
    assert response.status_code == 200, response.text


async def _count(node: StateNode, sql: str, **params: Any) -> int:
    return int((await node.rows(sql, **params))[0][0])


async def _shared_chat(a: MessengerClient, b: MessengerClient, b_node: StateNode) -> str:
    """A private chat hosted by ``a``'s node, once its replica is on ``b``'s node."""
    chat_id = await a.open_private(b.user_id)

    async def replicated() -> bool:
        return await _count(b_node, "SELECT count(*) FROM chats WHERE id = :c", c=chat_id) == 1

    await wait_for(replicated, what=f"replica of {chat_id}")
    return chat_id


def _message(chat_id: str, seq: int, sender: MessengerClient) -> dict[str, Any]:
    return {
        "type": "message.new",
        "chat_id": chat_id,
        "seq": seq,
        "id": f"m{secrets.token_hex(8)}",
        "sender": sender.user_id,
        "sender_device": sender.device_id,
        "client_msg_id": secrets.token_hex(4),
        "reply_to": None,
        "ts": time.time(),
        "session_id": "s1",
        "ciphertext": "Y2lwaGVy",
    }


async def _metric(node: StateNode, name: str) -> float:
    """A counter of the node's ``/metrics``, summed over its labels."""
    async with httpx.AsyncClient(base_url=node.url) as http:
        text = (await http.get("/metrics")).text
    return sum(float(v) for v in re.findall(rf"^{name}\S* (\S+)$", text, re.M))


async def test_a_sequenced_message_is_sent_only_by_a_member_its_home_node_vouches_for(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    a, partner, victim = await login(mow), await login(spe), await login(spe)
    chat_id = await _shared_chat(a, partner, spe)
    seq = int((await spe.rows("SELECT last_seq FROM chats WHERE id = :c", c=chat_id))[0][0]) + 1
    stored_before = await _metric(spe, "msgfleet_messages_stored_total")
    as_victim = _message(chat_id, seq, victim)  # not even a member
    as_partner = _message(chat_id, seq, partner)  # a member homed at RU-SPE, not at the origin
    forged = {**_message(chat_id, seq, partner), "attestation": as_partner["id"]}
    for pdu in (as_victim, as_partner, forged):
        await _send(spe, mow, [pdu])
    await _send(spe, mow, [_message(chat_id, seq, a)])  # the origin's own user: stored

    senders = await spe.rows("SELECT sender_user_id FROM messages WHERE chat_id = :c", c=chat_id)
    assert [s for (s,) in senders] == [a.user_id]
    assert await _count(spe, "SELECT count(*) FROM messages WHERE sender_user_id = :u", u=victim.user_id) == 0
    # the replica counts what it stored, and only that
    assert await _metric(spe, "msgfleet_messages_stored_total") - stored_before == 1


async def test_chat_events_reach_only_the_chats_members_and_only_chat_kinds(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    a, partner, victim = await login(mow), await login(spe), await login(spe)
    chat_id = await _shared_chat(a, partner, spe)

    def event(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "chat.event",
            "chat_id": chat_id,
            "kind": kind,
            "payload": {"chat_id": chat_id, **payload},
            "also": [victim.user_id],
        }

    await _send(
        spe,
        mow,
        [
            event("device.revoked", {"device_id": partner.device_id, "user_id": a.user_id}),
            event("message.deleted", {"seq": 1, "id": "m0", "by": a.user_id}),
            event("receipt", {"user_id": a.user_id, "seq": 0}),
            event("member.removed", {"user_id": victim.user_id, "by": a.user_id}),
        ],
    )
    victim_kinds = await spe.rows("SELECT kind FROM device_events WHERE device_id = :d", d=victim.device_id)
    assert not {k for (k,) in victim_kinds} - {"device.added"}, victim_kinds
    partner_kinds = {
        k
        for (k,) in await spe.rows("SELECT kind FROM device_events WHERE device_id = :d", d=partner.device_id)
    }
    assert "device.revoked" not in partner_kinds
    assert {"message.deleted", "receipt"} <= partner_kinds  # the chat's own events still reach its member


async def test_call_usage_is_taken_only_for_a_participants_real_leg_once(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    a, partner, victim = await login(mow), await login(spe), await login(spe)
    chat_id = await _shared_chat(a, partner, spe)
    call_id = (await a.request("POST", "/v1/calls", json={"chat_id": chat_id}))["id"]

    async def known() -> list[Any]:
        return await spe.rows("SELECT created_at FROM fed_call_hosts WHERE call_id = :c", c=call_id)

    [(known_at,)] = await wait_for(known, what=f"call {call_id} at RU-SPE")
    await asyncio.sleep(1.5)  # the call has lasted a little while at RU-SPE, so a 1 s leg fits in it

    def usage(user: MessengerClient, device: str, start: float, end: float) -> dict[str, Any]:
        return {
            "type": "call.usage",
            "call_id": call_id,
            "user_id": user.user_id,
            "device_id": device,
            "media": "audio",
            "joined_at": start,
            "left_at": end,
            "end_reason": "hangup",
            "span": [start, end],
        }

    week = usage(partner, partner.device_id, known_at - 7 * 86_400, known_at + 1)
    stranger = usage(victim, victim.device_id, known_at, known_at + 1)
    wrong_device = usage(partner, victim.device_id, known_at, known_at + 1)
    real = usage(partner, partner.device_id, known_at, known_at + 1)
    for pdus in ([week], [week], [stranger], [wrong_device], [real], [real]):
        await _send(spe, mow, pdus)

    legs = await spe.rows("SELECT user_id, seconds FROM fed_call_legs WHERE call_id = :c", c=call_id)
    assert legs == [(partner.user_id, 1.0)]
    billed = await spe.rows(
        "SELECT user_id, seconds FROM call_usage WHERE user_id IN (:p, :v)",
        p=partner.user_id,
        v=victim.user_id,
    )
    assert billed == [(partner.user_id, 1.0)]
    await a.request("POST", f"/v1/calls/{call_id}/hangup")


async def _prekeys(node: StateNode, client: MessengerClient) -> int:
    return await _count(node, "SELECT count(*) FROM prekeys WHERE device_id = :d", d=client.device_id)


async def test_prekeys_are_claimed_only_for_chat_partners_at_a_bounded_rate(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    a, partner, stranger = await login(mow), await login(spe), await login(spe)
    await _shared_chat(a, partner, spe)
    start = await _prekeys(spe, stranger)
    assert start == await _prekeys(spe, partner) > 5

    async def claim(user: MessengerClient) -> httpx.Response:
        body = {"user_ids": [user.user_id], "claim": True}
        return await signed_put(
            spe,
            "/_federation/v1/query/devices",
            body,
            origin=ATTACKER,
            key=mow.federation_key(),
            method="POST",
        )

    for _ in range(3):
        answer = await claim(stranger)
        assert answer.status_code == 200 and answer.json() == [], answer.text
    assert await _prekeys(spe, stranger) == start

    answers = [await claim(partner) for _ in range(7)]
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    assert all(r.json()[0]["prekey"] is not None for r in answers[:5])
    assert answers[5].json()["error"] == "claim_rate_limited" and "Retry-After" in answers[5].headers
    assert await _prekeys(spe, partner) == start - 5


async def test_a_captured_request_is_refused_when_replayed_inside_the_skew_window(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    a, partner = await login(mow), await login(spe)
    await _shared_chat(a, partner, spe)
    start = await _prekeys(spe, partner)
    path = "/_federation/v1/query/devices"
    body = json.dumps({"user_ids": [partner.user_id], "claim": True}).encode()
    headers = sign_headers(
        mow.federation_key(), method="POST", target=path, body=body, origin=ATTACKER, destination=spe.state
    )
    async with httpx.AsyncClient(base_url=spe.url) as http:
        answers = [
            await http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
            for _ in range(6)
        ]
    assert [r.status_code for r in answers] == [200] + [401] * 5
    assert {r.json()["error"] for r in answers[1:]} == {"replayed"}
    assert await _prekeys(spe, partner) == start - 1


async def _refusal_rows(node: StateNode) -> list[str]:
    rows = await node.rows("SELECT detail FROM audit_log WHERE action = 'federation.refused'")
    return [str(d) for (d,) in rows]


async def test_junk_requests_are_counted_not_each_audited(three_states: Nodes) -> None:
    spe = three_states["RU-SPE"]
    before, refused_before = await _refusal_rows(spe), await _metric(spe, "msgfleet_federation_refused_total")
    log_before = (spe.data_dir / "node.log").read_text().count("federation request refused")
    origins = [ALLOWED_FAKE, "RU-YAR", "", "<script>x"]  # a peer (bad signature), strangers, none
    started = time.time()
    async with httpx.AsyncClient(base_url=spe.url) as http:
        for i in range(500):
            origin = origins[i % len(origins)]
            headers = {
                "X-Msgfleet-Origin": origin,
                "X-Msgfleet-Destination": spe.state,
                "X-Msgfleet-Timestamp": f"{time.time():.3f}",
                "X-Msgfleet-Nonce": secrets.token_hex(8),
                "X-Msgfleet-Signature": "AAAA",
            }
            path = f"/_federation/v1/send/{secrets.token_hex(4)}?junk=%3Cimg%20src%3Dx%3E{i}"
            answer = await http.put(path, content=b'{"pdus": []}', headers=headers)
            assert answer.status_code == 401, answer.text
    minutes = int(time.time() // 60) - int(started // 60) + 1
    added = (await _refusal_rows(spe))[len(before) :]
    # (origin, reason) keys: the peer's bad signature, any unknown origin, the unsigned ones
    assert 1 <= len(added) <= 3 * minutes, added
    assert not any("<" in d for d in added), added
    assert await _metric(spe, "msgfleet_federation_refused_total") - refused_before == 500
    logged = (spe.data_dir / "node.log").read_text().count("federation request refused") - log_before
    assert logged <= 3 * minutes


def _invitation(organizer: MessengerClient, invitees: list[str], timezone: str) -> dict[str, Any]:
    meeting_id = f"e{secrets.token_hex(8)}"
    starts_at = time.time() + 3600
    view = {
        "id": meeting_id,
        "title": "from RU-MOW",
        "organizer": organizer.user_id,
        "start": "2030-01-01T10:00:00+03:00",
        "starts_at": starts_at,
        "duration_minutes": 30,
        "timezone": timezone,
        "media": "video",
        "reminder_minutes": 10,
        "reminded": False,
        "call_id": None,
        "cancelled": False,
        "sequence": 0,
        "invitees": [{"user_id": u, "rsvp": "needs-action"} for u in invitees],
    }
    return {"type": "meeting.event", "meeting_id": meeting_id, "kind": "meeting.invited", "payload": view}


async def test_a_meeting_invitation_reaches_only_its_invitees_and_must_be_well_formed(
    three_states: Nodes, login: Any
) -> None:
    mow, spe = three_states[ATTACKER], three_states["RU-SPE"]
    organizer, guest, victim = await login(mow), await login(spe), await login(spe)
    invitation = _invitation(organizer, [guest.user_id], "Europe/Moscow")
    bad_zone = _invitation(organizer, [guest.user_id], "Mars/Olympus")
    # the PDU names the victim too, who is not in the meeting's invitee list
    await _send(spe, mow, [{**invitation, "users": [guest.user_id, victim.user_id]}])
    await _send(spe, mow, [{**bad_zone, "users": [guest.user_id]}])

    listed = await guest.request("GET", "/v1/meetings")
    assert [m["id"] for m in listed] == [invitation["meeting_id"]]
    assert (await guest.http.get(f"/v1/meetings/{invitation['meeting_id']}/ics")).status_code == 200
    assert await victim.request("GET", "/v1/meetings") == []
    victim_kinds = await spe.rows("SELECT kind FROM device_events WHERE device_id = :d", d=victim.device_id)
    assert not {k for (k,) in victim_kinds} - {"device.added"}, victim_kinds
