"""``GET /v1/chats/{chat_id}/messages/{seq}/replies``: a message's reply thread (direct replies, in order)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from messenger.api.deps import ChatMember, SessionDep
from messenger.api.messages import MessageOut
from messenger.api.schemas import DbInt
from messenger.db.models import Message
from messenger.errors import NotFound
from messenger.services.messages import message_row

router = APIRouter(prefix="/v1/chats/{chat_id}/messages/{seq}", tags=["replies"])


@router.get("/replies")
async def replies(
    seq: DbInt,
    member: ChatMember,
    session: SessionDep,
    after: Annotated[DbInt, Query(ge=0, description="only replies with a seq above this")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MessageOut]:
    """Messages of this chat whose ``reply_to`` is ``seq``, with their ciphertext."""
    parent = await session.scalar(
        select(Message.id).where(Message.chat_id == member.chat_id, Message.seq == seq)
    )
    if parent is None:
        raise NotFound(f"message {seq} not found", code="message_not_found")
    rows = await session.scalars(
        select(Message)
        .where(Message.chat_id == member.chat_id, Message.reply_to == seq, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [MessageOut.model_validate(message_row(m)) for m in rows]
