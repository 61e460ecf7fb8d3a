"""Append-only, hash-chained audit trail: ``record`` an action, ``verify`` the whole chain.

Each entry stores ``prev_hash`` (the previous entry's hash; 64 zeros for the first) and
``hash = SHA-256(canonical JSON [seq, created_at, action, actor, target, detail, prev_hash])``. Editing any
field, removing an entry or swapping two entries breaks the chain at that entry; ``verify`` names it.
A plain chain cannot show that the newest entries were cut off (no external anchor): keep copies of
the head hash (``GET /v1/admin/audit/verify`` returns it) if that matters.

Callers (logins, devices, 2FA, admin, data export, federation) use ``record`` inside their own
transaction so the action and its entry commit together, or ``record_now`` for an action that is
refused (its own transaction, committed at once).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.db.base import now
from messenger.db.models.audit import AuditEntry

GENESIS = "0" * 64
# Arbitrary constant key of the PostgreSQL advisory lock that serialises appends (SQLite: BEGIN IMMEDIATE).
_LOCK_KEY = 0x61756469  # "audi"
_BATCH = 1000


def canonical(detail: Mapping[str, Any] | None) -> str:
    """The stored (and hashed) form of ``detail``: sorted keys, no spaces."""
    return json.dumps(
        dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def entry_hash(
    *,
    seq: int,
    created_at: float,
    action: str,
    actor: str | None,
    target: str | None,
    detail: str,
    prev_hash: str,
) -> str:
    fields = [seq, created_at, action, actor, target, detail, prev_hash]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: str | None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry inside the caller's transaction (the caller commits). ``action`` is dotted, e.g.
    ``auth.login``, ``device.revoked``, ``2fa.enabled``, ``admin.role_granted``, ``data.exported``,
    ``federation.refused``."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = (
        await session.execute(
            select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    stored = canonical(detail)
    ts = now()
    entry = AuditEntry(
        seq=seq,
        created_at=ts,
        action=action,
        actor=actor,
        target=target,
        detail=stored,
        prev_hash=prev,
        hash=entry_hash(
            seq=seq, created_at=ts, action=action, actor=actor, target=target, detail=stored, prev_hash=prev
        ),
    )
    session.add(entry)
    await session.flush()
    return entry


async def record_now(
    sessions: async_sessionmaker[AsyncSession],
    *,
    action: str,
    actor: str | None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an entry in a transaction of its own and commit it (for refusals the caller rolls back)."""
    async with sessions() as session:
        await record(session, action=action, actor=actor, target=target, detail=detail)
        await session.commit()


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain: ``ok`` or the first broken entry and why."""

    ok: bool
    entries: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None

    def line(self) -> str:
        if self.ok:
            return f"audit log intact: {self.entries} entries, head {self.head}"
        return f"audit log broken at entry {self.bad_seq}: {self.reason}"


async def verify(session: AsyncSession) -> Verification:
    """Walk every entry in ``seq`` order; the first entry that breaks the chain fails the check."""
    prev, expected_seq, count = GENESIS, 1, 0
    after = 0
    while True:
        rows = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(_BATCH)
            )
        )
        for e in rows:
            if e.seq != expected_seq:
                reason = f"expected seq {expected_seq}, found {e.seq} (entries removed)"
                return Verification(False, count, prev, expected_seq, reason)
            if e.prev_hash != prev:
                reason = "prev_hash does not match the previous entry (removed or reordered)"
                return Verification(False, count, prev, e.seq, reason)
            computed = entry_hash(
                seq=e.seq,
                created_at=e.created_at,
                action=e.action,
                actor=e.actor,
                target=e.target,
                detail=e.detail,
                prev_hash=e.prev_hash,
            )
            if computed != e.hash:
                return Verification(False, count, prev, e.seq, "content does not match its hash (edited)")
            prev, expected_seq, count = e.hash, expected_seq + 1, count + 1
        if len(rows) < _BATCH:
            return Verification(True, count, prev)
        after = rows[-1].seq


async def verify_url(database_url: str) -> Verification:
    """``verify`` on the database at ``database_url`` (the ``msgfleet audit verify`` command); a database
    that cannot be read raises ``MessengerConfigError`` (one line)."""
    from sqlalchemy.exc import DBAPIError

    from messenger.db.engine import make_engine, make_sessionmaker
    from messenger.errors import MessengerConfigError

    scheme, _, rest = database_url.partition("://")
    if scheme.startswith("sqlite") and not Path(rest.removeprefix("/")).exists():
        raise MessengerConfigError(f"no node database at {rest.removeprefix('/')} (check --data-dir)")
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await verify(session)
    except (DBAPIError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
        reason = str(cause).splitlines()[0] or type(cause).__name__
        raise MessengerConfigError(f"cannot read the audit log of {scheme} database: {reason}") from None
    finally:
        await engine.dispose()
