"""Timeouts: unanswered calls end as ``missed``; a participant silent for ``call_heartbeat_timeout`` is
dropped at its last heartbeat, so a vanished client is never metered beyond its last sign of life.

Every worker process runs the sweep; each call is handled under its row lock and re-checked, so two
workers never close the same leg or end the same call twice.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.service import node_tariffs
from messenger.billing.tariffs import Rounding
from messenger.calls.metrics import CALL_LEGS_TIMED_OUT
from messenger.calls.records import close_legs
from messenger.calls.service import end_call, lock_call, notify, open_legs, participant
from messenger.db.base import now
from messenger.db.models.calls import Call, CallLeg
from messenger.node import Node

log = logging.getLogger("messenger.calls")


async def sweep_once(node: Node) -> int:
    """Apply both timeouts once; returns the number of calls changed."""
    settings, rounding = node.settings, node_tariffs(node).minute_rounding
    ts = now()
    async with node.sessions() as session:
        unanswered = list(
            await session.scalars(
                select(Call.id).where(
                    Call.state == "ringing",
                    Call.answered_at.is_(None),
                    Call.created_at < ts - settings.call_ring_timeout,
                )
            )
        )
        silent = list(
            await session.execute(
                select(CallLeg.call_id, CallLeg.id).where(
                    CallLeg.left_at.is_(None), CallLeg.last_seen_at < ts - settings.call_heartbeat_timeout
                )
            )
        )
    changed = 0
    for call_id in unanswered:
        async with node.sessions() as session:
            call = await lock_call(session, call_id)
            if call.state == "ringing" and call.answered_at is None:
                await end_call(session, call, reason="missed", rounding=rounding)
                changed += 1
            await session.commit()
    for call_id in sorted({c for c, _ in silent}):
        async with node.sessions() as session:
            changed += await _drop_silent(session, call_id, ts - settings.call_heartbeat_timeout, rounding)
    return changed


async def _drop_silent(session: AsyncSession, call_id: str, deadline: float, rounding: Rounding) -> int:
    call = await lock_call(session, call_id)
    stale = [leg for leg in await open_legs(session, call.id) if leg.last_seen_at < deadline]
    if call.state == "ended" or not stale:
        await session.commit()
        return 0
    await close_legs(session, call=call, legs=stale, at=None, reason="timeout", rounding=rounding)
    for leg in stale:
        CALL_LEGS_TIMED_OUT.inc()
        (await participant(session, call, leg.user_id)).status = "left"
        await notify(session, call, "left", user_id=leg.user_id, reason="timeout")
    remaining = await open_legs(session, call.id)
    caller_gone = call.answered_at is None and call.created_by not in {leg.user_id for leg in remaining}
    if not remaining or call.kind == "direct" or caller_gone:
        # Nobody left: the call ended when the last of them was last seen; else it ends now.
        at = max(leg.last_seen_at for leg in stale) if not remaining else None
        await end_call(session, call, reason="timeout", rounding=rounding, at=at)
    await session.commit()
    return 1


async def run_sweeper(node: Node) -> None:
    """Sweep every ``call_sweep_seconds`` until cancelled; a failing round is logged, not fatal."""
    while True:
        await asyncio.sleep(node.settings.call_sweep_seconds)
        try:
            await sweep_once(node)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call sweep failed")
