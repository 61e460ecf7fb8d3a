"""Key directory routes: ``PUT /v1/keys`` (own device), ``POST /v1/keys/claim`` and
``GET /v1/users/{user_id}/devices``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.db.models import Device
from messenger.errors import BadRequest, NotFound
from messenger.federation.service import federation_of
from messenger.identity import service as identity
from messenger.services import keys
from messenger.services.chats import USER_ID
from messenger.services.ids import DEVICE_ID, home_state

router = APIRouter(tags=["keys"])

Key = Annotated[str, Field(min_length=40, max_length=64, description="base64 of 32 bytes")]


Signature = Annotated[str, Field(min_length=80, max_length=128, description="Ed25519, base64")]


class PrekeyIn(Body):
    id: int = Field(ge=0, lt=2**31)
    key: Key
    signature: Signature


class KeysIn(Body):
    identity_key: Key = Field(description="Curve25519")
    signing_key: Key = Field(description="Ed25519")
    identity_signature: Signature = Field(description="of identity_key's base64 text by signing_key")
    prekeys: list[PrekeyIn] = Field(default_factory=list, description="signed one-time keys")
    fallback_key: PrekeyIn | None = Field(None, description="handed out when no one-time key is left")


class KeysOut(Out):
    prekeys_available: int


class PrekeyOut(Out):
    id: int | None = Field(description="null for the device's fallback key")
    key: str
    signature: str | None


class DeviceKeysOut(Out):
    user_id: str
    device_id: str
    identity_key: str | None
    signing_key: str | None
    identity_signature: str | None = None
    prekey: PrekeyOut | None = None
    identity_verified_by: list[str] = Field(
        default_factory=list, description="identity providers that verified this user (docs/IDENTITY.md)"
    )


class ClaimIn(Body):
    devices: dict[
        Annotated[str, Field(pattern=USER_ID.pattern)], list[Annotated[str, Field(pattern=DEVICE_ID)]]
    ] = Field(min_length=1, max_length=1000, description="user id -> device ids")


def device_keys_out(
    items: list[keys.DeviceKeys], verified: dict[str, list[str]] | None = None
) -> list[DeviceKeysOut]:
    return [
        DeviceKeysOut(
            user_id=k.user_id,
            device_id=k.device_id,
            identity_key=k.identity_key,
            signing_key=k.signing_key,
            identity_signature=k.identity_signature,
            prekey=PrekeyOut(id=k.prekey[0], key=k.prekey[1], signature=k.prekey[2]) if k.prekey else None,
            identity_verified_by=(verified or {}).get(k.user_id, list(k.verified_by)),
        )
        for k in items
    ]


@router.put("/v1/keys")
async def put_keys(body: KeysIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> KeysOut:
    """Publish this device's signed identity key (Curve25519), signing key (Ed25519), signed one-time
    keys and fallback key. 400 ``invalid_signature`` if a signature does not verify."""
    if len(body.prekeys) > node.settings.max_prekeys:
        raise BadRequest(f"at most {node.settings.max_prekeys} prekeys per upload", code="too_many_prekeys")
    count = await keys.publish(
        session,
        device=device,
        identity_key=body.identity_key,
        signing_key=body.signing_key,
        identity_signature=body.identity_signature,
        prekeys=[keys.SignedKey(p.id, p.key, p.signature) for p in body.prekeys],
        fallback=keys.SignedKey(body.fallback_key.id, body.fallback_key.key, body.fallback_key.signature)
        if body.fallback_key
        else None,
    )
    return KeysOut(prekeys_available=count)


@router.post("/v1/keys/claim")
async def claim_keys(
    body: ClaimIn, session: SessionDep, node: NodeDep, _device: CurrentDevice
) -> dict[str, PrekeyOut]:
    """One one-time key per listed device, by device id (each key is handed out once; the device's
    fallback key when none is left; a device with neither is left out). 404 ``unknown_device`` for a
    device that is not an active device of the user named. Users homed in another state: claimed from
    their home node (which hands out one key for each of the user's devices; the unasked are unused)."""
    if sum(len(d) for d in body.devices.values()) > node.settings.max_to_device_messages:
        raise BadRequest(
            f"at most {node.settings.max_to_device_messages} devices per claim", code="too_many_devices"
        )
    fed = federation_of(node)
    local = {u: set(d) for u, d in body.devices.items() if home_state(u) == node.settings.state}
    remote = {u: set(d) for u, d in body.devices.items() if u not in local}
    if remote and fed is None:
        raise NotFound(f"users {sorted(remote)[:3]} are not homed on this node", code="unknown_device")
    wanted = {(u, d) for u, ids in local.items() for d in ids}
    devices = list(
        await session.scalars(
            select(Device)
            .where(Device.id.in_(sorted(d for _, d in wanted)), Device.revoked_at.is_(None))
            .order_by(Device.id)
        )
    )
    unknown = sorted(d for u, d in wanted - {(d.user_id, d.id) for d in devices})
    if unknown:
        raise NotFound(f"unknown devices {unknown[:5]}", code="unknown_device")
    out = {}
    for device in devices:
        claimed = await keys.claim_key(session, device)
        if claimed is not None:
            out[device.id] = PrekeyOut(id=claimed[0], key=claimed[1], signature=claimed[2])
    await session.commit()
    for user_id, ids in sorted(remote.items()):
        assert fed is not None
        for k in await fed.user_devices(session, user_id, claim=True):
            if k.device_id in ids and k.prekey is not None:
                out[k.device_id] = PrekeyOut(id=k.prekey[0], key=k.prekey[1], signature=k.prekey[2])
    return out


@router.get("/v1/users/{user_id}/devices")
async def get_user_devices(
    user_id: str,
    session: SessionDep,
    node: NodeDep,
    _device: CurrentDevice,
    claim: Annotated[bool, Query()] = True,
) -> list[DeviceKeysOut]:
    """A user's active devices and public keys; each device hands out one one-time prekey (``claim``).
    A user homed in another state is looked up on that state's node."""
    fed = federation_of(node)
    if fed is not None and home_state(user_id) != node.settings.state:
        found = await fed.user_devices(session, user_id, claim=claim)
        verified = None  # the home node's answer carries the provider names (docs/IDENTITY.md)
    else:
        found = await keys.user_devices(session, user_ids=[user_id], claim=claim)
        verified = await identity.verified_by(session, [user_id])
    if not found:
        raise NotFound(f"user {user_id} has no devices here", code="user_not_found")
    return device_keys_out(found, verified)
