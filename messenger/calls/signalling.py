"""Signalling relay: SDP offers/answers and ICE candidates between a call's participants.

The node does not read the payload (WebRTC session descriptions are the devices' business); it checks
that sender and target are in the call, bounds the size, and appends a ``call.signal`` event to the
target devices' logs, so signalling is ordered and survives a reconnect like any event.
Sent over the WebSocket as ``{"type": "call.signal", ...}`` frames (``on_frame``) or ``POST .../signal``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.calls import service
from messenger.calls.metrics import CALL_SIGNALS
from messenger.calls.peers import DeviceRef, peers_of
from messenger.db.base import now
from messenger.db.models import Device
from messenger.errors import ApiError, BadRequest, Conflict, NotFound, PayloadTooLarge
from messenger.node import Node
from messenger.realtime.events import emit_to_devices

log = logging.getLogger("messenger.calls")

MAX_SIGNAL_BYTES = 16_384  # an SDP offer with many codecs and candidates is a few KiB


def check_data(data: Any) -> None:
    """Signal data is a JSON object of at most ``MAX_SIGNAL_BYTES``; 400/413 otherwise."""
    if not isinstance(data, dict):
        raise BadRequest("signal data must be a JSON object", code="invalid_signal")
    size = len(json.dumps(data))
    if size > MAX_SIGNAL_BYTES:
        raise PayloadTooLarge(
            f"signal data is {size} bytes, over {MAX_SIGNAL_BYTES}", code="signal_too_large"
        )


async def relay(
    session: AsyncSession,
    *,
    call_id: str,
    device: DeviceRef,
    data: Any,
    to_user: str | None = None,
    to_device: str | None = None,
) -> int:
    """Relay ``data`` to ``to_device``, to ``to_user``'s devices, or to every other participant's devices.

    Returns the number of devices it was queued for here plus the number of users homed in other states
    it was queued for (their home nodes deliver it). Also counts as the sender's heartbeat.
    """
    check_data(data)
    call = await service.find_call(session, call_id, device.user_id)  # no row lock: signals only read
    if call.state == "ended":
        raise Conflict(f"call {call.id} has ended", code="call_ended")
    users = [p.user_id for p in await service.participants(session, call.id)]
    peers = peers_of(session)
    remote = [u for u in users if peers is not None and peers.remote(u)]
    payload = {"call_id": call.id, "from_user": device.user_id, "from_device": device.id, "data": data}
    targets: list[str]
    remote_targets: list[str] = []  # users homed elsewhere: their home nodes deliver to their devices
    if to_device is not None:
        owner = await session.scalar(
            select(Device.user_id).where(Device.id == to_device, Device.revoked_at.is_(None))
        )
        if owner is None and remote and (to_user is None or to_user in remote):
            targets, remote_targets = [], [to_user] if to_user is not None else remote
        elif owner is None or owner not in users:
            raise NotFound(f"device {to_device} is not in call {call.id}", code="device_not_found")
        else:
            targets = [to_device]
    else:
        wanted = [to_user] if to_user is not None else [u for u in users if u != device.user_id]
        if to_user is not None and to_user not in users:
            raise NotFound(f"user {to_user} is not in call {call.id}", code="user_not_found")
        remote_targets = [u for u in wanted if u in remote]
        targets = list(
            await session.scalars(
                select(Device.id).where(Device.user_id.in_(wanted), Device.revoked_at.is_(None))
            )
        )
    targets = [t for t in targets if t != device.id]
    await emit_to_devices(session, device_ids=targets, kind="call.signal", payload=payload)
    delivered = len(targets)
    if peers is not None and remote_targets:
        delivered += await peers.signal(
            session, call_id=call.id, payload=payload, users=remote_targets, to_device=to_device
        )
    for leg in await service.open_legs(session, call.id, device.user_id):
        if leg.device_id == device.id:
            leg.last_seen_at = now()
    await session.commit()
    return delivered


def _str(frame: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = frame.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise BadRequest(f"frame field {key!r} must be a string id", code="bad_frame")
    return value


async def on_frame(node: Node, device_id: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Handle a ``call.*`` WebSocket frame; the reply frame echoes the client's ``id``.

    ``{"type": "call.signal", "call_id", "data", "to_user"?, "to_device"?, "id"?}`` →
    ``{"type": "call.signal.ok", "delivered": n}``; ``{"type": "call.heartbeat", "call_id"}`` →
    ``{"type": "call.heartbeat.ok", "legs": n}``; errors → ``{"type": "error", "error", "detail"}``.
    A frame for a call hosted in another state is forwarded there:
    ``{"type": "<type>.ok", "forwarded": true}``.
    """
    kind = frame.get("type")
    reply: dict[str, Any] = {"id": frame.get("id")} if "id" in frame else {}
    try:
        call_id = _str(frame, "call_id", required=True)
        assert call_id is not None
        async with node.sessions() as session:
            device = await session.get(Device, device_id)
            if device is None or device.revoked_at is not None:
                raise NotFound("device revoked", code="device_not_found")
            peers = peers_of(session)
            if kind in ("call.signal", "call.heartbeat") and peers is not None:
                args: dict[str, Any] = {}
                if kind == "call.signal":
                    check_data(frame.get("data"))
                    to = {"to_user": _str(frame, "to_user"), "to_device": _str(frame, "to_device")}
                    args = {"data": frame.get("data"), **to}
                op = kind.removeprefix("call.")
                if await peers.forward(session, call_id=call_id, device=device, op=op, args=args):
                    return {"type": f"{kind}.ok", "forwarded": True, **reply}  # the hosting node relays it
            if kind == "call.signal":
                n = await relay(
                    session,
                    call_id=call_id,
                    device=device,
                    data=frame.get("data"),
                    to_user=_str(frame, "to_user"),
                    to_device=_str(frame, "to_device"),
                )
                CALL_SIGNALS.labels("ws").inc()
                return {"type": "call.signal.ok", "delivered": n, **reply}
            if kind == "call.heartbeat":
                legs = await service.heartbeat(session, call_id=call_id, device=device)
                return {"type": "call.heartbeat.ok", "legs": legs, **reply}
        raise BadRequest(f"unknown frame type {kind!r}", code="bad_frame")
    except ApiError as exc:
        return {"type": "error", "error": exc.code, "detail": exc.detail, **reply}
    except Exception:  # a node fault answers this frame; the socket and its other frames carry on
        log.exception("call frame failed", extra={"frame_type": str(kind)[:40]})
        return {
            "type": "error",
            "error": "internal_error",
            "detail": "the node failed to handle this frame",
            **reply,
        }
