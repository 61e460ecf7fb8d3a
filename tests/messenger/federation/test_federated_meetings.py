"""A meeting organized in one state with invitees homed in others: they get the invitation and the
reminder through their home nodes, see the meeting and its ``.ics`` there, and RSVP there (real nodes,
real HTTP between them)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fednodes import Nodes

from messenger.client import ApiFailure, MessengerClient


async def _event(client: MessengerClient, kind: str, meeting_id: str, timeout: float = 20) -> dict[str, Any]:
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

    # The guest's own node lists the meeting, shows it and exports it, as the organizer's node does.
    listed = await guest.request("GET", "/v1/meetings")
    assert [m["id"] for m in listed] == [meeting_id]
    shown_here = await guest.request("GET", f"/v1/meetings/{meeting_id}")
    assert {k: shown_here[k] for k in ("title", "organizer", "starts_at", "invitees")} == {
        k: meeting[k] for k in ("title", "organizer", "starts_at", "invitees")
    }
    assert shown_here["reminded"] is True
    ics = await guest.http.get(f"/v1/meetings/{meeting_id}/ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    organizers_ics = await organizer.http.get(f"/v1/meetings/{meeting_id}/ics")
    uid = re.search(r"^UID:(.+)$", organizers_ics.text, re.M)
    assert uid is not None and f"UID:{uid.group(1)}" in ics.text  # one event for calendar clients
    assert "ATTENDEE;" in ics.text and guest.user_id in ics.text.replace("\r\n ", "")

    resp = await guest.http.post(f"/v1/meetings/{meeting_id}/rsvp", json={"response": "accepted"})
    assert resp.status_code == 202, resp.text
    seen = await _event(organizer, "meeting.rsvp", meeting_id)
    assert seen == {"meeting_id": meeting_id, "user_id": guest.user_id, "rsvp": "accepted"}
    await _event(guest, "meeting.rsvp", meeting_id)  # the guest's own devices, from their home node
    shown = await organizer.request("GET", f"/v1/meetings/{meeting_id}")
    assert shown["invitees"] == [{"user_id": guest.user_id, "rsvp": "accepted"}]
    mine = await guest.request("GET", f"/v1/meetings/{meeting_id}")
    assert mine["invitees"] == [{"user_id": guest.user_id, "rsvp": "accepted"}]

    # A user of a state the meeting never invited cannot RSVP through their node.
    try:
        await stranger.request("POST", f"/v1/meetings/{meeting_id}/rsvp", json={"response": "accepted"})
        raise AssertionError("an uninvited user could RSVP")
    except ApiFailure as exc:
        assert exc.status == 404 and exc.error == "meeting_not_found"
    try:
        await stranger.request("GET", f"/v1/meetings/{meeting_id}")
        raise AssertionError("an uninvited user saw the meeting")
    except ApiFailure as exc:
        assert exc.status == 404
    # The meeting itself stays at the organizer's node; the guest's node keeps its host and a view.
    assert await spe.rows("SELECT id FROM meetings") == []
    hosts = await spe.rows("SELECT host_state FROM fed_meeting_hosts WHERE meeting_id = :m", m=meeting_id)
    assert hosts == [("RU-MOW",)]

    await organizer.request("DELETE", f"/v1/meetings/{meeting_id}")
    await _event(guest, "meeting.cancelled", meeting_id)
    assert await guest.request("GET", "/v1/meetings") == []
    gone = await guest.request("GET", f"/v1/meetings/{meeting_id}")
    assert gone["cancelled"] is True and gone["sequence"] == 1
    assert "STATUS:CANCELLED" in (await guest.http.get(f"/v1/meetings/{meeting_id}/ics")).text


async def _call_event(client: MessengerClient, kind: str, timeout: float = 20) -> dict[str, Any]:
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
