"""Messages: post (the hot path), edit, delete (tombstone), history and read receipts.

A message is one Megolm ciphertext (end-to-end encrypted by the sending device; the node never holds a
room key), stored once whatever the number of devices, with the sender device's Megolm ``session_id``.
Post is one transaction: bump the chat's sequence (UPDATE ... RETURNING, which also serialises posts
per chat), insert the message, append one ``message.new`` event per member device (batched), commit.
Keys reach devices over to-device messages (``messenger.services.todevice``), not here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Chat, Device, DeviceEvent, Member, Message, Pin
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.metrics import MESSAGES_STORED, REPLIES_STORED
from messenger.realtime.events import emit_to_chat, emit_to_devices
from messenger.services.chats import RANK, chat_device_ids
from messenger.services.ids import new_id
from messenger.settings import Settings


class Relay(Protocol):
    """Members on other states' nodes (``messenger.federation``): the hand-off of a stored
    (``message.new``) or edited (``message.edited``) message, ciphertext included, inside the same
    transaction."""

    async def relay(self, session: AsyncSession, *, kind: str, message: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Posted:
    id: str
    seq: int
    ts: float
    created: bool


def check_ciphertext(settings: Settings, ciphertext: str) -> str:
    """400 unless ``ciphertext`` is within ``max_ciphertext_bytes`` (its content is opaque to the node)."""
    if len(ciphertext) > settings.max_ciphertext_bytes:
        raise BadRequest(
            f"ciphertext is over {settings.max_ciphertext_bytes} characters", code="ciphertext_too_large"
        )
    return ciphertext


# The post path's statements, built once (building them per request showed in the profile). They run on
# the session's connection (Core): the ORM execute pipeline costs more than they do, and none of them
# concerns an object the session holds (no identity-map sync is needed).
_NEXT_SEQ = (
    update(Chat)
    .where(Chat.id == bindparam("chat_id"))
    .values(last_seq=Chat.last_seq + 1)
    .returning(Chat.last_seq)
)
_INSERT_MESSAGE = insert(Message)


async def post_message(
    session: AsyncSession,
    settings: Settings,
    *,
    member: Member,
    device: Device,
    client_msg_id: str,
    reply_to: int | None,
    ciphertext: str,
    session_id: str,
    remote: Relay | None = None,
    local: frozenset[str] | None = None,
) -> Posted:
    """Store a message and fan it out; a retried ``client_msg_id`` returns the stored one. ``remote``
    relays it to members' nodes in other states; ``local``: the chat's active local devices, if already
    read in this transaction (``local_recipients``)."""
    check_ciphertext(settings, ciphertext)
    chat_id, user_id, device_id = member.chat_id, member.user_id, device.id  # plain values survive a rollback
    devices = await chat_device_ids(session, chat_id=chat_id) if local is None else local
    conn = await session.connection()
    seq = (await conn.execute(_NEXT_SEQ, {"chat_id": chat_id})).scalar()
    assert seq is not None  # the membership row implies the chat
    if reply_to is not None and not 0 < reply_to < seq:
        raise BadRequest(f"reply_to {reply_to} is not an earlier message of this chat", code="invalid_reply")
    msg_id, ts = new_id("m"), now()
    row = {
        "id": msg_id,
        "chat_id": chat_id,
        "seq": seq,
        "sender_user_id": user_id,
        "sender_device_id": device_id,
        "client_msg_id": client_msg_id,
        "reply_to": reply_to,
        "created_at": ts,
        "ciphertext": ciphertext,
        "session_id": session_id,
    }
    try:
        await conn.execute(_INSERT_MESSAGE, [row])
    except IntegrityError:
        await session.rollback()
        return await _existing(session, chat_id=chat_id, device_id=device_id, client_msg_id=client_msg_id)
    event = message_event(row)
    await emit_to_devices(session, device_ids=devices, kind="message.new", payload=event)
    if remote is not None:
        await remote.relay(session, kind="message.new", message=event)
    await session.commit()
    MESSAGES_STORED.inc()
    if reply_to is not None:
        REPLIES_STORED.inc()
    return Posted(msg_id, seq, ts, True)


def message_event(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``message.new`` payload of a message row (the same for every device)."""
    return {
        "chat_id": row["chat_id"],
        "seq": row["seq"],
        "id": row["id"],
        "sender": row["sender_user_id"],
        "sender_device": row["sender_device_id"],
        "client_msg_id": row["client_msg_id"],
        "reply_to": row["reply_to"],
        "ts": row["created_at"],
        "session_id": row["session_id"],
        "ciphertext": row["ciphertext"],
    }


async def _existing(session: AsyncSession, *, chat_id: str, device_id: str, client_msg_id: str) -> Posted:
    msg = await session.scalar(
        select(Message).where(
            Message.chat_id == chat_id,
            Message.sender_device_id == device_id,
            Message.client_msg_id == client_msg_id,
        )
    )
    if msg is None:
        raise Conflict("message could not be stored; retry", code="conflict")
    return Posted(msg.id, msg.seq, msg.created_at, False)


async def _message(session: AsyncSession, chat_id: str, seq: int) -> Message:
    msg = await session.scalar(select(Message).where(Message.chat_id == chat_id, Message.seq == seq))
    if msg is None or msg.deleted_at is not None:
        raise NotFound(f"message {seq} not found", code="message_not_found")
    return msg


async def edit_message(
    session: AsyncSession,
    settings: Settings,
    *,
    member: Member,
    device: Device,
    seq: int,
    ciphertext: str,
    session_id: str,
    remote: Relay | None = None,
) -> None:
    """Replace a message's ciphertext (its sender only); devices get ``message.edited``; ``remote``
    relays the edit to members' nodes in other states."""
    check_ciphertext(settings, ciphertext)
    msg = await _message(session, member.chat_id, seq)
    if msg.sender_user_id != member.user_id:
        raise Forbidden("only the sender may edit a message", code="not_allowed")
    event = await replace_ciphertext(
        session, msg, sender_device=device.id, ciphertext=ciphertext, session_id=session_id, ts=now()
    )
    if remote is not None:
        await remote.relay(session, kind="message.edited", message=event)
    await session.commit()


async def replace_ciphertext(
    session: AsyncSession, msg: Message, *, sender_device: str, ciphertext: str, session_id: str, ts: float
) -> dict[str, Any]:
    """An edit: the message's ciphertext is replaced and the chat's local devices get ``message.edited``;
    returns the event (also what federation relays)."""
    msg.edited_at, msg.ciphertext, msg.session_id = ts, ciphertext, session_id
    event = {
        "chat_id": msg.chat_id,
        "seq": msg.seq,
        "id": msg.id,
        "sender": msg.sender_user_id,
        "sender_device": sender_device,
        "ts": ts,
        "session_id": session_id,
        "ciphertext": ciphertext,
    }
    devices = await chat_device_ids(session, chat_id=msg.chat_id)
    await emit_to_devices(session, device_ids=devices, kind="message.edited", payload=event)
    return event


async def delete_message(session: AsyncSession, *, member: Member, chat: Chat, seq: int) -> None:
    """Tombstone a message: its sender, or a group admin/owner for anyone's message. The ciphertext goes."""
    msg = await _message(session, chat.id, seq)
    if msg.sender_user_id != member.user_id and (chat.kind != "group" or RANK[member.role] < RANK["admin"]):
        raise Forbidden("only the sender or a group admin may delete this message", code="not_allowed")
    if msg.sender_user_id != member.user_id:  # moderation: an admin deletes someone else's message
        detail = {"chat": chat.id, "seq": seq, "sender": msg.sender_user_id, "by_role": member.role}
        await audit.record(
            session, action="chat.message_removed", actor=member.user_id, target=msg.id, detail=detail
        )
    msg.deleted_at, msg.ciphertext, msg.session_id = now(), None, None
    await scrub_events(
        session,
        message_id=msg.id,
        device_ids=sorted(await chat_device_ids(session, chat_id=chat.id)),
        tombstone={
            "chat_id": chat.id,
            "seq": seq,
            "id": msg.id,
            "deleted": True,
        },
    )
    await session.execute(delete(Pin).where(Pin.chat_id == chat.id, Pin.seq == seq))
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="message.deleted",
        payload={"chat_id": chat.id, "seq": seq, "id": msg.id, "by": member.user_id},
    )
    await session.commit()


async def scrub_events(
    session: AsyncSession, *, message_id: str, device_ids: Sequence[str], tombstone: Mapping[str, object]
) -> None:
    """Replace the ciphertext-carrying events of a deleted message (in its recipients' logs) by a tombstone,
    so that no copy of the deleted ciphertext stays at rest. Payloads are ``json.dumps`` text, hence LIKE."""
    if not device_ids:
        return
    await session.execute(
        update(DeviceEvent)
        .where(
            DeviceEvent.device_id.in_(device_ids),
            DeviceEvent.kind.in_(("message.new", "message.edited")),
            DeviceEvent.payload.like(f'%"id": "{message_id}"%'),
        )
        .values(payload=json.dumps(dict(tombstone)))
    )


async def history(session: AsyncSession, *, chat_id: str, after: int, limit: int) -> list[dict[str, object]]:
    """Messages with seq > ``after`` with their ciphertext (None for tombstones)."""
    rows = await session.scalars(
        select(Message)
        .where(Message.chat_id == chat_id, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [message_row(m) for m in rows]


def message_row(m: Message) -> dict[str, object]:
    """A message as history (and replies) answer it."""
    return {
        "id": m.id,
        "chat_id": m.chat_id,
        "seq": m.seq,
        "sender": m.sender_user_id,
        "sender_device": m.sender_device_id,
        "client_msg_id": m.client_msg_id,
        "reply_to": m.reply_to,
        "ts": m.created_at,
        "edited_at": m.edited_at,
        "deleted": m.deleted_at is not None,
        "session_id": m.session_id,
        "ciphertext": m.ciphertext,
    }


async def mark_read(session: AsyncSession, *, member: Member, chat: Chat, seq: int) -> int:
    """Move the user's read marker forward to ``seq``; members' devices get a ``receipt``."""
    if not 0 < seq <= chat.last_seq:
        raise BadRequest(
            f"seq {seq} is not a message of this chat (last is {chat.last_seq})", code="invalid_seq"
        )
    if seq <= member.last_read_seq:
        return member.last_read_seq
    member.last_read_seq = seq
    await emit_to_chat(
        session,
        chat_id=chat.id,
        kind="receipt",
        payload={"chat_id": chat.id, "user_id": member.user_id, "seq": seq},
    )
    await session.commit()
    return seq
