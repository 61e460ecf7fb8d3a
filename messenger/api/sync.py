"""``GET /v1/sync``: long-poll for a device's events after a cursor (the same log the WebSocket reads)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import DbInt, Out
from messenger.metrics import DELIVERIES
from messenger.node import Node
from messenger.realtime.events import read_events
from messenger.realtime.retention import pruner

router = APIRouter(tags=["sync"])


class SyncOut(Out):
    cursor: int
    events: list[dict[str, Any]]
    gap: bool = False  # events after ``cursor`` were pruned (retention): re-read chat history


async def startup(node: Node) -> None:
    node.features["event_pruner"] = asyncio.create_task(pruner(node), name="event-pruner")


async def shutdown(node: Node) -> None:
    task = node.features.pop("event_pruner", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@router.get("/v1/sync")
async def sync(
    device: CurrentDevice,
    session: SessionDep,
    node: NodeDep,
    cursor: Annotated[DbInt, Query(ge=0)] = 0,
    timeout: Annotated[float, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> SyncOut:
    """Events with cursor > ``cursor``, oldest first; waits up to ``timeout`` s (capped) when there are none.
    Pass the returned ``cursor`` next time."""
    device_id, head = device.id, device.event_seq
    await session.close()  # do not hold a connection (or SQLite's write lock) while waiting
    deadline = time.monotonic() + min(timeout, node.settings.sync_max_timeout)
    async with node.hub.listen(device_id) as waiter:
        while True:
            waiter.ready.clear()
            async with node.read_session() as reader:
                events = await read_events(reader, device_id=device_id, after=cursor, limit=limit)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0 or waiter.revoked:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.ready.wait(), remaining)
    DELIVERIES.labels("sync").inc(len(events))
    gap = events[0].cursor > cursor + 1 if events else cursor < head
    position = events[-1].cursor if events else max(cursor, head) if gap else cursor
    return SyncOut(cursor=position, events=[e.frame() for e in events], gap=gap)
