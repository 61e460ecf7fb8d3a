"""``/v1/devices``: the caller's devices; revoking one kills its token and sockets at once."""

from __future__ import annotations

from fastapi import APIRouter, Response

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Out
from messenger.services import accounts

router = APIRouter(prefix="/v1/devices", tags=["devices"])


class DeviceOut(Out):
    id: str
    name: str
    platform: str
    created_at: float
    has_keys: bool
    current: bool


@router.get("")
async def list_devices(session: SessionDep, device: CurrentDevice) -> list[DeviceOut]:
    devices = await accounts.list_devices(session, user_id=device.user_id)
    return [
        DeviceOut(
            id=d.id,
            name=d.name,
            platform=d.platform,
            created_at=d.created_at,
            has_keys=d.identity_key is not None,
            current=d.id == device.id,
        )
        for d in devices
    ]


@router.delete("/{device_id}", status_code=204)
async def revoke_device(
    device_id: str, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> Response:
    await accounts.revoke_device(session, node, user_id=device.user_id, device_id=device_id)
    return Response(status_code=204)
