"""Batched, resumable fan-out of channel posts to every subscriber device.

A post is delivered in batches of ``batch`` members (ordered by user id): one transaction per batch
appends a ``channel.post`` event to each of their active devices (``emit_to_devices``), advances the
post's ``fanout_after`` cursor and its delivery counters, and commits (which wakes the devices). The
task yields between batches, so the poster's request returned long before and other requests proceed.
The cursor lives in the post row, so a restarted node resumes where it stopped (``resume_pending``);
on PostgreSQL the row is locked per batch, so two workers resuming the same post never double-deliver.

Online first: before the batches, the devices connected to this process (``Hub.listening``) get the
post in one pass; they are recorded in ``channel_post_early`` in the same transaction and the batches
skip them, so nobody gets it twice even across a restart.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.db.base import now
from messenger.db.models import Device
from messenger.db.models.channels import ChannelMember, ChannelPost, ChannelPostEarly
from messenger.realtime.events import emit_to_devices
from messenger.realtime.hub import Hub

log = logging.getLogger("messenger.channels")

CHANNEL_DELIVERIES = Counter("msgfleet_channel_deliveries_total", "Channel post events written to devices")
FANOUT_SECONDS = Histogram(
    "msgfleet_channel_fanout_seconds",
    "Time from a channel post to its event in every member device's log",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250),
)

# Members per transaction: large enough to amortise a commit, small enough that one batch holds the SQLite
# write lock for tens of milliseconds (benchmarks/fanout.py measures both ends); under SQLite's default
# limit of 32766 bound variables per statement (https://www.sqlite.org/limits.html, item 9).
BATCH = 2000


def post_payload(item: ChannelPost) -> dict[str, Any]:
    return {
        "channel_id": item.channel_id,
        "seq": item.seq,
        "id": item.id,
        "author": item.author,
        "text": item.text,
        "ts": item.created_at,
    }


async def _locked_post(session: AsyncSession, post_id: str) -> ChannelPost | None:
    query = select(ChannelPost).where(ChannelPost.id == post_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    item = await session.scalar(query)
    if item is None or item.fanout_done:
        await session.rollback()
        return None
    return item


async def deliver_online(session: AsyncSession, *, post_id: str, online: set[str], batch: int = BATCH) -> int:
    """Deliver ``post_id`` now to the still-pending member devices among ``online``; returns their number."""
    item = await _locked_post(session, post_id)
    if item is None or not online:
        await session.rollback()
        return 0
    early = select(ChannelPostEarly.device_id).where(ChannelPostEarly.post_id == post_id)
    devices: list[str] = []
    ids = sorted(online)
    for start in range(0, len(ids), batch):
        devices += await session.scalars(
            select(Device.id)
            .join(ChannelMember, ChannelMember.user_id == Device.user_id)
            .where(
                ChannelMember.channel_id == item.channel_id,
                ChannelMember.user_id > item.fanout_after,
                Device.id.in_(ids[start : start + batch]),
                Device.revoked_at.is_(None),
                Device.id.not_in(early),
            )
        )
    if devices:
        await emit_to_devices(session, device_ids=devices, kind="channel.post", payload=post_payload(item))
        await session.execute(
            insert(ChannelPostEarly), [{"post_id": post_id, "device_id": d} for d in devices]
        )
        item.delivered_devices += len(devices)
    await session.commit()
    CHANNEL_DELIVERIES.inc(len(devices))
    return len(devices)


async def deliver_batch(session: AsyncSession, *, post_id: str, batch: int = BATCH) -> bool:
    """Deliver the next batch of ``post_id`` (skipping devices served online-first); True once done."""
    item = await _locked_post(session, post_id)
    if item is None:
        return True
    members = list(
        await session.scalars(
            select(ChannelMember.user_id)
            .where(ChannelMember.channel_id == item.channel_id, ChannelMember.user_id > item.fanout_after)
            .order_by(ChannelMember.user_id)
            .limit(batch)
        )
    )
    devices = list(
        await session.scalars(
            select(Device.id).where(
                Device.user_id.in_(members),
                Device.revoked_at.is_(None),
                Device.id.not_in(
                    select(ChannelPostEarly.device_id).where(ChannelPostEarly.post_id == post_id)
                ),
            )
        )
        if members
        else []
    )
    await emit_to_devices(session, device_ids=devices, kind="channel.post", payload=post_payload(item))
    if members:
        item.fanout_after = members[-1]
        item.delivered_members += len(members)
        item.delivered_devices += len(devices)
    done = len(members) < batch
    if done:
        item.fanout_done, item.fanout_done_at = True, now()
        await session.execute(delete(ChannelPostEarly).where(ChannelPostEarly.post_id == post_id))
    took = item.fanout_done_at - item.created_at if done and item.fanout_done_at else None
    await session.commit()
    CHANNEL_DELIVERIES.inc(len(devices))
    if took is not None:
        FANOUT_SECONDS.observe(took)
    return done


class Fanout:
    """Runs post deliveries as background tasks of this process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: Hub, batch: int = BATCH):
        self.sessions, self.hub, self.batch = sessions, hub, batch
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, post_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(post_id), name=f"fanout-{post_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, post_id: str) -> None:
        try:
            async with self.sessions() as session:
                await deliver_online(session, post_id=post_id, online=self.hub.listening(), batch=self.batch)
            while True:
                async with self.sessions() as session:
                    if await deliver_batch(session, post_id=post_id, batch=self.batch):
                        return
                await asyncio.sleep(0)  # let requests and sockets run between batches
        except asyncio.CancelledError:
            raise
        except Exception:  # progress is saved per batch; the next start resumes it
            log.exception("channel fan-out failed", extra={"post": post_id})

    async def resume_pending(self) -> None:
        """Restart the deliveries an earlier process left unfinished."""
        async with self.sessions() as session:
            pending = list(
                await session.scalars(select(ChannelPost.id).where(ChannelPost.fanout_done.is_(False)))
            )
        for post_id in pending:
            self.start(post_id)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
