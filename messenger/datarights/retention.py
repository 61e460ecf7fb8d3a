"""Retention: tombstone messages older than their chat kind's limit and delete the media shared with them;
delete channel posts older than the ``"channel"`` limit.

A sweep runs in one transaction per kind. Media whose last share was removed by the sweep is deleted
(rows, then sealed bytes), whoever uploaded it. Channel posts live in their own table (``channel_posts``),
so the rule named ``channel`` deletes them (and, by trigger, their search-index rows) once their fan-out
has finished. Message rows are tombstoned, never deleted, so bills that count messages per period
(``messenger.billing.service.usage``) keep their counts.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass, field

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.db.base import now
from messenger.db.models import ChannelPost, Chat, Message, Pin
from messenger.db.models.media import MediaShare
from messenger.media.metrics import RETAINED
from messenger.media.service import Media, delete_objects

log = logging.getLogger("messenger.retention")
_LOCK_BASE = 0x72657400  # "ret\0": advisory lock keys of retention sweeps, one per chat kind
CHANNEL = "channel"  # the rule for channel posts (no chat has this kind)


@dataclass
class SweepReport:
    messages: int = 0
    posts: int = 0
    shares: int = 0
    media: int = 0
    kinds: dict[str, float] = field(default_factory=dict)  # kind -> cutoff used


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    media: Media,
    rules: dict[str, float],
    *,
    at: float,
    wait: bool = False,
) -> SweepReport:
    """Apply ``rules`` (kind -> max age, seconds) as of time ``at``. A kind another worker is sweeping is
    skipped, or with ``wait`` swept after it (``POST /v1/dev/sweep/retention`` must sweep every kind)."""
    report = SweepReport()
    for kind, age in sorted(rules.items()):
        cutoff = at - age
        report.kinds[kind] = cutoff
        async with sessions() as session:
            if not await _claim(session, kind, wait=wait):
                continue
            if kind == CHANNEL:
                report.posts += await _sweep_posts(session, cutoff)
                continue
            chats = select(Chat.id).where(Chat.kind == kind)
            old = select(Message.id).where(
                Message.chat_id.in_(chats), Message.created_at < cutoff, Message.deleted_at.is_(None)
            )
            ids = list(await session.scalars(old))
            for start in range(0, len(ids), 500):
                batch = ids[start : start + 500]
                await session.execute(
                    update(Message)
                    .where(Message.id.in_(batch))
                    .values(deleted_at=at, ciphertext=None, session_id=None)
                )
            stale_pin = exists().where(
                Message.chat_id == Pin.chat_id, Message.seq == Pin.seq, Message.deleted_at.is_not(None)
            )
            await session.execute(delete(Pin).where(Pin.chat_id.in_(chats), stale_pin))
            expired = (MediaShare.chat_id.in_(chats)) & (MediaShare.shared_at < cutoff)
            touched = list(await session.scalars(select(MediaShare.media_id).where(expired).distinct()))
            shares = await session.execute(delete(MediaShare).where(expired))
            await session.commit()
            report.messages += len(ids)
            report.shares += shares.rowcount or 0  # type: ignore[attr-defined]
            if touched:
                still = set(
                    await session.scalars(select(MediaShare.media_id).where(MediaShare.media_id.in_(touched)))
                )
                report.media += await delete_objects(session, media, [m for m in touched if m not in still])
    return report


async def _sweep_posts(session: AsyncSession, cutoff: float) -> int:
    """Delete channel posts created before ``cutoff`` whose fan-out is done; commits."""
    old = (ChannelPost.created_at < cutoff) & ChannelPost.fanout_done.is_(True)
    gone = await session.execute(delete(ChannelPost).where(old))
    await session.commit()
    return gone.rowcount or 0  # type: ignore[attr-defined]


async def _claim(session: AsyncSession, kind: str, *, wait: bool) -> bool:
    """One worker sweeps a kind at a time (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE serialises)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = _LOCK_BASE + zlib.crc32(kind.encode()) % 1_000_000
    if wait:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


async def run_forever(
    sessions: async_sessionmaker[AsyncSession],
    media: Media,
    rules: dict[str, float],
    interval: float,
) -> None:
    """Sweep every ``interval`` seconds until cancelled; a failed sweep is logged and retried next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            report = await sweep(sessions, media, rules, at=now())
        except Exception:
            log.exception("retention sweep failed")
            continue
        RETAINED.labels("messages").inc(report.messages)
        RETAINED.labels("posts").inc(report.posts)
        RETAINED.labels("media").inc(report.media)
        if report.messages or report.posts or report.media:
            log.info(
                "retention sweep",
                extra={
                    "messages": report.messages,
                    "posts": report.posts,
                    "shares": report.shares,
                    "media": report.media,
                },
            )
