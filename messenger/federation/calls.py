"""Calls across states, carried by the outbox like chat events (new PDU kinds).

A call is hosted by the node where it was started (the caller's home node); it keeps the call, its
participants' ids and its own users' legs. The PDUs:

* ``call.event`` (host → participant's home node): a ``call.*`` event for that node's participants'
  devices; the first (``call.incoming``) also records the call's host here (``fed_call_hosts``).
* ``call.signal`` (host → participant's home node): SDP/ICE for that node's participants' devices.
* ``call.op`` (participant's home node → host): ring, join, decline, leave, hangup, heartbeat or signal
  by a device of the origin's user; stored as a pending op and run by the call service after the commit.
* ``call.usage`` (host → participant's home node): the participant's closed leg; the home node keeps
  the record (``fed_call_legs``) and meters it into its own ``call_usage`` with its own tariff rounding.
  It is taken only for a call this node learnt of from the same host, for a device of its user who was
  rung (a member of the call's chat, a guest of its meeting), once per leg, and only within the time
  this node knew the call (``fed_call_hosts.created_at`` to ``ended_at``, or now, ± the clock skew).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.billing.tariffs import Rounding
from messenger.calls import records, service, signalling
from messenger.calls.peers import DeviceRef, RemoteDevice
from messenger.db.base import now
from messenger.db.models import Chat, Device, Member
from messenger.db.models.calls import Call, CallLeg
from messenger.federation.models import (
    OPS_PENDING,
    CallHost,
    MeetingGuest,
    MeetingHost,
    PendingOp,
    RemoteCallLeg,
)
from messenger.federation.outbox import enqueue
from messenger.federation.signing import MAX_SKEW_S
from messenger.realtime.events import emit_to_devices, emit_to_users
from messenger.services.ids import home_state

CALL_OPS = frozenset({"ring", "join", "decline", "leave", "hangup", "heartbeat", "signal"})
ROUNDING = "msgfleet.federation.rounding"  # session.info: the node's minute rounding, for ``call.usage``


class CallPduRejected(ValueError):
    """A call PDU the origin may not send; the inbox logs and skips it."""


@dataclass(frozen=True)
class CallRelay:
    """``messenger.calls.peers.CallPeers`` of a node of state ``local``."""

    local: str

    def remote(self, user_id: str) -> bool:
        return home_state(user_id) != self.local

    def _by_state(self, users: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for user in users:
            if self.remote(user):
                out.setdefault(home_state(user), []).append(user)
        return out

    async def event(
        self,
        session: AsyncSession,
        *,
        call_id: str,
        kind: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
    ) -> None:
        for state, mine in sorted(self._by_state(users).items()):
            pdu = {"type": "call.event", "call_id": call_id, "kind": kind, "payload": dict(payload)}
            await enqueue(session, [state], {**pdu, "users": mine})

    async def signal(
        self,
        session: AsyncSession,
        *,
        call_id: str,
        payload: Mapping[str, Any],
        users: Sequence[str],
        to_device: str | None,
    ) -> int:
        by_state = self._by_state(users)
        for state, mine in sorted(by_state.items()):
            pdu = {
                "type": "call.signal",
                "call_id": call_id,
                "payload": dict(payload),
                "to_device": to_device,
            }
            await enqueue(session, [state], {**pdu, "users": mine})
        return sum(len(v) for v in by_state.values())

    async def usage(
        self, session: AsyncSession, *, call: Call, leg: CallLeg, span: tuple[float, float] | None
    ) -> None:
        pdu = {
            "type": "call.usage",
            "call_id": call.id,
            "user_id": leg.user_id,
            "device_id": leg.device_id,
            "media": call.media,
            "joined_at": leg.joined_at,
            "left_at": leg.left_at,
            "end_reason": leg.end_reason,
            "span": list(span) if span is not None else None,
        }
        await enqueue(session, [home_state(leg.user_id)], pdu)

    async def rang_here(self, session: AsyncSession, *, call_id: str, user_id: str) -> bool:
        row = await session.get(CallHost, call_id)
        if row is None or row.chat_id is None:
            return False
        return await session.get(Member, (row.chat_id, user_id)) is not None

    async def forward(
        self, session: AsyncSession, *, call_id: str, device: DeviceRef, op: str, args: Mapping[str, Any]
    ) -> bool:
        if await session.get(Call, call_id) is not None:
            return False
        host = await session.get(CallHost, call_id)
        if host is None:
            return False
        pdu = {
            "type": "call.op",
            "call_id": call_id,
            "user_id": device.user_id,
            "device_id": device.id,
            "op": op,
            "args": dict(args),
        }
        await enqueue(session, [host.host_state], pdu)
        await session.commit()
        return True


async def _host_row(session: AsyncSession, call_id: str, origin: str) -> CallHost:
    row = await session.get(CallHost, call_id)
    if row is None or row.host_state != origin:
        raise CallPduRejected(f"{origin} does not host a call {call_id} known here")
    return row


async def _local_users(session: AsyncSession, local: str, users: Sequence[str], row: CallHost) -> list[str]:
    """Those of ``users`` homed here who may be in the call: members of its chat's replica here, or
    guests here of its meeting."""
    mine = [u for u in users if home_state(u) == local]
    if not mine:
        return []
    if row.chat_id is not None:
        query = select(Member.user_id).where(Member.chat_id == row.chat_id, Member.user_id.in_(mine))
    else:
        query = select(MeetingGuest.user_id).where(
            MeetingGuest.meeting_id == (row.meeting_id or ""), MeetingGuest.user_id.in_(mine)
        )
    allowed = set(await session.scalars(query))
    return [u for u in mine if u in allowed]


async def apply_event(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``call.event``: push a hosted call's event to this node's participants' devices."""
    call_id, kind = str(pdu["call_id"]), str(pdu["kind"])
    payload: dict[str, Any] = dict(pdu["payload"])
    row = await session.get(CallHost, call_id)
    if row is None:
        chat_id = payload.get("chat_id")
        if kind != "call.incoming" or home_state(str(payload["by"])) != origin:
            raise CallPduRejected(f"{origin} sent {kind} of a call {call_id} unknown here")
        if chat_id is not None:
            chat = await session.get(Chat, str(chat_id))
            creator = await session.get(Member, (str(chat_id), str(payload["by"])))
            if chat is None or creator is None:
                raise CallPduRejected(f"{payload['by']} is not in a chat {chat_id} replicated here")
        else:  # a meeting's call: the meeting must have invited users here from the same state
            meeting = await session.get(MeetingHost, str(payload.get("meeting_id")))
            if meeting is None or meeting.host_state != origin:
                raise CallPduRejected(f"call {call_id} is of no meeting of {origin} known here")
        meeting_id = None if chat_id is not None else str(payload.get("meeting_id"))
        row = CallHost(
            call_id=call_id,
            host_state=origin,
            chat_id=str(chat_id) if chat_id else None,
            meeting_id=meeting_id,
            created_at=now(),
        )
        session.add(row)
    elif row.host_state != origin:
        raise CallPduRejected(f"{origin} does not host call {call_id}")
    if kind == "call.ended" and row.ended_at is None:
        row.ended_at = now()
    users = await _local_users(session, local, [str(u) for u in pdu["users"]], row)
    await emit_to_users(session, user_ids=users, kind=kind, payload=payload)


async def apply_signal(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``call.signal``: SDP/ICE from the hosting node for this node's participants' devices."""
    row = await _host_row(session, str(pdu["call_id"]), origin)
    users = await _local_users(session, local, [str(u) for u in pdu["users"]], row)
    payload, to_device = dict(pdu["payload"]), pdu.get("to_device")
    devices = list(
        await session.scalars(select(Device.id).where(Device.user_id.in_(users), Device.revoked_at.is_(None)))
    )
    if to_device is not None:
        devices = [d for d in devices if d == to_device]
    await emit_to_devices(session, device_ids=devices, kind="call.signal", payload=payload)


async def apply_usage(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``call.usage``: this node's user's leg in a call hosted by ``origin``: record it and meter it."""
    row = await _host_row(session, str(pdu["call_id"]), origin)
    user_id, device_id, joined_at = str(pdu["user_id"]), str(pdu["device_id"]), float(pdu["joined_at"])
    if home_state(user_id) != local or not await _local_users(session, local, [user_id], row):
        raise CallPduRejected(f"{user_id} is not a participant here of call {row.call_id}")
    if (
        await session.scalar(select(Device.id).where(Device.id == device_id, Device.user_id == user_id))
        is None
    ):
        raise CallPduRejected(f"{device_id} is not a device of {user_id}")
    leg = exists().where(
        RemoteCallLeg.call_id == row.call_id,
        RemoteCallLeg.device_id == device_id,
        RemoteCallLeg.joined_at == joined_at,
    )
    if await session.scalar(select(leg)):
        return  # this leg was recorded before: a retry or a replay is not metered twice
    span = pdu.get("span")
    left_at = float(pdu["left_at"])
    start, end = (float(span[0]), float(span[1])) if span else (joined_at, joined_at)
    _check_bounds(row, joined_at, left_at, start, end)
    session.add(
        RemoteCallLeg(
            call_id=row.call_id,
            host_state=origin,
            user_id=user_id,
            device_id=device_id,
            media=str(pdu["media"]),
            joined_at=joined_at,
            left_at=left_at,
            end_reason=pdu.get("end_reason"),
            seconds=round(end - start, 3),
        )
    )
    if end > start:
        rounding: Rounding = session.info[ROUNDING]
        await records.meter(
            session, user_id=user_id, start=start, end=end, rounding=rounding, media=str(pdu["media"])
        )


def _check_bounds(row: CallHost, joined_at: float, left_at: float, start: float, end: float) -> None:
    """A leg lies within the time this node knew the call: from its ``call.incoming`` to its ``call.ended``
    (or now), each end give or take the clock skew a signature may have, and no longer than that time
    (durations do not depend on the host's clock offset)."""
    known_from, known_to = row.created_at, row.ended_at if row.ended_at is not None else now()
    if not known_from - MAX_SKEW_S <= joined_at <= start <= end <= left_at <= known_to + MAX_SKEW_S:
        raise CallPduRejected(f"the leg of call {row.call_id} lies outside the call")
    if end - start > known_to - known_from + 1.0:
        raise CallPduRejected(f"the leg of call {row.call_id} is longer than the call")


async def apply_op(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """``call.op``: an answer or signal by a device of ``origin``'s user for a call hosted here; stored and
    run after the commit (the call service commits its own transactions)."""
    call_id, user_id, op = str(pdu["call_id"]), str(pdu["user_id"]), str(pdu["op"])
    if await session.get(Call, call_id) is None:
        raise CallPduRejected(f"call {call_id} is not hosted here")
    if home_state(user_id) != origin or op not in CALL_OPS:
        raise CallPduRejected(f"{origin} cannot ask {op!r} for {user_id}")
    item = {
        "call_id": call_id,
        "actor": user_id,
        "device_id": str(pdu["device_id"]),
        "op": f"call.{op}",
        "args": dict(pdu.get("args") or {}),
    }
    session.add(PendingOp(origin=origin, op=json.dumps(item)))
    session.info[OPS_PENDING] = True


async def run_op(session: AsyncSession, origin: str, op: Mapping[str, Any], rounding: Rounding) -> None:
    """Carry out a stored ``call.op`` as the remote device (the service's checks apply; it commits)."""
    actor = str(op["actor"])
    if home_state(actor) != origin:
        raise ValueError(f"{origin} cannot act for {actor}")
    device = RemoteDevice(id=str(op["device_id"]), user_id=actor)
    call_id, kind, args = str(op["call_id"]), str(op["op"]).removeprefix("call."), dict(op["args"])
    if kind == "ring":
        await service.ring(session, call_id=call_id, device=device)
    elif kind == "join":
        await service.join(session, call_id=call_id, device=device, rounding=rounding)
    elif kind == "decline":
        await service.decline(session, call_id=call_id, device=device, rounding=rounding)
    elif kind == "leave":
        await service.leave(session, call_id=call_id, device=device, rounding=rounding)
    elif kind == "hangup":
        await service.hangup(session, call_id=call_id, device=device, rounding=rounding)
    elif kind == "heartbeat":
        await service.find_call(session, call_id, actor)
        await service.heartbeat(session, call_id=call_id, device=device)
    elif kind == "signal":
        to_user, to_device = args.get("to_user"), args.get("to_device")
        await signalling.relay(
            session,
            call_id=call_id,
            device=device,
            data=args.get("data"),
            to_user=str(to_user) if to_user is not None else None,
            to_device=str(to_device) if to_device is not None else None,
        )
    else:
        raise ValueError(f"unknown call op {kind!r}")
