"""Data rights of calls: the call detail records the user took part in and their metered usage.

Export: each call's record as ``GET /v1/calls/{id}`` shows it to a participant, and the per-period usage.
Erase: their participation, their legs (also legs of calls hosted in other states) and their
``call_usage`` rows go; a call record that other people
took part in stays theirs with ``created_by`` replaced by ``ERASED_USER``; a record left with no
participant is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, exists, or_, select, update

from messenger.calls.records import record
from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.db.models.calls import Call, CallLeg, CallParticipant, CallUsage
from messenger.federation.models import RemoteCallLeg


async def export(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    joined = select(CallParticipant.call_id).where(CallParticipant.user_id == user_id)
    calls = await session.scalars(select(Call).where(Call.id.in_(joined)).order_by(Call.created_at))
    usage = await session.scalars(
        select(CallUsage).where(CallUsage.user_id == user_id).order_by(CallUsage.period)
    )
    remote = await session.scalars(
        select(RemoteCallLeg).where(RemoteCallLeg.user_id == user_id).order_by(RemoteCallLeg.joined_at)
    )
    return {
        "calls": [await record(session, call) for call in calls.all()],
        # legs of calls hosted in another state: their records are kept here, at the user's home node
        "remote_call_legs": [
            {
                "call_id": leg.call_id,
                "host_state": leg.host_state,
                "device_id": leg.device_id,
                "media": leg.media,
                "joined_at": leg.joined_at,
                "left_at": leg.left_at,
                "end_reason": leg.end_reason,
                "seconds": leg.seconds,
            }
            for leg in remote.all()
        ],
        "call_usage": [
            {"period": u.period, "seconds": u.seconds, "minutes": u.minutes, "calls": u.calls} for u in usage
        ],
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    parts = await session.execute(delete(CallParticipant).where(CallParticipant.user_id == user_id))
    await session.execute(
        delete(CallLeg).where(or_(CallLeg.user_id == user_id, CallLeg.device_id.in_(ctx.subject.device_ids)))
    )
    await session.execute(delete(CallUsage).where(CallUsage.user_id == user_id))
    await session.execute(delete(RemoteCallLeg).where(RemoteCallLeg.user_id == user_id))
    await session.execute(update(Call).where(Call.created_by == user_id).values(created_by=ERASED_USER))
    orphan = ~exists().where(CallParticipant.call_id == Call.id)
    records = await session.execute(delete(Call).where(Call.created_by == ERASED_USER, orphan))
    return {
        "participations": parts.rowcount or 0,  # type: ignore[attr-defined]
        "records_deleted": records.rowcount or 0,  # type: ignore[attr-defined]
    }


PROVIDER = Provider(
    name="calls",
    covers={
        "calls": ("created_by",),
        "call_participants": ("user_id",),
        "call_legs": ("user_id", "device_id"),
        "call_usage": ("user_id",),
        "fed_call_legs": ("user_id", "device_id"),
    },
    export=export,
    erase=erase,
)
