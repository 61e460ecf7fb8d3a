"""Meetings across states, carried by the outbox (PDU kinds ``meeting.event`` and ``meeting.op``).

A meeting is hosted by its organizer's home node. ``meeting.event`` (host → invitee's home node)
carries ``meeting.invited`` / ``rsvp`` / ``cancelled`` / ``reminder`` for that node's invitees; the
first one (``meeting.invited``, from the organizer's home state) records the host (``fed_meeting_hosts``).
``meeting.op`` (invitee's home node → host) carries an RSVP, run by the meetings service after the
commit with the same checks as for a local invitee.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models.meetings import Meeting
from messenger.federation.models import OPS_PENDING, MeetingHost, PendingOp
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


async def apply_event(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``meeting.event``: push a hosted meeting's event to this node's invitees' devices."""
    meeting_id, kind = str(pdu["meeting_id"]), str(pdu["kind"])
    payload: dict[str, Any] = dict(pdu["payload"])
    row = await session.get(MeetingHost, meeting_id)
    if row is None:
        if kind != "meeting.invited" or home_state(str(payload["organizer"])) != origin:
            raise MeetingPduRejected(f"{origin} sent {kind} of a meeting {meeting_id} unknown here")
        session.add(MeetingHost(meeting_id=meeting_id, host_state=origin))
    elif row.host_state != origin:
        raise MeetingPduRejected(f"{origin} does not host meeting {meeting_id}")
    users = [str(u) for u in pdu["users"] if home_state(str(u)) == local]
    await emit_to_users(session, user_ids=users, kind=kind, payload=payload)


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
