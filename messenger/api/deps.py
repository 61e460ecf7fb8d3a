"""Dependency aliases for short routes: ``NodeDep``, ``SessionDep``, ``CurrentDevice``, ``ChatMember``,
``ChatAccessDep`` (device and membership as one dependency, for the hot send route)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models import Device, Member
from messenger.errors import NotFound, Unauthorized
from messenger.node import Node
from messenger.security import token_hash


async def get_node(request: Request) -> Node:  # async: FastAPI runs plain ``def`` deps in a thread pool
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


async def get_session(node: NodeDep) -> AsyncIterator[AsyncSession]:
    async with node.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>'", code="missing_token")
    return token.strip()


async def device_for_token(session: AsyncSession, token: str) -> Device:
    """The active device owning ``token``; 401 if the token is unknown or the device was revoked."""
    device = await session.scalar(
        select(Device).where(Device.token_hash == token_hash(token), Device.revoked_at.is_(None))
    )
    if device is None:
        raise Unauthorized("token is invalid or its device was revoked", code="invalid_token")
    return device


async def current_device(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    return await device_for_token(session, bearer_token(authorization))


CurrentDevice = Annotated[Device, Depends(current_device)]


@dataclass(frozen=True, slots=True)
class ChatAccess:
    """The caller's device and its user's membership of the chat in the path."""

    device: Device
    member: Member


# Built once: constructing the expression per request costs more than running it (profile, node_send).
_ACCESS = (
    select(Device, Member)
    .join(Member, (Member.user_id == Device.user_id) & (Member.chat_id == bindparam("chat_id")))
    .where(Device.token_hash == bindparam("token_hash"), Device.revoked_at.is_(None))
)


async def chat_access(
    session: SessionDep,
    chat_id: Annotated[str, Path(max_length=40)],
    authorization: Annotated[str | None, Header()] = None,
) -> ChatAccess:
    """Token and membership in one query; 401 for a bad token, 404 for non-members (chat ids do not leak)."""
    token = bearer_token(authorization)
    row = (await session.execute(_ACCESS, {"chat_id": chat_id, "token_hash": token_hash(token)})).first()
    if row is None:
        await device_for_token(session, token)  # raises 401 if the token is the problem
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")
    return ChatAccess(row[0], row[1])


async def chat_member(access: Annotated[ChatAccess, Depends(chat_access)]) -> Member:
    return access.member


async def chat_device(access: Annotated[ChatAccess, Depends(chat_access)]) -> Device:
    """The caller's device, from the same query as ``ChatMember`` (use instead of ``CurrentDevice``)."""
    return access.device


ChatAccessDep = Annotated[ChatAccess, Depends(chat_access)]
ChatDevice = Annotated[Device, Depends(chat_device)]
ChatMember = Annotated[Member, Depends(chat_member)]
