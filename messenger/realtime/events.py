"""Write events to the per-device log and read them back by cursor.

``emit_to_devices`` / ``emit_to_users`` run inside the caller's transaction (one batched UPDATE ... RETURNING
for the cursors, one executemany INSERT); the devices are woken after that transaction commits
(``install_wake_after_commit``), so a woken reader always finds the events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from messenger.db.base import now
from messenger.db.models import Device, DeviceEvent, Member
from messenger.realtime.hub import Hub

_WAKE = "msgfleet.wake"
_PUSH = "msgfleet.push"  # device id -> [(seq, frame text)] of this transaction, pushed after the commit
_UNPUSHED = "msgfleet.unpushed"  # devices with events written inside a SAVEPOINT (not pushed)
_HUB = "msgfleet.hub"

Payload = Mapping[str, Any] | Callable[[str], Mapping[str, Any]]
# Called by ``emit_to_chat`` after the local fan-out, in the same transaction, with keyword arguments
# chat_id, kind, payload, members (user ids), also; registered per node in ``session.info`` (federation).
ChatHook = Callable[..., Awaitable[None]]
CHAT_HOOKS = "msgfleet.chat_hooks"


@dataclass(frozen=True, slots=True)
class Event:
    """One delivered event: ``cursor`` is the device's position after it."""

    cursor: int
    kind: str
    data: dict[str, Any]
    ts: float

    def frame(self) -> dict[str, Any]:
        return {"type": "event", "cursor": self.cursor, "kind": self.kind, "ts": self.ts, "data": self.data}


# Cursor bumps, built once (per-call construction showed in the profile). Elsewhere than SQLite the rows
# are locked in id order (in the same statement) so that concurrent fan-outs to overlapping devices cannot
# deadlock.
_BUMP = update(Device).values(event_seq=Device.event_seq + 1).returning(Device.id, Device.event_seq)
_BUMP_SQLITE = _BUMP.where(Device.id.in_(bindparam("ids", expanding=True)))
_LOCKED = (
    select(Device.id)
    .where(Device.id.in_(bindparam("ids", expanding=True)))
    .order_by(Device.id)
    .with_for_update()
    .cte("locked")
)
_BUMP_LOCKED = _BUMP.where(Device.id == _LOCKED.c.id)
_INSERT_EVENT = insert(DeviceEvent)


async def emit_to_devices(
    session: AsyncSession, *, device_ids: Iterable[str], kind: str, payload: Payload
) -> None:
    """Append one event of ``kind`` to each device's log; ``payload`` may depend on the device id."""
    ids = sorted(set(device_ids))
    if not ids:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"  # BEGIN IMMEDIATE already serialises writers
    rows = await session.execute(_BUMP_SQLITE if sqlite else _BUMP_LOCKED, {"ids": ids})
    ts = now()
    fixed = None if callable(payload) else json.dumps(payload)
    events = []
    for device_id, seq in rows.all():
        body = fixed if fixed is not None else json.dumps(payload(device_id))  # type: ignore[operator]
        events.append((device_id, seq, kind, ts, body))
    await append_events(session, events)


async def append_events(session: AsyncSession, rows: Sequence[tuple[str, int, str, float, str]]) -> None:
    """Insert events (device id, cursor, kind, ts, payload JSON) whose cursors the caller has already taken
    (locked and bumped) in this transaction, and stage their frames for the push after the commit. Each
    device's rows must come in cursor order."""
    if not rows:
        return
    await (await session.connection()).execute(  # Core: an insert needs no ORM pipeline (profile)
        _INSERT_EVENT,
        [{"device_id": d, "seq": q, "kind": k, "payload": p, "created_at": t} for d, q, k, t, p in rows],
    )
    session.info.setdefault(_WAKE, set()).update(row[0] for row in rows)
    if session.in_nested_transaction():  # a SAVEPOINT may still roll back: these devices read the database
        session.info.setdefault(_UNPUSHED, set()).update(row[0] for row in rows)
        return
    push = session.info.setdefault(_PUSH, {})
    for device_id, seq, kind, ts, payload_json in rows:
        push.setdefault(device_id, []).append((seq, frame_text(seq, kind, ts, payload_json)))


def frame_text(seq: int, kind: str, ts: float, payload_json: str) -> str:
    """The WebSocket frame of an event (same object as ``Event.frame()``) without re-encoding the payload."""
    head = f'{{"type": "event", "cursor": {seq}, "kind": {json.dumps(kind)}, "ts": {json.dumps(ts)}'
    return f'{head}, "data": {payload_json}}}'


async def active_devices(session: AsyncSession, user_ids: Iterable[str]) -> list[str]:
    """Ids of the non-revoked devices of ``user_ids`` homed on this node."""
    rows = await session.scalars(
        select(Device.id).where(Device.user_id.in_(sorted(set(user_ids))), Device.revoked_at.is_(None))
    )
    return list(rows)


async def emit_to_users(
    session: AsyncSession,
    *,
    user_ids: Iterable[str],
    kind: str,
    payload: Payload,
    exclude_device: str | None = None,
) -> None:
    """Append an event to every active device of ``user_ids`` (optionally not to ``exclude_device``)."""
    devices = [d for d in await active_devices(session, user_ids) if d != exclude_device]
    await emit_to_devices(session, device_ids=devices, kind=kind, payload=payload)


async def emit_to_chat(
    session: AsyncSession, *, chat_id: str, kind: str, payload: Payload, also: Sequence[str] = ()
) -> None:
    """Append an event to every device of every member of ``chat_id`` (plus users ``also``), then run the
    node's chat hooks (federation relays the event to members' nodes in other states)."""
    members = list(await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id)))
    await emit_to_users(session, user_ids=[*members, *also], kind=kind, payload=payload)
    for hook in session.info.get(CHAT_HOOKS, ()):
        await hook(session, chat_id=chat_id, kind=kind, payload=payload, members=members, also=list(also))


async def read_events(session: AsyncSession, *, device_id: str, after: int, limit: int = 500) -> list[Event]:
    """The device's events with cursor > ``after``, oldest first."""
    rows = await session.execute(
        select(DeviceEvent.seq, DeviceEvent.kind, DeviceEvent.payload, DeviceEvent.created_at)
        .where(DeviceEvent.device_id == device_id, DeviceEvent.seq > after)
        .order_by(DeviceEvent.seq)
        .limit(limit)
    )
    return [Event(seq, kind, json.loads(payload), ts) for seq, kind, payload, ts in rows.all()]


def install_wake_after_commit(hub: Hub) -> type[Session]:
    """A Session class whose commits wake the devices that got events (use as ``sync_session_class``)."""

    class WakingSession(Session):
        pass

    @event.listens_for(WakingSession, "after_commit")
    def _after_commit(session: Session) -> None:
        if session.in_nested_transaction():  # a SAVEPOINT was released: nothing is visible to readers yet
            return
        devices = session.info.pop(_WAKE, None)
        frames = session.info.pop(_PUSH, None) or {}
        unpushed = session.info.pop(_UNPUSHED, None) or set()
        if devices:
            # Devices whose events are all in ``frames`` get them pushed; the rest (events written inside
            # a SAVEPOINT) are only woken and read the database.
            plain = (set(devices) - frames.keys()) | unpushed
            task = asyncio.get_running_loop().create_task(hub.deliver(frames, plain))
            _PENDING.add(task)
            task.add_done_callback(_PENDING.discard)

    @event.listens_for(WakingSession, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_WAKE, None)
        session.info.pop(_PUSH, None)
        session.info.pop(_UNPUSHED, None)

    return WakingSession


_PENDING: set[asyncio.Task[None]] = set()  # keeps fire-and-forget wake tasks referenced until done
