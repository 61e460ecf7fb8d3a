"""A meeting organized in one state with invitees homed in others: they get the invitation and the
reminder through their home nodes and RSVP there (real nodes, real HTTP between them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fednodes import Nodes
from waits import EVENT_TIMEOUT

from messenger.client import ApiFailure, MessengerClient


async def _event(
    client: MessengerClient, kind: str, meeting_id: str, timeout: float = EVENT_TIMEOUT
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await client.sync(timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
            data = event["data"]
            if event["kind"] == kind and meeting_id in (data.get("id"), data.get("meeting_id")):
                return dict(data)
    raise AssertionError(f"{client.user_id} got no {kind} of {meeting_id}")


async def test_meeting_invite_reminder_and_rsvp_across_states(three_states: Nodes, login: Any) -> None:
    mow, spe, nvs = three_states["RU-MOW"], three_states["RU-SPE"], three_states["RU-NVS"]
    organizer = await login(mow)
    guest = await login(spe)
    stranger = await login(nvs)
    start = (datetime.now(UTC) + timedelta(minutes=3)).replace(microsecond=0)
    meeting = await organizer.request(
        "POST",
        "/v1/meetings",
        json={
            "title": "across states",
            "start": start.isoformat(),
            "timezone": "Europe/Moscow",
            "duration_minutes": 30,
            "invitees": [guest.user_id],
            "reminder_minutes": 10,  # already due: the reminder sweep sends it within seconds
        },
    )
    meeting_id = meeting["id"]

    invited = await _event(guest, "meeting.invited", meeting_id)
    assert invited["title"] == "across states" and invited["organizer"] == organizer.user_id
    reminder = await _event(guest, "meeting.reminder", meeting_id)
    assert reminder["starts_at"] == meeting["starts_at"]

    resp = await guest.http.post(f"/v1/meetings/{meeting_id}/rsvp", json={"response": "accepted"})
    assert resp.status_code == 202, resp.text
    seen = await _event(organizer, "meeting.rsvp", meeting_id)
    assert seen == {"meeting_id": meeting_id, "user_id": guest.user_id, "rsvp": "accepted"}
    await _event(guest, "meeting.rsvp", meeting_id)  # the guest's own devices, from their home node
    shown = await organizer.request("GET", f"/v1/meetings/{meeting_id}")
    assert shown["invitees"] == [{"user_id": guest.user_id, "rsvp": "accepted"}]

    # A user of a state the meeting never invited cannot RSVP through their node.
    try:
        await stranger.request("POST", f"/v1/meetings/{meeting_id}/rsvp", json={"response": "accepted"})
        raise AssertionError("an uninvited user could RSVP")
    except ApiFailure as exc:
        assert exc.status == 404 and exc.error == "meeting_not_found"
    # The meeting itself stays at the organizer's node; the guest's node knows only its host.
    assert await spe.rows("SELECT id FROM meetings") == []
    hosts = await spe.rows("SELECT host_state FROM fed_meeting_hosts WHERE meeting_id = :m", m=meeting_id)
    assert hosts == [("RU-MOW",)]


async def _call_event(client: MessengerClient, kind: str, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await client.sync(timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
            if event["kind"] == kind:
                return dict(event["data"])
    raise AssertionError(f"{client.user_id} got no {kind}")


async def test_meeting_call_rings_an_invitee_in_another_state(three_states: Nodes, login: Any) -> None:
    mow, spe = three_states["RU-MOW"], three_states["RU-SPE"]
    organizer = await login(mow)
    guest = await login(spe)
    start = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
    body = {
        "title": "call",
        "start": start.isoformat(),
        "timezone": "UTC",
        "duration_minutes": 30,
        "invitees": [guest.user_id],
        "reminder_minutes": 0,
    }
    meeting_id = (await organizer.request("POST", "/v1/meetings", json=body))["id"]
    await _event(guest, "meeting.invited", meeting_id)

    call = await organizer.request("POST", f"/v1/meetings/{meeting_id}/start")
    incoming = await _call_event(guest, "call.incoming")
    assert incoming["call_id"] == call["id"] and incoming["meeting_id"] == meeting_id
    assert (await guest.http.post(f"/v1/calls/{call['id']}/accept")).status_code == 202
    joined = await _call_event(organizer, "call.joined")
    assert joined["user_id"] == guest.user_id
    assert (await organizer.request("POST", f"/v1/calls/{call['id']}/hangup"))["state"] == "ended"
    await _call_event(guest, "call.ended")
