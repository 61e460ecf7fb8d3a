"""``/v1/meetings``: schedule, list, show, RSVP, cancel, ``.ics`` export, start (opens the group call).

``startup`` runs the reminder sweep in every worker (each reminder is claimed once in the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from messenger.api.calls import CallRecordOut, call_record
from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.billing.tariffs import node_tariffs
from messenger.db.models.meetings import Meeting
from messenger.meetings import service
from messenger.meetings.ics import meeting_ics
from messenger.meetings.peers import peers_of
from messenger.node import Node

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])
log = logging.getLogger("messenger.meetings")


class MeetingIn(Body):
    title: str = Field(min_length=1, max_length=200)
    start: datetime = Field(description="ISO 8601; without an offset it is wall-clock time in `timezone`")
    timezone: str = Field(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Moscow")
    duration_minutes: int = Field(ge=1, le=24 * 60)
    invitees: list[str] = Field(max_length=500, description="user ids of any state")
    reminder_minutes: int = Field(10, ge=0, le=7 * 24 * 60)
    media: Literal["audio", "video"] = "video"


class RsvpIn(Body):
    response: Literal["accepted", "declined", "tentative"]


class InviteeOut(Out):
    user_id: str
    rsvp: Literal["needs-action", "accepted", "declined", "tentative"]


class MeetingOut(Out):
    id: str
    title: str
    organizer: str
    start: str = Field(description="ISO 8601 in the meeting's time zone")
    starts_at: float
    duration_minutes: int
    timezone: str
    media: Literal["audio", "video"]
    reminder_minutes: int
    reminded: bool
    call_id: str | None
    cancelled: bool
    sequence: int
    invitees: list[InviteeOut]


async def _out(session: SessionDep, meeting: Meeting) -> MeetingOut:
    return MeetingOut.model_validate(await service.view(session, meeting))


@router.post("", status_code=201)
async def schedule(body: MeetingIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> MeetingOut:
    meeting = await service.schedule(
        session,
        organizer=device.user_id,
        state=node.settings.state,
        title=body.title,
        start=body.start,
        timezone=body.timezone,
        duration_minutes=body.duration_minutes,
        invitees=body.invitees,
        reminder_minutes=body.reminder_minutes,
        media=body.media,
    )
    return await _out(session, meeting)


@router.get("")
async def list_meetings(session: SessionDep, device: CurrentDevice) -> list[MeetingOut]:
    """Meetings the caller organizes or is invited to (not cancelled), by start time; also those
    organized in other states, as their organizers' nodes last described them."""
    return [MeetingOut.model_validate(v) for v in await service.views_for(session, device.user_id)]


@router.get("/{meeting_id}")
async def get_meeting(meeting_id: str, session: SessionDep, device: CurrentDevice) -> MeetingOut:
    return MeetingOut.model_validate(await service.view_for(session, meeting_id, device.user_id))


@router.get("/{meeting_id}/ics", response_class=Response)
async def export_ics(meeting_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> Response:
    """The meeting as an iCalendar file (``text/calendar``)."""
    meeting = await service.view_for(session, meeting_id, device.user_id)
    body = meeting_ics(meeting, state=node.settings.state, base_url=node.settings.base_url)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{meeting_id}.ics"'},
    )


@router.post(
    "/{meeting_id}/rsvp",
    response_model=MeetingOut,
    responses={202: {"description": "organized in another state: forwarded there; `meeting.rsvp` follows"}},
)
async def rsvp(meeting_id: str, body: RsvpIn, session: SessionDep, device: CurrentDevice) -> Any:
    peers = peers_of(session)
    if peers is not None and await peers.forward_rsvp(
        session, meeting_id=meeting_id, user_id=device.user_id, response=body.response
    ):
        return JSONResponse({"meeting_id": meeting_id, "forwarded": True}, status_code=202)
    meeting = await service.rsvp(
        session, meeting_id=meeting_id, user_id=device.user_id, response=body.response
    )
    return await _out(session, meeting)


@router.delete("/{meeting_id}", status_code=204)
async def cancel(meeting_id: str, session: SessionDep, device: CurrentDevice) -> Response:
    await service.cancel(session, meeting_id=meeting_id, user_id=device.user_id)
    return Response(status_code=204)


@router.post("/{meeting_id}/start")
async def start(meeting_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice) -> CallRecordOut:
    """Open the meeting's group call (or join it if it is running); returns the call record."""
    rounding = node_tariffs(node).minute_rounding
    call = await service.start(session, meeting_id=meeting_id, device=device, rounding=rounding)
    return await call_record(session, call)


async def _remind(node: Node) -> None:
    while True:
        await asyncio.sleep(node.settings.call_sweep_seconds)
        try:
            async with node.sessions() as session:
                await service.send_due_reminders(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reminder sweep failed")


async def startup(node: Node) -> None:
    node.features["meetings.reminders"] = asyncio.create_task(_remind(node), name="meeting-reminders")


async def shutdown(node: Node) -> None:
    task = node.features.pop("meetings.reminders", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
