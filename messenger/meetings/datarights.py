"""Data rights of meetings: those the user organizes and those they are invited to (with their RSVP).

Erase: meetings they organize are deleted (invitees of upcoming ones get ``meeting.cancelled`` with
``by: ERASED_USER``); their invitations to others' meetings go, here and as guests of meetings
organized in other states (``fed_meeting_guests``; the organizer's node keeps the RSVP it was sent).
The calls a meeting opened keep their records (calls provider).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, or_, select

from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.db.base import now
from messenger.db.models.meetings import Meeting, MeetingInvitee
from messenger.federation.models import MeetingGuest, MeetingHost
from messenger.meetings.service import invitees_of, view
from messenger.realtime.events import emit_to_users


async def export(ctx: Context) -> Mapping[str, Any]:
    user_id = ctx.subject.user_id
    invited = select(MeetingInvitee.meeting_id).where(MeetingInvitee.user_id == user_id)
    rows = await ctx.session.scalars(
        select(Meeting)
        .where(or_(Meeting.organizer == user_id, Meeting.id.in_(invited)))
        .order_by(Meeting.starts_at)
    )
    remote = await ctx.session.scalars(
        select(MeetingHost.view)
        .join(MeetingGuest, MeetingGuest.meeting_id == MeetingHost.meeting_id)
        .where(MeetingGuest.user_id == user_id, MeetingHost.view.is_not(None))
    )
    return {
        "meetings": [await view(ctx.session, m) for m in rows.all()],
        "meetings_elsewhere": [json.loads(v) for v in remote if v],
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    organized = list(await session.scalars(select(Meeting).where(Meeting.organizer == user_id)))
    ts = now()
    for meeting in organized:
        if meeting.cancelled_at is None and meeting.starts_at + meeting.duration_minutes * 60 > ts:
            others = [i.user_id for i in await invitees_of(session, meeting.id)]
            await emit_to_users(
                session,
                user_ids=others,
                kind="meeting.cancelled",
                payload={"meeting_id": meeting.id, "by": ERASED_USER},
            )
    await session.execute(delete(Meeting).where(Meeting.organizer == user_id))
    invited = await session.execute(delete(MeetingInvitee).where(MeetingInvitee.user_id == user_id))
    guest = await session.execute(delete(MeetingGuest).where(MeetingGuest.user_id == user_id))
    return {
        "organized": len(organized),
        "invitations": invited.rowcount or 0,  # type: ignore[attr-defined]
        "invitations_elsewhere": guest.rowcount or 0,  # type: ignore[attr-defined]
    }


PROVIDER = Provider(
    name="meetings",
    covers={"meetings": ("organizer",), "meeting_invitees": ("user_id",), "fed_meeting_guests": ("user_id",)},
    export=export,
    erase=erase,
)
