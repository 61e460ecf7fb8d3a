"""Dependency aliases for short routes: ``NodeDep``, ``SessionDep``, ``CurrentDevice``, ``ChatMember``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models import Device, Member
from messenger.errors import NotFound, Unauthorized
from messenger.node import Node
from messenger.security import token_hash


def get_node(request: Request) -> Node:
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


async def chat_member(
    session: SessionDep, device: CurrentDevice, chat_id: Annotated[str, Path(max_length=40)]
) -> Member:
    """The caller's membership of ``chat_id``; 404 for non-members so chat ids do not leak."""
    member = await session.get(Member, (chat_id, device.user_id))
    if member is None:
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")
    return member


ChatMember = Annotated[Member, Depends(chat_member)]
