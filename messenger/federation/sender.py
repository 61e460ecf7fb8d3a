"""The background sender: drains the outbox per destination, in order, with retries and backoff.

One drain task per destination with queued items: it takes a lease on the destination's row (so that
only one worker process sends to a destination at a time), resends the pending transaction if one was
cut short, else gives the next ``batch`` items (at most ``max_bytes``) a new transaction id, PUTs it
and deletes the items when the peer acknowledges. A failure schedules the next attempt after an
exponentially growing delay with jitter; other destinations are not held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.db.base import now
from messenger.federation.client import PeerClient, PeerError
from messenger.federation.metrics import PDUS_SENT, SEND_FAILURES
from messenger.federation.models import Destination, OutboxItem, ReceivedTxn

log = logging.getLogger("messenger.federation.sender")

SEND_PATH = "/_federation/v1/send/{txn_id}"


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (1, 2, ...): ``min(cap, base * 2**(n-1))`` scaled by a jitter in [0.5, 1].

    "Exponential backoff and jitter", AWS Architecture Blog, 2015: jitter keeps retries of many senders
    from arriving in lockstep. The cap bounds how stale a recovered peer's first retry can be.
    """

    base_s: float = 0.25
    cap_s: float = 30.0

    def delay(self, failures: int, rng: random.Random) -> float:
        return min(self.cap_s, self.base_s * 2 ** max(0, failures - 1)) * rng.uniform(0.5, 1.0)


@dataclass
class Sender:
    sessions: async_sessionmaker[AsyncSession]
    client: PeerClient
    readers: async_sessionmaker[AsyncSession] | None = None  # read-only sessions for the poll (SQLite)
    batch: int = 100
    # Half the default max_body_bytes (1 MiB) of a peer: a transaction is never refused as too large.
    max_bytes: int = 512 * 1024
    poll_s: float = 0.5
    lease_s: float = 30.0
    keep_txns_s: float = 7 * 86400.0  # a week of received transaction ids (idempotency window)
    backoff: Backoff = field(default_factory=Backoff)
    owner: str = field(default_factory=lambda: secrets.token_hex(8))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _rng: random.Random = field(default_factory=random.Random)
    _drains: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _main: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name="federation-sender")

    async def stop(self) -> None:
        tasks = [t for t in [self._main, *self._drains.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _prune(self) -> None:
        """Forget received transaction ids after ``keep_txns_s``: a peer retries a transaction only while
        its outbox holds it, and a captured request is refused after 5 minutes (clock skew) anyway."""
        async with self.sessions() as session:
            await session.execute(
                delete(ReceivedTxn).where(ReceivedTxn.received_at < now() - self.keep_txns_s)
            )
            await session.commit()

    async def _run(self) -> None:
        next_prune = 0.0
        while True:
            if now() >= next_prune:
                next_prune = now() + 3600
                with contextlib.suppress(Exception):
                    await self._prune()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)
            self.wake.clear()
            try:
                async with (self.readers or self.sessions)() as session:
                    pending = list(await session.scalars(select(OutboxItem.destination).distinct()))
            except Exception:
                log.exception("federation outbox poll failed")
                continue
            for state in pending:
                task = self._drains.get(state)
                if task is None or task.done():
                    self._drains[state] = asyncio.create_task(self._drain(state), name=f"federation-{state}")

    async def _drain(self, state: str) -> None:
        acked: str | None = None
        try:
            while True:
                acked = await self._send_one(state, acked)
                if acked is None:
                    break
        except Exception:
            log.exception("federation sender failed", extra={"destination": state})

    async def _claim(self, session: AsyncSession, state: str) -> bool:
        """Take (or renew) the lease on ``state`` unless another worker holds it or a retry is not due."""
        t = now()
        if await session.get(Destination, state) is None:
            session.add(Destination(state=state, failures=0, retry_at=0.0, lease_owner=None, lease_until=0.0))
            try:
                await session.flush()
            except IntegrityError:
                await session.rollback()
        got = await session.execute(
            update(Destination)
            .where(
                Destination.state == state,
                Destination.retry_at <= t,
                (Destination.lease_owner == self.owner) | (Destination.lease_until < t),
            )
            .values(lease_owner=self.owner, lease_until=t + self.lease_s)
        )
        return bool(got.rowcount)  # type: ignore[attr-defined]

    def _fit(self, rows: list[Any]) -> list[Any]:
        """The leading rows whose PDUs fit in ``max_bytes`` (at least one): the peer's body limit."""
        size, out = 0, list[Any]()
        for row in rows:
            size += len(row.pdu) + 1
            if out and size > self.max_bytes:
                break
            out.append(row)
        return out

    async def _release(self, session: AsyncSession, state: str) -> None:
        await session.execute(
            update(Destination)
            .where(Destination.state == state, Destination.lease_owner == self.owner)
            .values(lease_owner=None, lease_until=0.0)
        )

    async def _send_one(self, state: str, acked: str | None) -> str | None:
        """Forget the items of the ``acked`` transaction and send the next one to ``state``; return its id,
        or ``None`` when there is nothing to send now (drained, failed, not due, or leased elsewhere)."""
        async with self.sessions() as session:
            if acked is not None:  # folded into this transaction: one write less per round trip
                await session.execute(delete(OutboxItem).where(OutboxItem.txn_id == acked))
                await session.execute(
                    update(Destination)
                    .where(Destination.state == state)
                    .values(failures=0, retry_at=0.0, last_error=None)
                )
            if not await self._claim(session, state):
                await session.commit()
                return None
            items = select(OutboxItem.id, OutboxItem.pdu).where(OutboxItem.destination == state)
            pending = await session.scalar(
                select(OutboxItem.txn_id)
                .where(OutboxItem.destination == state, OutboxItem.txn_id.is_not(None))
                .order_by(OutboxItem.id)
                .limit(1)
            )
            if pending is not None:  # resend exactly what was sent before under this id
                txn_id = pending
                rows = list(await session.execute(items.where(OutboxItem.txn_id == txn_id)))
            else:
                txn_id = secrets.token_hex(16)
                queued = await session.execute(
                    items.where(OutboxItem.txn_id.is_(None)).order_by(OutboxItem.id).limit(self.batch)
                )
                rows = self._fit(list(queued))
                if rows:
                    ids = [r.id for r in rows]
                    await session.execute(
                        update(OutboxItem).where(OutboxItem.id.in_(ids)).values(txn_id=txn_id)
                    )
            if not rows:  # drained: release the lease so another worker may take over
                await self._release(session, state)
                await session.commit()
                return None
            await session.commit()
        pdus: list[Any] = [json.loads(r.pdu) for r in sorted(rows, key=lambda r: r.id)]
        try:
            await self.client.call(state, "PUT", SEND_PATH.format(txn_id=txn_id), {"pdus": pdus})
        except PeerError as exc:
            SEND_FAILURES.labels(state).inc()
            await self._failed(state, txn_id, exc)
            return None
        PDUS_SENT.labels(state).inc(len(pdus))
        return txn_id

    async def _failed(self, state: str, txn_id: str, exc: PeerError) -> None:
        async with self.sessions() as session:
            dest = await session.get(Destination, state)
            assert dest is not None
            dest.failures += 1
            delay = self.backoff.delay(dest.failures, self._rng)
            dest.retry_at = now() + delay
            dest.last_error = str(exc)[:500]
            await self._release(session, state)
            await session.commit()
        log.warning(
            "federation delivery failed; will retry",
            extra={
                "destination": state,
                "txn_id": txn_id,
                "failures": dest.failures,
                "retry_in_s": round(delay, 2),
                "error": str(exc)[:200],
            },
        )
