"""Pinned messages of a chat (group admins; both members of a private chat)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import ChatMember, NodeDep, SessionDep
from messenger.api.schemas import Body, DbInt, Out
from messenger.federation.service import federation_of
from messenger.services import chats

router = APIRouter(prefix="/v1/chats/{chat_id}/pins", tags=["pins"])


class PinIn(Body):
    seq: DbInt = Field(gt=0)


class PinOut(Out):
    seq: int
    pinned_by: str
    pinned_at: float


@router.get("")
async def list_pins(member: ChatMember, session: SessionDep) -> list[PinOut]:
    return [PinOut.model_validate(p) for p in await chats.pins(session, chat_id=member.chat_id)]


@router.post("", status_code=204)
async def pin(body: PinIn, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "pin", seq=body.seq):
        return Response(status_code=202)  # the chat's hosting node in another state decides
    await chats.pin(session, actor=member, seq=body.seq)
    return Response(status_code=204)


@router.delete("/{seq}", status_code=204)
async def unpin(seq: DbInt, member: ChatMember, session: SessionDep, node: NodeDep) -> Response:
    fed = federation_of(node)
    if fed is not None and await fed.forward(session, member, "unpin", seq=seq):
        return Response(status_code=202)
    await chats.unpin(session, actor=member, seq=seq)
    return Response(status_code=204)
