"""iCalendar (RFC 5545) export of a meeting with ``icalendar``: one VEVENT in the organizer's time zone
(with its VTIMEZONE), attendees with their PARTSTAT, and a display alarm at the reminder time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from messenger.services.ids import home_state

PARTSTAT = {
    "needs-action": "NEEDS-ACTION",
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
}


def _address(user_id: str) -> icalendar.vCalAddress:
    # CAL-ADDRESS is any URI (RFC 5545 §3.3.3); users have no e-mail here, so a URN names them.
    return icalendar.vCalAddress(f"urn:msgfleet:user:{user_id}")


def meeting_ics(meeting: dict[str, Any], *, state: str, base_url: str | None) -> bytes:
    """The ``.ics`` document of ``meeting`` (a ``messenger.meetings.service.view`` dict)."""
    cal = icalendar.Calendar()
    cal.add("prodid", f"-//msgfleet//messenger node {state}//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    tz = ZoneInfo(meeting["timezone"])
    # The organizer's node hosts the meeting: the same UID whichever invitee's node exports it.
    event.add("uid", f"{meeting['id']}@msgfleet.{home_state(meeting['organizer']).lower()}")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", datetime.fromtimestamp(meeting["starts_at"], tz))
    event.add("duration", timedelta(minutes=meeting["duration_minutes"]))
    event.add("summary", meeting["title"])
    event.add("sequence", meeting.get("sequence", 0))
    event.add("status", "CANCELLED" if meeting["cancelled"] else "CONFIRMED")
    if base_url:
        event.add("url", f"{base_url.rstrip('/')}/v1/meetings/{meeting['id']}")
    organizer = _address(meeting["organizer"])
    organizer.params["cn"] = meeting["organizer"]
    event.add("organizer", organizer)
    for invitee in meeting["invitees"]:
        attendee = _address(invitee["user_id"])
        attendee.params["partstat"] = PARTSTAT[invitee["rsvp"]]
        attendee.params["role"] = "REQ-PARTICIPANT"
        event.add("attendee", attendee, encode=False)
    if meeting["reminder_minutes"] > 0:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", meeting["title"])
        alarm.add("trigger", timedelta(minutes=-meeting["reminder_minutes"]))
        event.add_component(alarm)
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
