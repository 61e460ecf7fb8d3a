"""``PUT /v1/sendToDevice/{txn_id}``: to-device messages (``messenger.services.todevice``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import Field

from messenger.api.deps import CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.errors import NotFound
from messenger.federation.outbox import enqueue
from messenger.federation.service import federation_of
from messenger.services import todevice
from messenger.services.chats import USER_ID
from messenger.services.ids import DEVICE_ID

router = APIRouter(tags=["to-device"])

DeviceId = Annotated[str, Field(pattern=DEVICE_ID)]
UserId = Annotated[str, Field(pattern=USER_ID.pattern)]
TXN_ID = r"^[A-Za-z0-9._~-]{1,64}$"
BASE64ISH = r"^[A-Za-z0-9+/=:_-]+$"  # Olm ciphertexts are "<type>:<base64>"; nothing a database refuses


class ToDeviceIn(Body):
    messages: dict[UserId, dict[DeviceId, Annotated[str, Field(min_length=1, pattern=BASE64ISH)]]] = Field(
        description="user id -> device id -> opaque (Olm) ciphertext; at most max_to_device_messages"
    )


class ToDeviceOut(Out):
    delivered: int = Field(description="local devices that got the message now (0 for a retried txn id)")
    relayed: int = Field(description="devices in other states, queued for their nodes")


@router.put("/v1/sendToDevice/{txn_id}")
async def send_to_device(
    txn_id: Annotated[str, Path(pattern=TXN_ID)],
    body: ToDeviceIn,
    device: CurrentDevice,
    session: SessionDep,
    node: NodeDep,
) -> ToDeviceOut:
    """Deliver each ciphertext to its device as a ``to_device`` event ``{sender, sender_device,
    ciphertext}``. Idempotent per (sending device, ``txn_id``): a retry answers 200 and delivers nothing.
    404 ``unknown_device`` if a device is not an active device of the user named; 400 if over the limits."""
    todevice.check_messages(node.settings, body.messages)
    here, elsewhere = todevice.split_by_state(body.messages, node.settings.state)
    fed = federation_of(node)
    if elsewhere and fed is None:
        raise NotFound(f"users {sorted(elsewhere)[:3]} are not homed on this node", code="unknown_device")
    user_id, device_id = device.user_id, device.id
    if not await todevice.first_send(session, device_id=device_id, txn_id=txn_id):
        return ToDeviceOut(delivered=0, relayed=0)
    delivered = await todevice.deliver(
        session, sender=user_id, sender_device=device_id, messages=here, strict=True
    )
    for state, messages in sorted(elsewhere.items()):
        pdu = {"type": "to_device", "sender": user_id, "sender_device": device_id, "messages": messages}
        await enqueue(session, [state], pdu)
    await session.commit()
    return ToDeviceOut(
        delivered=delivered, relayed=sum(len(m) for s in elsewhere.values() for m in s.values())
    )
