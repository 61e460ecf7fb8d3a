"""Dependency aliases for short routes: ``NodeDep``, ``SessionDep``, ``CurrentDevice``, and ``ChatDevice``
with ``ChatMember`` (device and membership from one query, :func:`access_of`); for the Core reads of
``messenger.services.reads``: ``ReaderDep`` with ``TokenHash`` or ``ChatToken``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

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


async def get_reader(node: NodeDep) -> AsyncIterator[AsyncConnection]:
    """A Core connection for reads only: on SQLite a WAL reader beside the writer (never write with it)."""
    async with node.read_engine.connect() as conn:
        yield conn


ReaderDep = Annotated[AsyncConnection, Depends(get_reader)]


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>'", code="missing_token")
    return token.strip()


# Built once: constructing the expression per request costs more than running it (profile, node_send).
_DEVICE_BY_TOKEN = select(Device).where(
    Device.token_hash == bindparam("token_hash"), Device.revoked_at.is_(None)
)


async def device_for_token(session: AsyncSession, token: str) -> Device:
    """The active device owning ``token``; 401 if the token is unknown or the device was revoked."""
    device = await session.scalar(_DEVICE_BY_TOKEN, {"token_hash": token_hash(token)})
    if device is None:
        raise Unauthorized("token is invalid or its device was revoked", code="invalid_token")
    return device


async def current_device(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> Device:
    return await device_for_token(session, bearer_token(authorization))


CurrentDevice = Annotated[Device, Depends(current_device)]


async def bearer_hash(authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's token hash, for a read that checks the token in its own statement."""
    return token_hash(bearer_token(authorization))


TokenHash = Annotated[str, Depends(bearer_hash)]


@dataclass(frozen=True, slots=True)
class ChatRef:
    """The chat in the path and the caller's token hash (checked by the read that uses them)."""

    chat_id: str
    token_hash: str


async def chat_token(
    chat_id: Annotated[str, Path(max_length=40)], authorization: Annotated[str | None, Header()] = None
) -> ChatRef:
    return ChatRef(chat_id, token_hash(bearer_token(authorization)))


ChatToken = Annotated[ChatRef, Depends(chat_token)]


@dataclass(frozen=True, slots=True)
class ChatAccess:
    """The caller's device and its user's membership of the chat in the path."""

    device: Device
    member: Member


def _access_query(sender: InstrumentedAttribute[str]) -> Select[Device, Member]:
    return (
        select(Device, Member)
        .join(Member, (Member.user_id == Device.user_id) & (Member.chat_id == bindparam("chat_id")))
        .where(sender == bindparam("sender"), Device.revoked_at.is_(None))
    )


# Built once: constructing the expression per request costs more than running it (profile, node_send).
_ACCESS_BY_TOKEN = _access_query(Device.token_hash)
_ACCESS_BY_DEVICE = _access_query(Device.id)


async def access_of(
    session: AsyncSession, chat_id: str, *, token_hash: str | None = None, device_id: str | None = None
) -> ChatAccess:
    """The sender's device (by token hash, else by device id) and its membership of ``chat_id`` in one
    query; 401 for an unknown token or a revoked device, 404 for non-members (chat ids do not leak)."""
    query, sender, column = (
        (_ACCESS_BY_TOKEN, token_hash, Device.token_hash)
        if token_hash is not None
        else (_ACCESS_BY_DEVICE, device_id, Device.id)
    )
    row = (await session.execute(query, {"chat_id": chat_id, "sender": sender})).first()
    if row is not None:
        return ChatAccess(row[0], row[1])
    if await session.scalar(select(Device.id).where(column == sender, Device.revoked_at.is_(None))) is None:
        raise Unauthorized("token is invalid or its device was revoked", code="invalid_token")
    raise NotFound(f"chat {chat_id} not found", code="chat_not_found")


async def chat_access(
    session: SessionDep,
    chat_id: Annotated[str, Path(max_length=40)],
    authorization: Annotated[str | None, Header()] = None,
) -> ChatAccess:
    """Token and membership in one query (:func:`access_of`)."""
    return await access_of(session, chat_id, token_hash=token_hash(bearer_token(authorization)))


async def chat_member(access: Annotated[ChatAccess, Depends(chat_access)]) -> Member:
    return access.member


async def chat_device(access: Annotated[ChatAccess, Depends(chat_access)]) -> Device:
    """The caller's device, from the same query as ``ChatMember`` (use instead of ``CurrentDevice``)."""
    return access.device


ChatDevice = Annotated[Device, Depends(chat_device)]
ChatMember = Annotated[Member, Depends(chat_member)]
