"""Key directory: devices publish signed identity, one-time and fallback keys; others fetch them and
claim one-time keys.

A claim hands out each one-time key once: it is deleted in the statement that reads it (``DELETE ...
RETURNING``; on PostgreSQL the row is picked ``FOR UPDATE SKIP LOCKED``, so two concurrent claimers get
different keys; SQLite serialises writers). A device with no one-time key left hands out its fallback
key, which stays until the device uploads another (as Matrix's fallback keys: an Olm session opened with
it has weaker protection against replay of its first message, so devices top up their one-time keys).
Signatures are Ed25519 by the device's signing key over the key's base64 text, checked on upload.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.models import Device, Prekey
from messenger.errors import BadRequest


def _decode(value: str, what: str) -> bytes:
    try:  # vodozemac writes unpadded base64
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not valid base64", code="invalid_key") from None


def check_key(value: str, what: str) -> str:
    """``value`` must be base64 of a 32-byte Curve25519/Ed25519 public key."""
    raw = _decode(value, what)
    if len(raw) != 32:
        raise BadRequest(f"{what} must be 32 bytes, got {len(raw)}", code="invalid_key")
    return value


def check_signature(signing_key: str, text: str, signature: str | None, what: str) -> str:
    """400 unless ``signature`` is the device's Ed25519 signature of ``text``."""
    if not signature:
        raise BadRequest(f"{what} is not signed", code="invalid_signature")
    try:
        VerifyKey(_decode(signing_key, "signing_key")).verify(text.encode(), _decode(signature, what))
    except (BadSignatureError, ValueError):
        raise BadRequest(f"{what}: signature does not verify", code="invalid_signature") from None
    return signature


@dataclass(frozen=True)
class SignedKey:
    key_id: int
    key: str
    signature: str


async def publish(
    session: AsyncSession,
    *,
    device: Device,
    identity_key: str,
    signing_key: str,
    identity_signature: str,
    prekeys: Sequence[SignedKey],
    fallback: SignedKey | None,
) -> int:
    """Set the device's keys and add ``prekeys`` (same id replaces) and ``fallback`` (replaces the previous
    one); returns one-time keys on file. Replacing an identity key that was set is audited
    (``keys.identity_replaced``): it is what a takeover does."""
    new_identity = check_key(identity_key, "identity_key")
    signing = check_key(signing_key, "signing_key")
    check_signature(signing, new_identity, identity_signature, "identity_key")
    if device.identity_key and device.identity_key != new_identity:
        detail = {"old": device.identity_key, "new": new_identity}
        await audit.record(
            session, action="keys.identity_replaced", actor=device.user_id, target=device.id, detail=detail
        )
    device.identity_key, device.signing_key, device.identity_signature = (
        new_identity,
        signing,
        identity_signature,
    )
    ids = [k.key_id for k in prekeys]
    if len(set(ids)) != len(ids):
        raise BadRequest("prekey ids must be unique", code="invalid_key")
    for k in prekeys:
        check_key(k.key, f"prekey {k.key_id}")
        check_signature(signing, k.key, k.signature, f"prekey {k.key_id}")
    if fallback is not None:
        check_key(fallback.key, "fallback_key")
        device.fallback_key = fallback.key
        device.fallback_signature = check_signature(signing, fallback.key, fallback.signature, "fallback_key")
    if ids:
        await session.execute(delete(Prekey).where(Prekey.device_id == device.id, Prekey.key_id.in_(ids)))
        session.add_all(
            Prekey(device_id=device.id, key_id=k.key_id, public_key=k.key, signature=k.signature)
            for k in prekeys
        )
    await session.flush()
    count = await session.scalar(select(func.count()).where(Prekey.device_id == device.id))
    await session.commit()
    return int(count or 0)


@dataclass(frozen=True)
class DeviceKeys:
    user_id: str
    device_id: str
    identity_key: str | None
    signing_key: str | None
    prekey: tuple[int | None, str, str | None] | None  # claimed: key id (None: fallback), key, signature
    identity_signature: str | None = None
    verified_by: tuple[str, ...] = ()  # provider names; set only on a peer's answer (federation)


async def claim_key(session: AsyncSession, device: Device) -> tuple[int | None, str, str | None] | None:
    """Hand out one of the device's one-time keys (deleted as it is read), else its fallback key (id
    ``None``)."""
    pick = select(Prekey.key_id).where(Prekey.device_id == device.id).order_by(Prekey.key_id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    row = (
        await session.execute(
            delete(Prekey)
            .where(Prekey.device_id == device.id, Prekey.key_id == pick.scalar_subquery())
            .returning(Prekey.key_id, Prekey.public_key, Prekey.signature)
        )
    ).first()
    if row is not None:
        return row[0], row[1], row[2]
    if device.fallback_key is None:
        return None
    return None, device.fallback_key, device.fallback_signature


async def user_devices(session: AsyncSession, *, user_ids: Sequence[str], claim: bool) -> list[DeviceKeys]:
    """Active devices of ``user_ids`` with their keys; with ``claim`` each hands out one one-time key."""
    devices = list(
        await session.scalars(
            select(Device)
            .where(Device.user_id.in_(user_ids), Device.revoked_at.is_(None))
            .order_by(Device.user_id, Device.created_at)
        )
    )
    out = []
    for device in devices:
        claimed = await claim_key(session, device) if claim else None
        out.append(
            DeviceKeys(
                device.user_id,
                device.id,
                device.identity_key,
                device.signing_key,
                claimed,
                device.identity_signature,
            )
        )
    if claim:
        await session.commit()
    return out
