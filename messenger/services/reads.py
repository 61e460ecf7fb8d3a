"""The hottest reads as prebuilt Core statements on a read connection, the caller's token checked in the
same statement (one round trip per request, issue 11, docs/PERFORMANCE.md).

The ORM session of an ordinary route costs more than these reads themselves: its ``BEGIN IMMEDIATE`` on
the single SQLite writer, the token lookup as a statement of its own, instance loading and identity-map
bookkeeping. Here each read joins ``devices`` on the token hash into its own query, so a revoked token
fails in the very statement that would answer (no cache that could lag a revocation). Only when a query
finds nothing does a second statement tell the caller's errors apart (401 invalid token, 404 not a member)
exactly as :func:`messenger.api.deps.access_of` does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from messenger.db.models import Device, Member
from messenger.db.models.channels import Channel, ChannelMember
from messenger.db.models.chats import Chat
from messenger.errors import NotFound, Unauthorized
from messenger.services.keys import DeviceKeys

_caller = aliased(Device, name="caller")
_ACTIVE = and_(_caller.token_hash == bindparam("token_hash"), _caller.revoked_at.is_(None))

# Built once: constructing a statement per request costs more than running it (profile, node_send).
_CHATS = (
    select(Chat.id, Chat.kind, Chat.title, Chat.last_seq, Member.role, Member.last_read_seq)
    .join(Member, Member.chat_id == Chat.id)
    .join(_caller, _caller.user_id == Member.user_id)
    .where(_ACTIVE)
    .order_by(Chat.created_at)
)
_CHANNELS = (
    select(
        Channel.id,
        Channel.title,
        Channel.description,
        Channel.subscribers,
        Channel.last_seq,
        ChannelMember.role,
        ChannelMember.last_read_seq,
    )
    .join(ChannelMember, ChannelMember.channel_id == Channel.id)
    .join(_caller, _caller.user_id == ChannelMember.user_id)
    .where(_ACTIVE)
    .order_by(Channel.created_at)
)
_me, _them = aliased(Member, name="me"), aliased(Member, name="them")
_CHAT_DEVICES = (
    select(Device.user_id, Device.id, Device.identity_key, Device.signing_key, Device.identity_signature)
    .select_from(_caller)
    .join(_me, (_me.user_id == _caller.user_id) & (_me.chat_id == bindparam("chat_id")))
    .join(_them, _them.chat_id == _me.chat_id)
    .join(Device, (Device.user_id == _them.user_id) & Device.revoked_at.is_(None))
    .where(_ACTIVE)
    .order_by(Device.user_id, Device.created_at)
)
_DEVICE = select(_caller.id, _caller.user_id, _caller.event_seq).where(_ACTIVE)


async def device(conn: AsyncConnection, *, token_hash: str) -> tuple[str, str, int] | None:
    """(device id, user id, event head) of the active device owning the token, else None."""
    row = (await conn.execute(_DEVICE, {"token_hash": token_hash})).first()
    return None if row is None else (row[0], row[1], row[2])


async def _check_token(conn: AsyncConnection, token_hash: str) -> None:
    if await device(conn, token_hash=token_hash) is None:
        raise Unauthorized("token is invalid or its device was revoked", code="invalid_token")


async def chats(conn: AsyncConnection, *, token_hash: str) -> list[dict[str, Any]]:
    """The caller's chats, oldest first (as :func:`messenger.services.chats.list_chats`)."""
    rows = (await conn.execute(_CHATS, {"token_hash": token_hash})).all()
    if not rows:
        await _check_token(conn, token_hash)
    keys = ("id", "kind", "title", "last_seq", "role", "last_read_seq")
    return [dict(zip(keys, row, strict=True)) for row in rows]


async def channels(conn: AsyncConnection, *, token_hash: str) -> list[dict[str, Any]]:
    """The caller's channels with their membership, oldest first."""
    rows = (await conn.execute(_CHANNELS, {"token_hash": token_hash})).all()
    if not rows:
        await _check_token(conn, token_hash)
    keys = ("id", "title", "description", "subscribers", "last_seq", "role", "last_read_seq")
    return [dict(zip(keys, row, strict=True)) for row in rows]


async def chat_devices(conn: AsyncConnection, *, token_hash: str, chat_id: str) -> list[DeviceKeys]:
    """Every active local device of every member of ``chat_id`` (the caller's own among them, so an
    empty answer means the caller is no member: 404, or its token is invalid: 401)."""
    rows = (await conn.execute(_CHAT_DEVICES, {"token_hash": token_hash, "chat_id": chat_id})).all()
    if not rows:
        await _check_token(conn, token_hash)
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")
    return [
        DeviceKeys(u, d, identity, signing, None, signature) for u, d, identity, signing, signature in rows
    ]
