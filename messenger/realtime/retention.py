"""Retention of the per-device event log: prune old events; tell a resuming device when it missed some."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from messenger.db.base import now
from messenger.db.models import DeviceEvent, ToDeviceTxn
from messenger.node import Node

log = logging.getLogger("messenger.retention")


async def prune_events(session: AsyncSession, *, older_than: float) -> int:
    """Delete events (and to-device txn ids) created before ``older_than`` (UNIX seconds); returns how
    many events."""
    result = await session.execute(delete(DeviceEvent).where(DeviceEvent.created_at < older_than))
    # to-device transaction ids: a retry older than the events it delivered has nothing left to repeat
    await session.execute(delete(ToDeviceTxn).where(ToDeviceTxn.created_at < older_than))
    await session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def has_gap(session: AsyncSession | AsyncConnection, *, device_id: str, cursor: int, head: int) -> bool:
    """True if events after ``cursor`` were pruned: the device must re-read chat history to be complete."""
    if cursor >= head:
        return False
    oldest = await session.scalar(select(func.min(DeviceEvent.seq)).where(DeviceEvent.device_id == device_id))
    return oldest is None or oldest > cursor + 1


async def prune_once(node: Node) -> int:
    """Prune the events older than ``event_retention_days`` now; returns how many went."""
    async with node.sessions() as session:
        removed = await prune_events(session, older_than=now() - node.settings.event_retention_days * 86400)
    if removed:
        log.info("pruned device events", extra={"removed": removed})
    return removed


async def pruner(node: Node) -> None:
    """Background task: prune every ``event_prune_interval_seconds`` (each worker may run it; harmless)."""
    while True:
        try:
            await prune_once(node)
        except Exception:  # a failed prune must not stop the node; try again next interval
            log.exception("pruning device events failed")
        await asyncio.sleep(node.settings.event_prune_interval_seconds)
