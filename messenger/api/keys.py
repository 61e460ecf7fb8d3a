"""Key directory routes: ``PUT /v1/keys`` (own device) and ``GET /v1/users/{user_id}/devices``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.errors import BadRequest, NotFound
from messenger.federation.service import federation_of
from messenger.identity import service as identity
from messenger.services import keys
from messenger.services.ids import home_state

router = APIRouter(tags=["keys"])

Key = Annotated[str, Field(min_length=40, max_length=64, description="base64 of 32 bytes")]


class PrekeyIn(Body):
    id: int = Field(ge=0, lt=2**31)
    key: Key


class KeysIn(Body):
    identity_key: Key
    signing_key: Key | None = None
    prekeys: list[PrekeyIn] = Field(default_factory=list)


class KeysOut(Out):
    prekeys_available: int


class PrekeyOut(Out):
    id: int
    key: str


class DeviceKeysOut(Out):
    user_id: str
    device_id: str
    identity_key: str | None
    signing_key: str | None
    prekey: PrekeyOut | None = None
    identity_verified_by: list[str] = Field(
        default_factory=list, description="identity providers that verified this user (docs/IDENTITY.md)"
    )


def device_keys_out(
    items: list[keys.DeviceKeys], verified: dict[str, list[str]] | None = None
) -> list[DeviceKeysOut]:
    return [
        DeviceKeysOut(
            user_id=k.user_id,
            device_id=k.device_id,
            identity_key=k.identity_key,
            signing_key=k.signing_key,
            prekey=PrekeyOut(id=k.prekey[0], key=k.prekey[1]) if k.prekey else None,
            identity_verified_by=(verified or {}).get(k.user_id, []),
        )
        for k in items
    ]


@router.put("/v1/keys")
async def put_keys(body: KeysIn, session: SessionDep, node: NodeDep, device: CurrentDevice) -> KeysOut:
    """Publish this device's identity key (X25519), signing key (Ed25519) and one-time prekeys."""
    if len(body.prekeys) > node.settings.max_prekeys:
        raise BadRequest(f"at most {node.settings.max_prekeys} prekeys per upload", code="too_many_prekeys")
    count = await keys.publish(
        session,
        device=device,
        identity_key=body.identity_key,
        signing_key=body.signing_key,
        prekeys=[(p.id, p.key) for p in body.prekeys],
    )
    return KeysOut(prekeys_available=count)


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
        verified = None  # the flag stays in the user's state (docs/IDENTITY.md)
    else:
        found = await keys.user_devices(session, user_ids=[user_id], claim=claim)
        verified = await identity.verified_by(session, [user_id])
    if not found:
        raise NotFound(f"user {user_id} has no devices here", code="user_not_found")
    return device_keys_out(found, verified)
