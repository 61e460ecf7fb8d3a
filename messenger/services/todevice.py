"""To-device messages: opaque (Olm-encrypted) payloads from one device to others, e.g. Megolm room keys
and SAS verification.

A send is ``{user_id: {device_id: ciphertext}}`` under a transaction id chosen by the sending device:
the pair (device, txn id) is recorded once, so a retried send is not delivered twice. Each recipient
device gets one ``to_device`` event in its event log (the per-device queue that the WebSocket and
``/v1/sync`` read by cursor); devices of users homed in another state get theirs through the signed
federation outbox (``to_device`` PDU), which the receiving node applies once per federation transaction.
Bounds: ``max_to_device_messages`` devices per send, ``max_ciphertext_bytes`` per ciphertext, and the
event log's retention (``event_retention_days``) for what a device never reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models import Device, ToDeviceTxn
from messenger.errors import BadRequest, NotFound
from messenger.realtime.events import emit_to_devices
from messenger.services.ids import home_state
from messenger.services.messages import check_ciphertext
from messenger.settings import Settings

Messages = Mapping[str, Mapping[str, str]]  # user id -> device id -> ciphertext


def check_messages(settings: Settings, messages: Messages) -> int:
    count = sum(len(devices) for devices in messages.values())
    if count > settings.max_to_device_messages:
        raise BadRequest(
            f"at most {settings.max_to_device_messages} devices per send, got {count}",
            code="too_many_messages",
        )
    for devices in messages.values():
        for ciphertext in devices.values():
            check_ciphertext(settings, ciphertext)
    return count


async def deliver(
    session: AsyncSession, *, sender: str, sender_device: str, messages: Messages, strict: bool
) -> int:
    """Append a ``to_device`` event to each named device homed here; ``strict``: 404 ``unknown_device``
    if one is not an active device of the named user (a peer's PDU skips those instead)."""
    wanted = {(u, d) for u, devices in messages.items() for d in devices}
    rows = await session.execute(
        select(Device.user_id, Device.id).where(
            Device.id.in_(sorted(d for _, d in wanted)), Device.revoked_at.is_(None)
        )
    )
    found = {(u, d) for u, d in rows.all()} & wanted
    if strict and found != wanted:
        unknown = sorted(d for _, d in wanted - found)
        raise NotFound(f"unknown devices {unknown[:5]}", code="unknown_device")
    by_device = {d: messages[u][d] for u, d in found}
    await emit_to_devices(
        session,
        device_ids=by_device,
        kind="to_device",
        payload=lambda d: {"sender": sender, "sender_device": sender_device, "ciphertext": by_device[d]},
    )
    return len(by_device)


async def first_send(session: AsyncSession, *, device_id: str, txn_id: str) -> bool:
    """Record the device's transaction id; ``False`` if it was seen before (a retry)."""
    try:
        async with session.begin_nested():
            session.add(ToDeviceTxn(device_id=device_id, txn_id=txn_id, created_at=now()))
    except IntegrityError:
        return False
    return True


def split_by_state(
    messages: Messages, local: str
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, dict[str, str]]]]:
    """The messages for users homed here, and those for each other state."""
    here: dict[str, dict[str, str]] = {}
    elsewhere: dict[str, dict[str, dict[str, str]]] = {}
    for user_id, devices in messages.items():
        state = home_state(user_id)
        if state == local:
            here[user_id] = dict(devices)
        else:
            elsewhere.setdefault(state, {})[user_id] = dict(devices)
    return here, elsewhere
