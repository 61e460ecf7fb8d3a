"""Meetings: schedule, list, RSVP, cancel, start (opens a metered group call), and due reminders.

Times: the organizer gives a wall-clock start in an IANA time zone (or an ISO 8601 time with offset);
the node stores the UTC instant and keeps the zone for the calendar export.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.tariffs import Rounding
from messenger.calls import service as calls
from messenger.db.base import now
from messenger.db.models import Device
from messenger.db.models.calls import Call
from messenger.db.models.meetings import Meeting, MeetingInvitee
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.meetings.peers import peers_of
from messenger.realtime.events import emit_to_users
from messenger.services.chats import check_users
from messenger.services.ids import new_id


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(
            f"{name!r} is not an IANA time zone like Europe/Moscow", code="invalid_timezone"
        ) from None


def start_instant(start: datetime, tz: ZoneInfo) -> float:
    """UNIX seconds of ``start``: a naive time is wall-clock time in ``tz``."""
    return (start.replace(tzinfo=tz) if start.tzinfo is None else start).timestamp()


async def invitees_of(session: AsyncSession, meeting_id: str) -> list[MeetingInvitee]:
    rows = await session.scalars(
        select(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting_id).order_by(MeetingInvitee.user_id)
    )
    return list(rows.all())


async def view(session: AsyncSession, meeting: Meeting) -> dict[str, Any]:
    tz = ZoneInfo(meeting.timezone)
    return {
        "id": meeting.id,
        "title": meeting.title,
        "organizer": meeting.organizer,
        "start": datetime.fromtimestamp(meeting.starts_at, tz).isoformat(),
        "starts_at": meeting.starts_at,
        "duration_minutes": meeting.duration_minutes,
        "timezone": meeting.timezone,
        "media": meeting.media,
        "reminder_minutes": round((meeting.starts_at - meeting.remind_at) / 60),
        "reminded": meeting.reminded_at is not None,
        "call_id": meeting.call_id,
        "cancelled": meeting.cancelled_at is not None,
        "sequence": meeting.sequence,
        "invitees": [{"user_id": i.user_id, "rsvp": i.rsvp} for i in await invitees_of(session, meeting.id)],
    }


async def get_for(session: AsyncSession, meeting_id: str, user_id: str) -> Meeting:
    """The meeting if ``user_id`` organizes it or is invited; 404 otherwise (ids do not leak)."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is not None and (
        meeting.organizer == user_id or await session.get(MeetingInvitee, (meeting_id, user_id)) is not None
    ):
        return meeting
    raise NotFound(f"meeting {meeting_id} not found", code="meeting_not_found")


async def _emit(
    session: AsyncSession, *, meeting_id: str, user_ids: Sequence[str], kind: str, payload: dict[str, Any]
) -> None:
    """Push ``kind`` to this node's users' devices and, through federation, to the others' home nodes."""
    await emit_to_users(session, user_ids=user_ids, kind=kind, payload=payload)
    peers = peers_of(session)
    if peers is not None:
        await peers.event(session, meeting_id=meeting_id, kind=kind, payload=payload, users=user_ids)


async def _people(session: AsyncSession, meeting: Meeting, *, skip_declined: bool = False) -> list[str]:
    invited = [
        i.user_id
        for i in await invitees_of(session, meeting.id)
        if not (skip_declined and i.rsvp == "declined")
    ]
    return [meeting.organizer, *invited]


async def schedule(
    session: AsyncSession,
    *,
    organizer: str,
    state: str,
    title: str,
    start: datetime,
    timezone: str,
    duration_minutes: int,
    invitees: Sequence[str],
    reminder_minutes: int,
    media: str,
) -> Meeting:
    tz = zone(timezone)
    starts_at = start_instant(start, tz)
    if starts_at <= now():
        raise BadRequest(f"start {start.isoformat()} ({timezone}) is in the past", code="start_in_past")
    people = sorted(set(invitees) - {organizer})
    await check_users(session, user_ids=people, state=state)
    meeting = Meeting(
        id=new_id("e"),
        title=title,
        organizer=organizer,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        timezone=timezone,
        media=media,
        remind_at=starts_at - reminder_minutes * 60,
        created_at=now(),
        sequence=0,
    )
    session.add(meeting)
    session.add_all(MeetingInvitee(meeting_id=meeting.id, user_id=u, rsvp="needs-action") for u in people)
    await session.flush()
    await _emit(
        session,
        meeting_id=meeting.id,
        user_ids=[organizer, *people],
        kind="meeting.invited",
        payload=await view(session, meeting),
    )
    await session.commit()
    return meeting


async def list_for(session: AsyncSession, user_id: str) -> list[Meeting]:
    invited = select(MeetingInvitee.meeting_id).where(MeetingInvitee.user_id == user_id)
    rows = await session.scalars(
        select(Meeting)
        .where(or_(Meeting.organizer == user_id, Meeting.id.in_(invited)), Meeting.cancelled_at.is_(None))
        .order_by(Meeting.starts_at)
    )
    return list(rows.all())


async def views_for(session: AsyncSession, user_id: str) -> list[dict[str, Any]]:
    """Meetings ``user_id`` organizes or is invited to (not cancelled), here and, for an invitee of a
    meeting organized in another state, as its host last described it; by start time."""
    found = [await view(session, m) for m in await list_for(session, user_id)]
    peers = peers_of(session)
    if peers is not None:
        found += [v for v in await peers.views(session, user_id=user_id) if not v["cancelled"]]
    return sorted(found, key=lambda v: (v["starts_at"], v["id"]))


async def view_for(session: AsyncSession, meeting_id: str, user_id: str) -> dict[str, Any]:
    """The meeting's view for its organizer or an invitee (also of a meeting hosted elsewhere); 404
    otherwise."""
    try:
        return await view(session, await get_for(session, meeting_id, user_id))
    except NotFound:
        peers = peers_of(session)
        remote = [] if peers is None else await peers.views(session, user_id=user_id, meeting_id=meeting_id)
        if not remote:
            raise
        return remote[0]


async def rsvp(session: AsyncSession, *, meeting_id: str, user_id: str, response: str) -> Meeting:
    meeting = await get_for(session, meeting_id, user_id)
    if meeting.organizer == user_id:
        raise BadRequest("the organizer does not RSVP to their own meeting", code="organizer_rsvp")
    if meeting.cancelled_at is not None:
        raise Conflict(f"meeting {meeting.id} was cancelled", code="meeting_cancelled")
    invitee = await session.get(MeetingInvitee, (meeting.id, user_id))
    assert invitee is not None
    invitee.rsvp, invitee.responded_at = response, now()
    await _emit(
        session,
        meeting_id=meeting.id,
        user_ids=[meeting.organizer, user_id],
        kind="meeting.rsvp",
        payload={"meeting_id": meeting.id, "user_id": user_id, "rsvp": response},
    )
    await session.commit()
    return meeting


async def cancel(session: AsyncSession, *, meeting_id: str, user_id: str) -> None:
    meeting = await get_for(session, meeting_id, user_id)
    if meeting.organizer != user_id:
        raise Forbidden("only the organizer cancels a meeting", code="not_allowed")
    if meeting.cancelled_at is None:
        meeting.cancelled_at, meeting.sequence = now(), meeting.sequence + 1
        await _emit(
            session,
            meeting_id=meeting.id,
            user_ids=await _people(session, meeting),
            kind="meeting.cancelled",
            payload={"meeting_id": meeting.id, "by": user_id},
        )
    await session.commit()


async def start(session: AsyncSession, *, meeting_id: str, device: Device, rounding: Rounding) -> Call:
    """Open the meeting's group call (ringing everyone who has not declined), or join the running one."""
    await get_for(session, meeting_id, device.user_id)
    # Lock the meeting row so that two simultaneous starts open one call (SQLite: BEGIN IMMEDIATE).
    meeting = await session.scalar(
        select(Meeting)
        .where(Meeting.id == meeting_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert meeting is not None
    if meeting.cancelled_at is not None:
        raise Conflict(f"meeting {meeting.id} was cancelled", code="meeting_cancelled")
    if now() > meeting.starts_at + meeting.duration_minutes * 60:
        raise Conflict(f"meeting {meeting.id} is over", code="meeting_over")
    if meeting.call_id is not None:
        running = await session.get(Call, meeting.call_id)
        if running is not None and running.state in calls.LIVE:
            return await calls.join(session, call_id=running.id, device=device, rounding=rounding)
    people = await _people(session, meeting, skip_declined=True)
    call = await calls.start_call(
        session, device=device, media=meeting.media, invitees=people, meeting_id=meeting.id, commit=False
    )
    meeting.call_id = call.id
    await session.commit()
    return call


async def send_due_reminders(session: AsyncSession) -> int:
    """Push ``meeting.reminder`` for meetings whose reminder time has come; each meeting once."""
    ts = now()
    due = list(
        await session.scalars(
            select(Meeting).where(
                Meeting.remind_at <= ts, Meeting.reminded_at.is_(None), Meeting.cancelled_at.is_(None)
            )
        )
    )
    sent = 0
    for meeting in due:
        claimed = await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting.id, Meeting.reminded_at.is_(None))
            .values(reminded_at=ts)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # another worker sent it
            continue
        payload = {
            "meeting_id": meeting.id,
            "title": meeting.title,
            "starts_at": meeting.starts_at,
            "starts_in": round(meeting.starts_at - ts),
        }
        await _emit(
            session,
            meeting_id=meeting.id,
            user_ids=await _people(session, meeting, skip_declined=True),
            kind="meeting.reminder",
            payload=payload,
        )
        sent += 1
    await session.commit()
    return sent
