"""Call detail records and metering: closing a leg adds its billable time to ``call_usage``.

Billable time of a leg runs from ``max(joined_at, answered_at)`` to ``left_at``: ringing is free, and a
leg closed by the heartbeat timeout ends at the participant's last sign of life.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.tariffs import Rounding
from messenger.calls.metering import split_leg
from messenger.calls.metrics import CALL_MINUTES, CALL_SECONDS
from messenger.calls.peers import peers_of
from messenger.db.models.calls import Call, CallLeg, CallParticipant, CallUsage


def billable_span(call: Call, leg: CallLeg) -> tuple[float, float] | None:
    """``(start, end)`` of the leg's metered time, None if it has none (unanswered, still open)."""
    if call.answered_at is None or leg.left_at is None:
        return None
    start = max(leg.joined_at, call.answered_at)
    return (start, leg.left_at) if leg.left_at > start else None


async def close_legs(
    session: AsyncSession,
    *,
    call: Call,
    legs: list[CallLeg],
    at: float | None,
    reason: str,
    rounding: Rounding,
) -> None:
    """Close open ``legs`` at ``at`` (None: each at its last heartbeat) and meter them.

    A leg of a user homed in another state is handed to that user's home node (which meters it and keeps
    the record) and deleted here: the hosting node keeps the call with participant ids only.
    """
    peers = peers_of(session)
    for leg in legs:
        end = leg.last_seen_at if at is None else max(at, leg.joined_at)
        closed = await session.execute(
            update(CallLeg)
            .where(CallLeg.id == leg.id, CallLeg.left_at.is_(None))
            .values(left_at=end, end_reason=reason)
        )
        if closed.rowcount != 1:  # type: ignore[attr-defined]  # another worker closed it first
            continue
        leg.left_at, leg.end_reason = end, reason
        span = billable_span(call, leg)
        if peers is not None and peers.remote(leg.user_id):
            await peers.usage(session, call=call, leg=leg, span=span)
            await session.delete(leg)
        elif span is not None:
            await meter(
                session, user_id=leg.user_id, start=span[0], end=span[1], rounding=rounding, media=call.media
            )


async def meter(
    session: AsyncSession, *, user_id: str, start: float, end: float, rounding: Rounding, media: str
) -> None:
    """Add ``user_id``'s talk from ``start`` to ``end`` to ``call_usage`` (split by billing period)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for index, (period, seconds, minutes) in enumerate(split_leg(start, end, rounding)):
        calls = 1 if index == 0 else 0
        stmt = insert(CallUsage).values(
            user_id=user_id, period=period, seconds=seconds, minutes=minutes, calls=calls
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[CallUsage.user_id, CallUsage.period],
            set_={
                "seconds": CallUsage.seconds + seconds,
                "minutes": CallUsage.minutes + minutes,
                "calls": CallUsage.calls + calls,
            },
        )
        await session.execute(stmt)
        CALL_SECONDS.labels(media).inc(seconds)
        CALL_MINUTES.labels(media).inc(minutes)


async def record(session: AsyncSession, call: Call) -> dict[str, Any]:
    """The call detail record: participants with their legs and metered seconds."""
    participants = (
        await session.scalars(
            select(CallParticipant)
            .where(CallParticipant.call_id == call.id)
            .order_by(CallParticipant.invited_at)
        )
    ).all()
    legs = (
        await session.scalars(select(CallLeg).where(CallLeg.call_id == call.id).order_by(CallLeg.id))
    ).all()
    people = []
    for part in participants:
        mine = [leg for leg in legs if leg.user_id == part.user_id]
        spans = [billable_span(call, leg) for leg in mine]
        people.append(
            {
                "user_id": part.user_id,
                "status": part.status,
                "seconds": round(sum(end - start for start, end in filter(None, spans)), 3),
                "legs": [
                    {
                        "device_id": leg.device_id,
                        "joined_at": leg.joined_at,
                        "left_at": leg.left_at,
                        "end_reason": leg.end_reason,
                    }
                    for leg in mine
                ],
            }
        )
    return {
        "id": call.id,
        "chat_id": call.chat_id,
        "meeting_id": call.meeting_id,
        "kind": call.kind,
        "media": call.media,
        "created_by": call.created_by,
        "state": call.state,
        "started_at": call.created_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "end_reason": call.end_reason,
        "duration": None
        if call.answered_at is None or call.ended_at is None
        else round(call.ended_at - call.answered_at, 3),
        "participants": people,
    }
