"""``/v1/chats``: create (private unique per pair, group), list, show, and the recipients' device keys."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import ChatMember, ChatToken, CurrentDevice, NodeDep, ReaderDep, SessionDep, TokenHash
from messenger.api.keys import DeviceKeysOut, device_keys_out
from messenger.api.schemas import Body, Out
from messenger.federation.service import federation_of
from messenger.services import chats, reads

router = APIRouter(prefix="/v1/chats", tags=["chats"])


class ChatIn(Body):
    kind: Literal["private", "group"]
    members: list[str] = Field(max_length=1000, description="user ids besides the creator")
    title: str | None = Field(None, max_length=200)


class MemberOut(Out):
    user_id: str
    role: str


class ChatOut(Out):
    id: str
    kind: str
    title: str | None
    last_seq: int
    role: str
    last_read_seq: int
    members: list[MemberOut] | None = None


@router.post("", status_code=201)
async def create_chat(
    body: ChatIn, response: Response, session: SessionDep, node: NodeDep, device: CurrentDevice
) -> ChatOut:
    """201 with the new chat; 200 with the existing one for a private chat of the same pair."""
    fed = federation_of(node)
    if fed is not None:
        await fed.check_users(session, body.members)
    view, created = await chats.create_chat(
        session,
        creator=device.user_id,
        state=node.settings.state,
        kind=body.kind,
        members=body.members,
        title=body.title,
    )
    if not created:
        response.status_code = 200
    return ChatOut.model_validate(view.as_dict())


@router.get("")
async def list_chats(reader: ReaderDep, token: TokenHash) -> list[ChatOut]:
    return [ChatOut.model_validate(c) for c in await reads.chats(reader, token_hash=token)]


@router.get("/{chat_id}")
async def get_chat(member: ChatMember, session: SessionDep) -> ChatOut:
    chat = await chats.get_chat(session, member.chat_id)
    return ChatOut.model_validate((await chats.view(session, chat=chat, user_id=member.user_id)).as_dict())


@router.get("/{chat_id}/devices")
async def chat_devices(chat: ChatToken, reader: ReaderDep, node: NodeDep) -> list[DeviceKeysOut]:
    """Every active device of every member with its public keys: whom a sender shares its Megolm room
    key with (members homed in other states: fetched from their home nodes)."""
    found = await reads.chat_devices(reader, token_hash=chat.token_hash, chat_id=chat.chat_id)
    fed = federation_of(node)
    if fed is not None:
        async with node.sessions() as session:
            found += await fed.remote_device_keys(session, chat.chat_id)
    return device_keys_out(found)
