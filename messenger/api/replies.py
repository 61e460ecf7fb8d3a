"""``GET /v1/chats/{chat_id}/messages/{seq}/replies``: a message's reply thread (direct replies, in order)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from messenger.api.deps import ChatMember, CurrentDevice, SessionDep
from messenger.api.messages import MessageOut
from messenger.api.schemas import DbInt
from messenger.db.models import Envelope, Message
from messenger.errors import NotFound

router = APIRouter(prefix="/v1/chats/{chat_id}/messages/{seq}", tags=["replies"])


@router.get("/replies")
async def replies(
    seq: DbInt,
    member: ChatMember,
    device: CurrentDevice,
    session: SessionDep,
    after: Annotated[DbInt, Query(ge=0, description="only replies with a seq above this")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MessageOut]:
    """Messages of this chat whose ``reply_to`` is ``seq``, each with the caller device's envelope."""
    parent = await session.scalar(
        select(Message.id).where(Message.chat_id == member.chat_id, Message.seq == seq)
    )
    if parent is None:
        raise NotFound(f"message {seq} not found", code="message_not_found")
    rows = await session.execute(
        select(Message, Envelope.ciphertext)
        .outerjoin(Envelope, (Envelope.message_id == Message.id) & (Envelope.device_id == device.id))
        .where(Message.chat_id == member.chat_id, Message.reply_to == seq, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [
        MessageOut(
            id=m.id,
            chat_id=m.chat_id,
            seq=m.seq,
            sender=m.sender_user_id,
            sender_device=m.sender_device_id,
            client_msg_id=m.client_msg_id,
            reply_to=m.reply_to,
            ts=m.created_at,
            edited_at=m.edited_at,
            deleted=m.deleted_at is not None,
            ciphertext=ciphertext,
        )
        for m, ciphertext in rows.all()
    ]
