"""Append-only, keyed hash chain of security actions: ``record`` an action, ``verify`` the whole chain.

Each entry stores ``prev_hash`` (the previous entry's hash; 64 zeros for the first) and
``hash = HMAC-SHA-256(audit key, canonical JSON [seq, created_at, action, actor, target, detail,
prev_hash])``. The audit key lives in the key store (``messenger.keystore``), not in the database, so
someone who can write the database (and drop the append-only triggers) can edit, remove or reorder
entries but cannot compute the hash that would hide it: ``verify`` names the first entry that breaks.

Cutting off the newest entries leaves a shorter chain that is still intact. Checkpoints catch that:
``write_checkpoint`` appends the head (seq, hash, time), with its own HMAC, to a file kept outside the
database (``msgfleet audit checkpoint``, or the node every ``audit_checkpoint_seconds`` into
``audit_checkpoint_file``); ``verify`` with those checkpoints fails when an entry they name is gone or
differs. Entries newer than the last checkpoint can still be cut off unseen (docs/SECURITY.md).

Callers (logins, devices, 2FA, admin, data export, federation) use ``record`` inside their own
transaction so the action and its entry commit together; a refusal that must be kept commits its
entry before raising. The key store comes from the session
(``messenger.keystore.of_session``).
"""

from __future__ import annotations

import fcntl
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models.audit import AuditEntry
from messenger.errors import MessengerConfigError
from messenger.keystore import KeyStore, of_session

GENESIS = "0" * 64
# Arbitrary constant key of the PostgreSQL advisory lock that serialises appends (SQLite: BEGIN IMMEDIATE).
_LOCK_KEY = 0x61756469  # "audi"
# Built once: constructing a statement per call costs more than running it (profile, issue 11).
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
_BATCH = 1000
T = TypeVar("T")


def canonical(detail: Mapping[str, Any] | None) -> str:
    """The stored (and hashed) form of ``detail``: sorted keys, no spaces."""
    return json.dumps(
        dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def masked_phone(phone: str) -> str:
    """``+7…67`` for ``+79991234567``: the country code (libphonenumber's) and the last two digits."""
    try:
        country = str(phonenumbers.parse(phone).country_code)
    except phonenumbers.NumberParseException:
        country = "?"
    return f"+{country}…{phone[-2:]}"


def _mac(keys: KeyStore, purpose: str, fields: Sequence[Any]) -> str:
    """HMAC of ``fields`` under the audit key; ``purpose`` separates entries from checkpoints."""
    return keys.mac("audit", json.dumps([purpose, *fields], separators=(",", ":")).encode()).hex()


def entry_hash(keys: KeyStore, e: AuditEntry) -> str:
    """The keyed hash of entry ``e`` (over every field but ``hash`` itself)."""
    return _mac(keys, "entry", [e.seq, e.created_at, e.action, e.actor, e.target, e.detail, e.prev_hash])


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
    keys = of_session(session)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_LOCK, {"key": _LOCK_KEY})
    last = (await session.execute(_HEAD)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    entry = AuditEntry(
        seq=seq,
        created_at=now(),
        action=action,
        actor=actor,
        target=target,
        detail=canonical(detail),
        prev_hash=prev,
    )
    entry.hash = entry_hash(keys, entry)
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, keyed with the audit key: ``where`` is its file and line."""

    state: str
    seq: int
    head: str
    created_at: float
    mac: str
    where: str = ""

    def fields(self) -> list[Any]:
        return [self.state, self.seq, self.head, self.created_at]

    def line(self) -> str:
        out = {k: v for k, v in asdict(self).items() if k != "where"}
        return json.dumps(out, separators=(",", ":"))


def make_checkpoint(keys: KeyStore, *, state: str, seq: int, head: str, created_at: float) -> Checkpoint:
    return Checkpoint(state, seq, head, created_at, _mac(keys, "checkpoint", [state, seq, head, created_at]))


def read_checkpoints(keys: KeyStore, path: Path, *, state: str) -> list[Checkpoint]:
    """The checkpoints in ``path`` (JSON lines); ``MessengerConfigError`` naming file:line for a line that
    is not a checkpoint of ``state`` keyed with this node's audit key."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise MessengerConfigError(f"{path}: cannot read audit checkpoints: {exc.strerror}") from None
    out = []
    for number, raw in enumerate(lines, 1):
        where = f"{path}:{number}"
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            cp = Checkpoint(
                str(data["state"]),
                int(data["seq"]),
                str(data["head"]),
                float(data["created_at"]),
                str(data["mac"]),
                where,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MessengerConfigError(
                f"{where}: not an audit checkpoint ({type(exc).__name__}: {exc})"
            ) from None
        expected = make_checkpoint(keys, state=cp.state, seq=cp.seq, head=cp.head, created_at=cp.created_at)
        if not hmac.compare_digest(expected.mac, cp.mac):
            raise MessengerConfigError(
                f"{where}: checkpoint mac does not match this node's audit key (forged)"
            )
        if cp.state != state:
            raise MessengerConfigError(f"{where}: checkpoint of state {cp.state}, not {state}")
        out.append(cp)
    return out


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain: ``ok`` or the first broken entry and why."""

    ok: bool
    entries: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None
    checkpoints: int = 0

    def line(self) -> str:
        if self.ok:
            against = f"; matches {self.checkpoints} checkpoints" if self.checkpoints else ""
            return f"audit log intact: {self.entries} entries, head {self.head}{against}"
        return f"audit log broken at entry {self.bad_seq}: {self.reason}"


async def verify(
    session: AsyncSession, keys: KeyStore, checkpoints: Sequence[Checkpoint] = ()
) -> Verification:
    """Walk every entry in ``seq`` order; the first entry that breaks the chain fails the check, then
    every checkpoint must name an entry that is still there with the same hash."""
    wanted = {cp.seq for cp in checkpoints}
    seen: dict[int, str] = {0: GENESIS}  # a checkpoint of the empty log names entry 0
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
            computed = entry_hash(keys, e)
            if not hmac.compare_digest(computed, e.hash):
                return Verification(
                    False, count, prev, e.seq, "content does not match its keyed hash (edited)"
                )
            if e.seq in wanted:
                seen[e.seq] = e.hash
            prev, expected_seq, count = e.hash, expected_seq + 1, count + 1
        if len(rows) < _BATCH:
            break
        after = rows[-1].seq
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        if cp.seq not in seen:
            reason = (
                f"log ends at entry {count}, checkpoint {cp.where} names entry {cp.seq} (entries removed)"
            )
            return Verification(False, count, prev, count + 1, reason)
        if seen[cp.seq] != cp.head:
            return Verification(False, count, prev, cp.seq, f"differs from checkpoint {cp.where} (rewritten)")
    return Verification(True, count, prev, checkpoints=len(checkpoints))


class CheckpointBusy(MessengerConfigError):
    """Another process is writing to the checkpoint file."""


async def write_checkpoint(session: AsyncSession, keys: KeyStore, *, state: str, path: Path) -> Checkpoint:
    """Verify the chain against the checkpoints already in ``path``, then append the head to it (one line;
    the file is locked meanwhile, ``CheckpointBusy`` if another process holds it). An unchanged head is
    not written twice; a broken chain raises ``MessengerConfigError`` instead of being checkpointed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as out:
        try:  # never wait: the node's event loop must not block on another worker's checkpoint
            fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointBusy(f"{path}: another process is writing a checkpoint") from None
        earlier = read_checkpoints(keys, path, state=state)
        result = await verify(session, keys, earlier)
        if not result.ok:
            raise MessengerConfigError(f"not checkpointing: {result.line()}")
        if earlier and earlier[-1].seq == result.entries and earlier[-1].head == result.head:
            return earlier[-1]
        cp = make_checkpoint(
            keys, state=state, seq=result.entries, head=result.head, created_at=round(time.time(), 3)
        )
        out.write(cp.line() + "\n")
        out.flush()
        return cp


async def _run_on(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``await work(session)`` on the database at ``database_url`` (the ``msgfleet audit`` commands); a
    database that cannot be read raises ``MessengerConfigError`` (one line)."""
    from sqlalchemy.exc import DBAPIError

    from messenger.db.engine import make_engine, make_sessionmaker

    scheme, _, rest = database_url.partition("://")
    if scheme.startswith("sqlite") and not Path(rest.removeprefix("/")).exists():
        raise MessengerConfigError(f"no node database at {rest.removeprefix('/')} (check --data-dir)")
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await work(session)
    except (DBAPIError, OSError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
        reason = str(cause).splitlines()[0] or type(cause).__name__
        raise MessengerConfigError(f"cannot read the audit log of {scheme} database: {reason}") from None
    finally:
        await engine.dispose()


async def verify_url(
    database_url: str, keys: KeyStore, checkpoints: Sequence[Checkpoint] = ()
) -> Verification:
    """``verify`` on the database at ``database_url`` (``msgfleet audit verify``)."""
    return await _run_on(database_url, lambda session: verify(session, keys, checkpoints))


async def checkpoint_url(database_url: str, keys: KeyStore, *, state: str, path: Path) -> Checkpoint:
    """``write_checkpoint`` on the database at ``database_url`` (``msgfleet audit checkpoint``)."""
    return await _run_on(
        database_url, lambda session: write_checkpoint(session, keys, state=state, path=path)
    )
