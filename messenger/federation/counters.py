"""Counters that every worker of a node shares, in the database (``fed_counters``): the request nonces
seen inside the signature skew window, prekey claims per origin and user, refusals per origin and reason.

``bump`` is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING count`` (SQLite and PostgreSQL), so two
workers counting at once cannot both see themselves first or both stay under a limit. Expired rows are
deleted by ``prune``, which callers run at most once a minute per process.
"""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.federation.models import Counter

PRUNE_EVERY_S = 60.0


async def bump(
    session: AsyncSession, kind: str, key: str, *, window_s: float | None, expires_at: float
) -> int:
    """Add one to counter ``(kind, key)`` of the current window (``window_s``; ``None``: one window for
    the row's whole life) and return its new value; the caller commits."""
    ts = time.time()
    start = 0.0 if window_s is None else ts - ts % window_s
    dialect = (await session.connection()).dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = {"kind": kind, "key": key[:128], "window_start": start, "count": 1, "expires_at": expires_at}
    statement = (
        insert(Counter)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["kind", "key", "window_start"], set_={"count": Counter.count + 1}
        )
        .returning(Counter.count)
    )
    return int((await session.execute(statement)).scalar_one())


class Pruner:
    """Deletes expired counters at most every ``PRUNE_EVERY_S`` seconds (one per process)."""

    def __init__(self) -> None:
        self._next = 0.0

    async def maybe(self, session: AsyncSession) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + PRUNE_EVERY_S
        await session.execute(delete(Counter).where(Counter.expires_at < time.time()))
