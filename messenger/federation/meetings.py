"""Meetings across states, carried by the outbox (PDU kinds ``meeting.event`` and ``meeting.op``).

A meeting is hosted by its organizer's home node. ``meeting.event`` (host → invitee's home node)
carries ``meeting.invited`` / ``rsvp`` / ``cancelled`` / ``reminder`` for that node's invitees; the
first one (``meeting.invited``, from the organizer's home state) records the host, the meeting's view
(``fed_meeting_hosts``) and this node's invitees (``fed_meeting_guests``); the later ones keep the view
current, so an invitee's own node lists the meeting and exports its ``.ics``. Events reach only those
invitees.
``meeting.op`` (invitee's home node → host) carries an RSVP, run by the meetings service after the
commit with the same checks as for a local invitee.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.api.meetings import MeetingOut
from messenger.db.models.meetings import Meeting
from messenger.errors import ApiError
from messenger.federation.models import OPS_PENDING, MeetingGuest, MeetingHost, PendingOp
from messenger.federation.outbox import enqueue
from messenger.meetings import service
from messenger.realtime.events import emit_to_users
from messenger.services.ids import home_state

RESPONSES = frozenset({"accepted", "declined", "tentative"})


class MeetingPduRejected(ValueError):
    """A meeting PDU the origin may not send; the inbox logs and skips it."""


@dataclass(frozen=True)
class MeetingRelay:
    """``messenger.meetings.peers.MeetingPeers`` of a node of state ``local``; events go only to
    ``reachable`` states (configured peers the policy allows: invitees are not checked at scheduling)."""

    local: str
    reachable: frozenset[str]

    async def event(
        self,
        session: AsyncSession,
        *,
        meeting_id: str,
        kind: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
    ) -> None:
        by_state: dict[str, list[str]] = {}
        for user in users:
            if home_state(user) != self.local and home_state(user) in self.reachable:
                by_state.setdefault(home_state(user), []).append(user)
        for state, mine in sorted(by_state.items()):
            pdu = {"type": "meeting.event", "meeting_id": meeting_id, "kind": kind, "payload": dict(payload)}
            await enqueue(session, [state], {**pdu, "users": mine})

    async def forward_rsvp(
        self, session: AsyncSession, *, meeting_id: str, user_id: str, response: str
    ) -> bool:
        if await session.get(Meeting, meeting_id) is not None:
            return False
        host = await session.get(MeetingHost, meeting_id)
        if host is None:
            return False
        pdu = {"type": "meeting.op", "meeting_id": meeting_id, "user_id": user_id, "response": response}
        await enqueue(session, [host.host_state], pdu)
        await session.commit()
        return True

    async def views(
        self, session: AsyncSession, *, user_id: str, meeting_id: str | None = None
    ) -> list[dict[str, Any]]:
        query = (
            select(MeetingHost.view)
            .join(MeetingGuest, MeetingGuest.meeting_id == MeetingHost.meeting_id)
            .where(MeetingGuest.user_id == user_id, MeetingHost.view.is_not(None))
        )
        if meeting_id is not None:
            query = query.where(MeetingHost.meeting_id == meeting_id)
        return [json.loads(v) for v in await session.scalars(query) if v]


async def apply_event(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``meeting.event``: update this node's view of a hosted meeting and push the event to its invitees
    here."""
    meeting_id, kind = str(pdu["meeting_id"]), str(pdu["kind"])
    payload: dict[str, Any] = dict(pdu["payload"])
    row = await session.get(MeetingHost, meeting_id)
    if row is None:
        if kind != "meeting.invited" or home_state(str(payload["organizer"])) != origin:
            raise MeetingPduRejected(f"{origin} sent {kind} of a meeting {meeting_id} unknown here")
        row = MeetingHost(meeting_id=meeting_id, host_state=origin)
        session.add(row)
    elif row.host_state != origin:
        raise MeetingPduRejected(f"{origin} does not host meeting {meeting_id}")
    if kind == "meeting.invited":
        if str(payload["id"]) != meeting_id:
            raise MeetingPduRejected(f"the invitation is of meeting {payload['id']}, not {meeting_id}")
        view = MeetingOut.model_validate(payload)  # what this node will show and export; else skipped
        try:
            service.zone(view.timezone)
        except ApiError:
            raise MeetingPduRejected(f"{view.timezone!r} is not a time zone") from None
        invited = {i.user_id for i in view.invitees}
        guests = {str(u) for u in pdu["users"] if home_state(str(u)) == local and str(u) in invited}
        row.view = view.model_dump_json()
        await session.flush()
        known = set(
            await session.scalars(select(MeetingGuest.user_id).where(MeetingGuest.meeting_id == meeting_id))
        )
        session.add_all(MeetingGuest(meeting_id=meeting_id, user_id=u) for u in sorted(guests - known))
        await session.flush()
    elif row.view is not None:
        row.view = json.dumps(_updated(json.loads(row.view), kind, payload))
    users = set(
        await session.scalars(select(MeetingGuest.user_id).where(MeetingGuest.meeting_id == meeting_id))
    )
    await emit_to_users(
        session, user_ids=[str(u) for u in pdu["users"] if str(u) in users], kind=kind, payload=payload
    )


def _updated(view: dict[str, Any], kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The meeting's view after event ``kind`` (as the host's ``meetings.service.view`` would show it)."""
    if kind == "meeting.rsvp":
        response = str(payload["rsvp"])
        if response not in RESPONSES:
            raise MeetingPduRejected(f"{response!r} is not an RSVP")
        for invitee in view["invitees"]:
            if invitee["user_id"] == payload["user_id"]:
                invitee["rsvp"] = response
    elif kind == "meeting.cancelled" and not view["cancelled"]:
        view["cancelled"], view["sequence"] = True, int(view["sequence"]) + 1
    elif kind == "meeting.reminder":
        view["reminded"] = True
    return view


async def apply_op(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``meeting.op``: an RSVP of ``origin``'s user to a meeting hosted here; stored, run after the commit."""
    meeting_id, user_id, response = str(pdu["meeting_id"]), str(pdu["user_id"]), str(pdu["response"])
    if await session.get(Meeting, meeting_id) is None:
        raise MeetingPduRejected(f"meeting {meeting_id} is not hosted here")
    if home_state(user_id) != origin or response not in RESPONSES:
        raise MeetingPduRejected(f"{origin} cannot RSVP {response!r} for {user_id}")
    op = {"meeting_id": meeting_id, "actor": user_id, "op": "meeting.rsvp", "args": {"response": response}}
    session.add(PendingOp(origin=origin, op=json.dumps(op)))
    session.info[OPS_PENDING] = True


async def run_op(session: AsyncSession, origin: str, op: Mapping[str, Any]) -> None:
    """Carry out a stored RSVP as the remote invitee (the service checks the invitation; it commits)."""
    actor = str(op["actor"])
    if home_state(actor) != origin or op["op"] != "meeting.rsvp":
        raise ValueError(f"{origin} cannot ask {op['op']!r} for {actor}")
    response = str(op["args"]["response"])
    await service.rsvp(session, meeting_id=str(op["meeting_id"]), user_id=actor, response=response)
