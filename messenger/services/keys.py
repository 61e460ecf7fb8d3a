"""Key directory: devices publish identity/signing keys and one-time prekeys; others fetch them."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.models import Device, Prekey
from messenger.errors import BadRequest


def check_key(value: str, what: str) -> str:
    """``value`` must be base64 of a 32-byte Curve25519/Ed25519 public key."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not valid base64", code="invalid_key") from None
    if len(raw) != 32:
        raise BadRequest(f"{what} must be 32 bytes, got {len(raw)}", code="invalid_key")
    return value


async def publish(
    session: AsyncSession,
    *,
    device: Device,
    identity_key: str,
    signing_key: str | None,
    prekeys: Sequence[tuple[int, str]],
) -> int:
    """Set the device's keys and add ``prekeys`` (same id replaces); returns prekeys on file. Replacing
    an identity key that was set is audited (``keys.identity_replaced``): it is what a takeover does."""
    new_identity = check_key(identity_key, "identity_key")
    if device.identity_key and device.identity_key != new_identity:
        detail = {"old": device.identity_key, "new": new_identity}
        await audit.record(
            session, action="keys.identity_replaced", actor=device.user_id, target=device.id, detail=detail
        )
    device.identity_key = new_identity
    device.signing_key = check_key(signing_key, "signing_key") if signing_key else None
    ids = [key_id for key_id, _ in prekeys]
    if len(set(ids)) != len(ids):
        raise BadRequest("prekey ids must be unique", code="invalid_key")
    if ids:
        await session.execute(delete(Prekey).where(Prekey.device_id == device.id, Prekey.key_id.in_(ids)))
        session.add_all(
            Prekey(device_id=device.id, key_id=key_id, public_key=check_key(key, f"prekey {key_id}"))
            for key_id, key in prekeys
        )
    await session.flush()
    count = len(list(await session.scalars(select(Prekey.key_id).where(Prekey.device_id == device.id))))
    await session.commit()
    return count


@dataclass(frozen=True)
class DeviceKeys:
    user_id: str
    device_id: str
    identity_key: str | None
    signing_key: str | None
    prekey: tuple[int, str] | None


async def user_devices(session: AsyncSession, *, user_ids: Sequence[str], claim: bool) -> list[DeviceKeys]:
    """Active devices of ``user_ids`` with their keys; with ``claim`` each hands out (deletes) one prekey."""
    devices = list(
        await session.scalars(
            select(Device)
            .where(Device.user_id.in_(user_ids), Device.revoked_at.is_(None))
            .order_by(Device.user_id, Device.created_at)
        )
    )
    out = []
    for device in devices:
        prekey = None
        if claim:
            row = await session.scalar(
                select(Prekey).where(Prekey.device_id == device.id).order_by(Prekey.key_id).limit(1)
            )
            if row is not None:
                prekey = (row.key_id, row.public_key)
                await session.delete(row)
        out.append(DeviceKeys(device.user_id, device.id, device.identity_key, device.signing_key, prekey))
    if claim:
        await session.commit()
    return out
