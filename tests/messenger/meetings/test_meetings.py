"""Meetings over HTTP/WebSocket: scheduling in a time zone, RSVP, reminders, iCalendar, the metered call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from call_helpers import act, next_kind, person
from clock_helpers import DevClock

from messenger.client import ApiFailure, MessengerClient

Signup = Callable[..., Awaitable[MessengerClient]]
MOSCOW = ZoneInfo("Europe/Moscow")


def _wall_clock(hours: float, tz: ZoneInfo = MOSCOW) -> datetime:
    """A naive wall-clock time ``hours`` from now in ``tz``, to the second."""
    return (datetime.now(tz) + timedelta(hours=hours)).replace(tzinfo=None, microsecond=0)


async def _schedule(organizer: MessengerClient, invitees: list[str], **body: object) -> dict[str, object]:
    payload = {
        "title": "Rollout review",
        "start": _wall_clock(2).isoformat(),
        "timezone": "Europe/Moscow",
        "duration_minutes": 45,
        "invitees": invitees,
        **body,
    }
    result: dict[str, object] = await organizer.request("POST", "/v1/meetings", json=payload)
    return result


async def test_schedule_rsvp_and_icalendar_export(signup: Signup) -> None:
    org, ann, ben, outsider = [await signup() for _ in range(4)]
    remote = "u00000000000000aa@RU-SPE"  # another state's user: stored, reached by federation
    start = _wall_clock(3)
    async with ann.socket(resume=False) as ann_ws, org.socket(resume=False) as org_ws:
        meeting = await _schedule(
            org, [ann.user_id, ben.user_id, remote], start=start.isoformat(), reminder_minutes=15
        )
        invited = await next_kind(ann_ws, "meeting.invited")
        assert invited["data"]["id"] == meeting["id"]
        await ann.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "accepted"})
        rsvp = await next_kind(org_ws, "meeting.rsvp")
    assert rsvp["data"] == {"meeting_id": meeting["id"], "user_id": ann.user_id, "rsvp": "accepted"}
    assert meeting["starts_at"] == start.replace(tzinfo=MOSCOW).timestamp()
    assert meeting["start"] == start.replace(tzinfo=MOSCOW).isoformat()
    await ben.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "tentative"})
    assert [m["id"] for m in await ben.request("GET", "/v1/meetings")] == [meeting["id"]]

    response = await ann.http.get(f"/v1/meetings/{meeting['id']}/ics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(response.content)
    [event] = cal.walk("VEVENT")
    assert str(event["summary"]) == "Rollout review"
    dtstart = event.decoded("dtstart")
    assert dtstart == start.replace(tzinfo=MOSCOW) and str(dtstart.tzinfo) == "Europe/Moscow"
    assert event.decoded("duration") == timedelta(minutes=45)
    assert [tz["tzid"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Moscow"]
    partstat = {str(a).rpartition(":")[2]: a.params["PARTSTAT"] for a in event["attendee"]}
    assert partstat == {ann.user_id: "ACCEPTED", ben.user_id: "TENTATIVE", remote: "NEEDS-ACTION"}
    [alarm] = event.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(minutes=-15)

    for method, path, body in (
        ("GET", f"/v1/meetings/{meeting['id']}", None),
        ("GET", f"/v1/meetings/{meeting['id']}/ics", None),
        ("POST", f"/v1/meetings/{meeting['id']}/rsvp", {"response": "accepted"}),
        ("POST", f"/v1/meetings/{meeting['id']}/start", None),
        ("DELETE", f"/v1/meetings/{meeting['id']}", None),
    ):
        with pytest.raises(ApiFailure) as denied:
            await outsider.request(method, path, json=body)
        assert (denied.value.status, denied.value.error) == (404, "meeting_not_found"), path
    with pytest.raises(ApiFailure) as not_organizer:
        await ann.request("DELETE", f"/v1/meetings/{meeting['id']}")
    assert (not_organizer.value.status, not_organizer.value.error) == (403, "not_allowed")


async def test_bad_meeting_requests_create_nothing(signup: Signup) -> None:
    org, ann = await signup(), await signup()
    past = _wall_clock(-1).isoformat()
    cases = [
        ({"timezone": "Mars/Olympus"}, 400, "invalid_timezone"),
        ({"start": past}, 400, "start_in_past"),
        ({"start": "tomorrow at noon"}, 422, "validation_error"),
        ({"duration_minutes": 0}, 422, "validation_error"),
        ({"invitees": ["bob"]}, 400, "invalid_user"),
        ({"invitees": ["u0000000000000000@RU-MOW"]}, 404, "user_not_found"),
        ({"reminder_minutes": -5}, 422, "validation_error"),
        ({"color": "red"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        invitees = body.pop("invitees", [ann.user_id])
        with pytest.raises(ApiFailure) as bad:
            await _schedule(org, invitees, **body)  # type: ignore[arg-type]
        assert (bad.value.status, bad.value.error) == (status, code), body
    assert await org.request("GET", "/v1/meetings") == [] and await ann.request("GET", "/v1/meetings") == []
    # An offset in the start wins over the zone's wall clock: 12:00+00:00 is 15:00 in Moscow.
    utc_noon = (datetime.now(MOSCOW) + timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
    meeting = await _schedule(org, [ann.user_id], start=utc_noon.replace(tzinfo=ZoneInfo("UTC")).isoformat())
    assert meeting["start"].startswith(utc_noon.date().isoformat() + "T15:00:00+03:00")
    with pytest.raises(ApiFailure) as own:
        await org.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "accepted"})
    assert (own.value.status, own.value.error) == (400, "organizer_rsvp")
    with pytest.raises(ApiFailure) as bad_rsvp:
        await ann.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "maybe"})
    assert bad_rsvp.value.status == 422
    await org.request("DELETE", f"/v1/meetings/{meeting['id']}")
    assert await ann.request("GET", "/v1/meetings") == []
    with pytest.raises(ApiFailure) as cancelled:
        await ann.request("POST", f"/v1/meetings/{meeting['id']}/start")
    assert (cancelled.value.status, cancelled.value.error) == (409, "meeting_cancelled")


async def test_reminder_is_pushed_once_to_those_who_did_not_decline(
    signup: Signup, clock_node: Any, clock: DevClock
) -> None:
    """On ``clock_node``: its clock is moved to the reminder time and the reminder sweep run explicitly."""
    org, ann, ben = [await signup(node_=clock_node) for _ in range(3)]
    # Two hours from the node's now, reminded 30 minutes before: due in 90 minutes of the node's clock.
    start = datetime.fromtimestamp(await clock.now() + 7200, MOSCOW).replace(tzinfo=None, microsecond=0)
    meeting = await _schedule(org, [ann.user_id, ben.user_id], start=start.isoformat(), reminder_minutes=30)
    await ben.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "declined"})
    await clock.advance(90 * 60 - 120)
    assert (await clock.sweep("reminders"))["reminders_sent"] == 0  # two minutes early
    async with ann.socket() as ann_ws, org.socket() as org_ws:
        await clock.advance(180)
        assert (await clock.sweep("reminders"))["reminders_sent"] == 1
        reminder = await next_kind(ann_ws, "meeting.reminder")
        assert (await next_kind(org_ws, "meeting.reminder"))["data"] == reminder["data"]
        assert reminder["data"]["meeting_id"] == meeting["id"]
        assert 0 < reminder["data"]["starts_in"] <= 1800
        assert (await clock.sweep("reminders"))["reminders_sent"] == 0  # once only
    kinds = [e["kind"] for e in (await ann.request("GET", "/v1/sync", params={"cursor": 0}))["events"]]
    assert kinds.count("meeting.reminder") == 1
    kinds = [e["kind"] for e in await ben.sync()]
    assert "meeting.invited" in kinds and "meeting.reminder" not in kinds
    assert (await ann.request("GET", f"/v1/meetings/{meeting['id']}"))["reminded"] is True


async def test_starting_a_meeting_opens_a_metered_group_call(signup: Signup) -> None:
    org, ann, ben = [await signup() for _ in range(3)]
    meeting = await _schedule(
        org, [ann.user_id, ben.user_id], start=_wall_clock(0.1).isoformat(), media="audio"
    )
    await ben.request("POST", f"/v1/meetings/{meeting['id']}/rsvp", json={"response": "declined"})
    async with ann.socket(resume=False) as ann_ws:
        call = await org.request("POST", f"/v1/meetings/{meeting['id']}/start")
        incoming = await next_kind(ann_ws, "call.incoming")
    assert incoming["data"]["call_id"] == call["id"] and incoming["data"]["kind"] == "group"
    assert (call["meeting_id"], call["chat_id"], call["kind"]) == (meeting["id"], None, "group")
    assert {p["user_id"] for p in call["participants"]} == {org.user_id, ann.user_id}  # ben declined
    again = await ann.request("POST", f"/v1/meetings/{meeting['id']}/start")  # joins the running call
    assert again["id"] == call["id"] and person(again, ann.user_id)["status"] == "joined"
    assert (await org.request("GET", f"/v1/meetings/{meeting['id']}"))["call_id"] == call["id"]
    time.sleep(0.2)
    await act(ann, call["id"], "leave")
    await act(org, call["id"], "leave")
    record = await org.request("GET", f"/v1/calls/{call['id']}")
    assert record["state"] == "ended" and record["media"] == "audio"
    for user in (org, ann):
        assert person(record, user.user_id)["seconds"] > 0
        assert (await user.request("GET", "/v1/usage"))["minutes"] == 1
    with pytest.raises(ApiFailure) as outsider:
        await ben.request("GET", f"/v1/calls/{call['id']}")
    assert outsider.value.status == 404


async def test_simultaneous_starts_open_one_call(signup: Signup) -> None:
    org, ann, ben = [await signup() for _ in range(3)]
    meeting = await _schedule(org, [ann.user_id, ben.user_id], start=_wall_clock(0.2).isoformat())
    path = f"/v1/meetings/{meeting['id']}/start"
    records = await asyncio.gather(*(user.request("POST", path) for user in (org, ann, ben)))
    assert len({r["id"] for r in records}) == 1
    record = await org.request("GET", f"/v1/calls/{records[0]['id']}")
    assert all(p["status"] == "joined" for p in record["participants"])
    assert record["state"] == "active" and len(record["participants"]) == 3
