"""Messages of a chat: post (per-device ciphertext envelopes), history, edit, delete, read receipts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.api.deps import ChatAccessDep, ChatDevice, ChatMember, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.db.models import Device, Member
from messenger.federation.models import ChatHost
from messenger.federation.service import federation_of
from messenger.services import chats, messages
from messenger.services.ids import home_state

router = APIRouter(prefix="/v1/chats/{chat_id}", tags=["messages"])


class EnvelopeIn(Body):
    device_id: str = Field(max_length=40)
    ciphertext: str = Field(min_length=1, description="base64; size limited by max_envelope_bytes")


class MessageIn(Body):
    client_msg_id: str = Field(
        min_length=1, max_length=64, description="idempotency key chosen by the client"
    )
    reply_to: int | None = Field(None, gt=0)
    envelopes: list[EnvelopeIn]


class EditIn(Body):
    envelopes: list[EnvelopeIn]


class PostedOut(Out):
    id: str
    seq: int | None = Field(description="null (202) while the chat's hosting node in another state orders it")
    ts: float


class MessageOut(Out):
    id: str
    chat_id: str
    seq: int
    sender: str
    sender_device: str
    client_msg_id: str
    reply_to: int | None
    ts: float
    edited_at: float | None
    deleted: bool
    ciphertext: str | None


class ReadIn(Body):
    seq: int = Field(gt=0)


class ReadOut(Out):
    last_read_seq: int


_RECIPIENTS = (
    select(Member.user_id, Device.id)
    .outerjoin(Device, (Device.user_id == Member.user_id) & Device.revoked_at.is_(None))
    .where(Member.chat_id == bindparam("chat_id"))
)
_RECIPIENTS_AND_HOST = _RECIPIENTS.add_columns(ChatHost.host_state).outerjoin(
    ChatHost, ChatHost.chat_id == Member.chat_id
)


async def local_recipients(
    session: AsyncSession, chat_id: str, *, state: str, federated: bool
) -> frozenset[str] | None:
    """The chat's active devices in one query (members × devices × host), or ``None`` if the chat needs
    federation (``federated`` and a member homed in another state or the chat hosted elsewhere)."""
    query = _RECIPIENTS_AND_HOST if federated else _RECIPIENTS
    devices: set[str] = set()
    rows: list[Any] = list((await session.execute(query, {"chat_id": chat_id})).all())  # 2 or 3 columns
    for row in rows:
        user_id, device_id, host = row[0], row[1], row[2] if federated else None
        if federated and (home_state(user_id) != state or (host or state) != state):
            return None
        if device_id is not None:
            devices.add(device_id)
    return frozenset(devices)


def _posted(status: int, msg_id: str, seq: int | None, ts: float) -> JSONResponse:
    # The hot route returns the body itself: FastAPI's validation and encoding of a returned model cost more
    # than the rest of the response (profile, benchmarks/node_send.py); the bytes are the same (JSONResponse).
    return JSONResponse({"id": msg_id, "seq": seq, "ts": ts}, status_code=status)


@router.post("/messages", status_code=201, response_model=PostedOut)
async def post_message(
    body: MessageIn, access: ChatAccessDep, session: SessionDep, node: NodeDep
) -> JSONResponse:
    """Store and deliver a message. 409 ``stale_devices`` if the envelopes miss or add a device; a retried
    ``client_msg_id`` returns 200 with the stored message. In a chat hosted by another state's node the
    message is forwarded there: 202 with ``seq`` null; devices get ``message.new`` once it is ordered."""
    member, device = access.member, access.device
    fed = federation_of(node)
    local = await local_recipients(
        session, member.chat_id, state=node.settings.state, federated=fed is not None
    )
    fanout = await fed.recipients(session, member.chat_id) if fed is not None and local is None else None
    if fed is not None and fanout is not None and fanout.host != node.settings.state:
        msg_id, ts = await fed.submit(
            session,
            fanout,
            member=member,
            device=device,
            client_msg_id=body.client_msg_id,
            reply_to=body.reply_to,
            envelopes=[(e.device_id, e.ciphertext) for e in body.envelopes],
        )
        return _posted(202, msg_id, None, ts)
    posted = await messages.post_message(
        session,
        node.settings,
        member=member,
        device=device,
        client_msg_id=body.client_msg_id,
        reply_to=body.reply_to,
        envelopes=[(e.device_id, e.ciphertext) for e in body.envelopes],
        remote=fanout,
        local=local,
    )
    return _posted(201 if posted.created else 200, posted.id, posted.seq, posted.ts)


@router.get("/messages")
async def history(
    member: ChatMember,
    device: ChatDevice,
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MessageOut]:
    """Messages with seq > ``after`` carrying this device's envelope."""
    rows = await messages.history(
        session, chat_id=member.chat_id, device_id=device.id, after=after, limit=limit
    )
    return [MessageOut.model_validate(r) for r in rows]


@router.patch("/messages/{seq}", status_code=204)
async def edit(
    seq: int, body: EditIn, member: ChatMember, device: ChatDevice, session: SessionDep, node: NodeDep
) -> Response:
    """Replace the envelopes of one's own message. In a chat hosted by another state's node the edit is
    forwarded there: 202; devices get ``message.edited`` once it is applied."""
    envelopes = [(e.device_id, e.ciphertext) for e in body.envelopes]
    fed = federation_of(node)
    fanout = await fed.recipients(session, member.chat_id) if fed is not None else None
    if fed is not None and fanout is not None and fanout.host != node.settings.state:
        await fed.submit_edit(session, fanout, member=member, device=device, seq=seq, envelopes=envelopes)
        return Response(status_code=202)
    await messages.edit_message(
        session, node.settings, member=member, device=device, seq=seq, envelopes=envelopes, remote=fanout
    )
    return Response(status_code=204)


@router.delete("/messages/{seq}", status_code=204)
async def delete(seq: int, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "delete", seq=seq):
        return Response(status_code=202)  # the chat's hosting node in another state decides
    chat = await chats.get_chat(session, member.chat_id)
    await messages.delete_message(session, member=member, chat=chat, seq=seq)
    return Response(status_code=204)


@router.post("/read")
async def read(body: ReadIn, member: ChatMember, session: SessionDep) -> ReadOut:
    chat = await chats.get_chat(session, member.chat_id)
    return ReadOut(last_read_seq=await messages.mark_read(session, member=member, chat=chat, seq=body.seq))
