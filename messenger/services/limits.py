"""Attempt and rate limits shared by every worker: one row per limit and subject in ``rate_limits``.

Two kinds, each one atomic statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, the same on SQLite
and PostgreSQL), so parallel requests cannot all read "under the limit" before any of them counts:

- :func:`hit` — a fixed window: at most ``limit`` hits per ``window`` seconds (code requests, verifies);
- :func:`attempt` — a backoff for secrets that can be guessed (PIN, TOTP): ``free`` attempts, then each
  further attempt locks the next one for ``base``, 2×``base``, 4×``base`` … seconds (at most ``cap``);
  :func:`clear` after a success. The attempt is counted *before* the secret is compared (Signal's
  registration lock does the same), so guesses racing each other are counted too.

Both commit at once — the count must stand even when the request fails afterwards — so call them first in
a request. A refusal raises ``RateLimited`` (429 with Retry-After); the first refusal of a window is
audited (``auth.rate_limited``), later ones are not, so a flood cannot fill the audit log.

Subjects (phone numbers, addresses, user ids) are stored as an HMAC under the node secret, not in clear.
Hand-written because the limits must be shared by workers and we already have the database for that;
Redis is optional for a node.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

from sqlalchemy import Float, bindparam, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import RateLimit
from messenger.errors import RateLimited


def upsert(session: AsyncSession, table: Any) -> Any:
    """``INSERT`` of the session's dialect (it has ``on_conflict_do_update`` / ``_do_nothing``)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def limit_key(secret: bytes, name: str, subject: str) -> str:
    return f"{name}:{hmac.new(secret, subject.encode(), hashlib.sha256).hexdigest()[:32]}"


def _hit(insert: Any) -> Any:
    """One fixed-window hit: insert the counter, or count on (restart it when the window is over)."""
    t, until = bindparam("t", type_=Float), bindparam("until", type_=Float)
    fresh = RateLimit.until <= t
    return (
        insert(RateLimit)
        .values(key=bindparam("key"), count=1, until=until, delay=0.0)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((fresh, 1), else_=RateLimit.count + 1),
                "until": case((fresh, until), else_=RateLimit.until),
            },
        )
        .returning(RateLimit.count, RateLimit.until)
    )


# Built once per dialect: constructing the upsert per hit cost more than running it (profile, issue 11).
_HIT = {"postgresql": _hit(postgresql.insert), "sqlite": _hit(sqlite.insert)}


async def hit(
    session: AsyncSession, secret: bytes, name: str, subject: str, *, limit: int, window: float, what: str
) -> None:
    """Count one hit of ``name`` for ``subject``; over ``limit`` in the window: 429 "<what>; retry in N s".
    ``limit`` 0 turns the limit off."""
    if limit == 0:
        return
    t = now()
    params = {"key": limit_key(secret, name, subject), "t": t, "until": t + window}
    count, until = (await session.execute(_HIT[session.get_bind().dialect.name], params)).one()
    if count == limit + 1:
        await audit.record(session, action="auth.rate_limited", actor=None, detail={"limit": name})
    await session.commit()
    if count > limit:
        retry = _seconds_until(until)
        raise RateLimited(f"{what}; retry in {retry} s", retry_after=retry)


async def attempt(
    session: AsyncSession,
    secret: bytes,
    name: str,
    subject: str,
    *,
    free: int,
    base: float,
    cap: float,
    what: str,
) -> None:
    """Count an attempt at a secret before comparing it; 429 while a backoff lock holds."""
    t = now()
    key = limit_key(secret, name, subject)
    doubled = RateLimit.delay * 2
    delay = case(
        (RateLimit.count + 1 <= free, 0.0),
        (doubled > cap, cap),
        (doubled < base, base),
        else_=doubled,
    )
    statement = (
        upsert(session, RateLimit)
        .values(key=key, count=1, until=t, delay=0.0)  # free >= 1: the first attempt never locks
        .on_conflict_do_update(
            index_elements=["key"],
            set_={"count": RateLimit.count + 1, "delay": delay, "until": t + delay},
            where=RateLimit.until <= t,
        )
        .returning(RateLimit.count)
    )
    counted = (await session.execute(statement)).first()
    await session.commit()
    if counted is None:
        until = await session.scalar(select(RateLimit.until).where(RateLimit.key == key))
        retry = _seconds_until(until or t)
        raise RateLimited(f"{what}; retry in {retry} s", retry_after=retry, code="too_many_attempts")


def _seconds_until(until: float) -> int:
    # ``now()`` again: a statement that waited for a row lock may run well after its own ``t``.
    return max(1, math.ceil(until - now()))


async def clear(session: AsyncSession, secret: bytes, name: str, subject: str) -> None:
    """Forget the attempts of ``subject`` (after a success); part of the caller's transaction."""
    await session.execute(delete(RateLimit).where(RateLimit.key == limit_key(secret, name, subject)))
