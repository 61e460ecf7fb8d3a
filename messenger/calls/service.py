"""Call lifecycle: start (ring), ring ack, accept/join, decline, leave, hang up, heartbeat, end.

State changes lock the call row (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
serialises writers), so concurrent answers from several devices or workers apply one at a time.
Every change is pushed to the participants' devices as a ``call.*`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.tariffs import Rounding
from messenger.calls.metrics import CALLS_ENDED, CALLS_STARTED
from messenger.calls.peers import DeviceRef, peers_of
from messenger.calls.records import close_legs
from messenger.db.base import now
from messenger.db.models import Chat, Member
from messenger.db.models.calls import Call, CallLeg, CallParticipant
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.realtime.events import emit_to_users
from messenger.services.ids import new_id

LIVE = ("ringing", "active")
WAITING = ("invited", "ringing")  # participants who have not answered yet


async def lock_call(session: AsyncSession, call_id: str) -> Call:
    call = await session.scalar(
        select(Call).where(Call.id == call_id).with_for_update().execution_options(populate_existing=True)
    )
    if call is None:
        raise NotFound(f"call {call_id} not found", code="call_not_found")
    return call


async def find_call(session: AsyncSession, call_id: str, user_id: str) -> Call:
    """A call ``user_id`` takes part in, read without locking; 404 otherwise."""
    call = await session.get(Call, call_id)
    if call is None or await session.get(CallParticipant, (call_id, user_id)) is None:
        raise NotFound(f"call {call_id} not found", code="call_not_found")
    return call


async def participant(session: AsyncSession, call: Call, user_id: str) -> CallParticipant:
    """The caller's participation; 404 (not 403) for outsiders so call ids do not leak."""
    part = await session.get(CallParticipant, (call.id, user_id))
    if part is None:
        raise NotFound(f"call {call.id} not found", code="call_not_found")
    return part


async def participants(session: AsyncSession, call_id: str) -> list[CallParticipant]:
    rows = await session.scalars(select(CallParticipant).where(CallParticipant.call_id == call_id))
    return list(rows.all())


async def open_legs(session: AsyncSession, call_id: str, user_id: str | None = None) -> list[CallLeg]:
    query = select(CallLeg).where(CallLeg.call_id == call_id, CallLeg.left_at.is_(None))
    if user_id is not None:
        query = query.where(CallLeg.user_id == user_id)
    return list((await session.scalars(query)).all())


async def notify(session: AsyncSession, call: Call, event: str, **data: Any) -> None:
    """Push ``call.<kind>`` to every device of every participant: this node's users here, the others
    through their home nodes (``messenger.calls.peers``)."""
    users = [p.user_id for p in await participants(session, call.id)]
    payload = {"call_id": call.id, "chat_id": call.chat_id, "state": call.state, **data}
    await emit_to_users(session, user_ids=users, kind=f"call.{event}", payload=payload)
    peers = peers_of(session)
    if peers is not None:
        await peers.event(session, call_id=call.id, kind=f"call.{event}", payload=payload, users=users)


def _not_ended(call: Call) -> None:
    if call.state not in LIVE:
        raise Conflict(f"call {call.id} has ended", code="call_ended")


async def _chat_invitees(
    session: AsyncSession, *, chat_id: str, user_id: str, invitees: Sequence[str] | None
) -> tuple[str, list[str]]:
    """The call kind and the users to ring for a call in ``chat_id`` started by ``user_id``."""
    if await session.get(Member, (chat_id, user_id)) is None:
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")
    chat = await session.get(Chat, chat_id)
    assert chat is not None
    members = set(await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id))) - {user_id}
    if invitees is None:
        chosen = sorted(members)
    else:
        chosen = sorted(set(invitees) - {user_id})
        strangers = sorted(set(chosen) - members)
        if strangers:
            raise BadRequest(
                f"not members of chat {chat_id}: {', '.join(strangers)}", code="invalid_invitees"
            )
    if not chosen:
        raise BadRequest("a call needs at least one other member to ring", code="invalid_invitees")
    return ("direct" if chat.kind == "private" else "group"), chosen


async def start_call(
    session: AsyncSession,
    *,
    device: DeviceRef,
    media: str,
    chat_id: str | None = None,
    invitees: Sequence[str] | None = None,
    meeting_id: str | None = None,
    commit: bool = True,
) -> Call:
    """Create a call, open the caller's leg and ring the invitees (``call.incoming``).

    ``commit=False`` leaves the transaction open for a caller that records the call elsewhere first.
    """
    user_id, device_id, ts = device.user_id, device.id, now()
    if chat_id is not None:
        kind, chosen = await _chat_invitees(session, chat_id=chat_id, user_id=user_id, invitees=invitees)
        # Two members pressing "call" at once: the chat row lock lets one call through, the other gets 409.
        await session.execute(select(Chat.id).where(Chat.id == chat_id).with_for_update())
        busy = await session.scalar(select(Call.id).where(Call.chat_id == chat_id, Call.state.in_(LIVE)))
        if busy is not None:
            raise Conflict(f"chat {chat_id} already has call {busy}; join it", code="call_in_progress")
    else:
        kind, chosen = "group", sorted(set(invitees or ()) - {user_id})
    call = Call(
        id=new_id("k"),
        chat_id=chat_id,
        meeting_id=meeting_id,
        kind=kind,
        media=media,
        created_by=user_id,
        state="ringing",
        created_at=ts,
    )
    session.add(call)
    session.add(CallParticipant(call_id=call.id, user_id=user_id, status="joined", invited_at=ts))
    session.add_all(
        CallParticipant(call_id=call.id, user_id=u, status="invited", invited_at=ts) for u in chosen
    )
    session.add(CallLeg(call_id=call.id, user_id=user_id, device_id=device_id, joined_at=ts, last_seen_at=ts))
    await session.flush()
    await notify(
        session, call, "incoming", kind=kind, media=media, by=user_id, invitees=chosen, meeting_id=meeting_id
    )
    if commit:
        await session.commit()
    CALLS_STARTED.labels(kind, media).inc()
    return call


async def ring(session: AsyncSession, *, call_id: str, device: DeviceRef) -> Call:
    """An invitee's device is ringing (like SIP 180): the caller sees ``call.ringing``."""
    call = await lock_call(session, call_id)
    part = await participant(session, call, device.user_id)
    _not_ended(call)
    if part.status == "invited":
        part.status = "ringing"
        await notify(session, call, "ringing", user_id=device.user_id, device_id=device.id)
    await session.commit()
    return call


async def join(session: AsyncSession, *, call_id: str, device: DeviceRef, rounding: Rounding) -> Call:
    """Accept (or join a running group call): open this device's leg; the first answer starts the meter.

    A member of the call's chat who was not invited may join a group call; a user's leg on another
    device is closed (switching devices keeps one meter per user).
    """
    call = await lock_call(session, call_id)
    user_id, ts = device.user_id, now()
    part = await session.get(CallParticipant, (call.id, user_id))
    if part is None:
        in_chat = call.chat_id is not None and await session.get(Member, (call.chat_id, user_id)) is not None
        if call.kind != "group" or not in_chat:
            raise NotFound(f"call {call.id} not found", code="call_not_found")
        part = CallParticipant(call_id=call.id, user_id=user_id, status="invited", invited_at=ts)
        session.add(part)
    _not_ended(call)
    mine = await open_legs(session, call.id, user_id)
    if any(leg.device_id == device.id for leg in mine):
        await session.commit()
        return call  # already in: accepting twice is harmless
    await close_legs(session, call=call, legs=mine, at=ts, reason="switched", rounding=rounding)
    if call.answered_at is None and user_id != call.created_by:
        call.answered_at, call.state = ts, "active"
    part.status = "joined"
    session.add(CallLeg(call_id=call.id, user_id=user_id, device_id=device.id, joined_at=ts, last_seen_at=ts))
    await session.flush()
    await notify(session, call, "joined", user_id=user_id, device_id=device.id, answered_at=call.answered_at)
    await session.commit()
    return call


async def decline(session: AsyncSession, *, call_id: str, device: DeviceRef, rounding: Rounding) -> Call:
    """Refuse to answer; a direct call ends (``declined``), a group call ends once nobody can still answer."""
    call = await lock_call(session, call_id)
    part = await participant(session, call, device.user_id)
    _not_ended(call)
    if part.status not in WAITING:
        raise Conflict(
            f"call {call.id} cannot be declined by a {part.status} participant", code="not_ringing"
        )
    part.status = "declined"
    await notify(session, call, "declined", user_id=device.user_id)
    if call.answered_at is None and not any(
        p.status in WAITING for p in await participants(session, call.id)
    ):
        await end_call(session, call, reason="declined", rounding=rounding)
    await session.commit()
    return call


async def leave(session: AsyncSession, *, call_id: str, device: DeviceRef, rounding: Rounding) -> Call:
    """Leave: a direct call ends for both (hang-up); a group call ends when its last participant leaves."""
    call = await lock_call(session, call_id)
    part = await participant(session, call, device.user_id)
    _not_ended(call)
    mine = await open_legs(session, call.id, device.user_id)
    if not mine:
        raise Conflict(f"you are not connected to call {call.id}", code="not_joined")
    await close_legs(session, call=call, legs=mine, at=now(), reason="left", rounding=rounding)
    part.status = "left"
    await notify(session, call, "left", user_id=device.user_id)
    await _end_if_over(session, call, reason="hangup", rounding=rounding)
    await session.commit()
    return call


async def hangup(session: AsyncSession, *, call_id: str, device: DeviceRef, rounding: Rounding) -> Call:
    """End the call for everyone: either side of a direct call, or the creator of a group call."""
    call = await lock_call(session, call_id)
    await participant(session, call, device.user_id)
    _not_ended(call)
    if call.kind == "group" and device.user_id != call.created_by:
        raise Forbidden("only the creator ends a group call for everyone; leave instead", code="not_allowed")
    reason = "cancelled" if call.answered_at is None else "hangup"
    await end_call(session, call, reason=reason, rounding=rounding, by=device.user_id)
    await session.commit()
    return call


async def heartbeat(session: AsyncSession, *, call_id: str, device: DeviceRef) -> int:
    """Refresh this device's open leg; returns how many legs were refreshed (0: not connected)."""
    legs = [leg for leg in await open_legs(session, call_id, device.user_id) if leg.device_id == device.id]
    ts = now()
    for leg in legs:
        leg.last_seen_at = ts
    await session.commit()
    return len(legs)


async def _end_if_over(session: AsyncSession, call: Call, *, reason: str, rounding: Rounding) -> None:
    remaining = await open_legs(session, call.id)
    if call.answered_at is None and call.created_by not in {leg.user_id for leg in remaining}:
        await end_call(session, call, reason="cancelled", rounding=rounding)
    elif (call.kind == "direct" and call.answered_at is not None) or not remaining:
        await end_call(session, call, reason=reason, rounding=rounding)


async def end_call(
    session: AsyncSession,
    call: Call,
    *,
    reason: str,
    rounding: Rounding,
    at: float | None = None,
    by: str | None = None,
) -> None:
    """Close every open leg (at ``at``, default now), mark waiting invitees missed, push ``call.ended``."""
    ts = now() if at is None else at
    await close_legs(
        session, call=call, legs=await open_legs(session, call.id), at=ts, reason=reason, rounding=rounding
    )
    for part in await participants(session, call.id):
        if part.status in WAITING:
            part.status = "missed"
        elif part.status == "joined":
            part.status = "left"
    call.state, call.ended_at, call.end_reason = "ended", ts, reason
    await notify(session, call, "ended", reason=reason, by=by, ended_at=ts)
    CALLS_ENDED.labels(call.kind, reason).inc()
