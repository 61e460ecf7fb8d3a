"""Messages: post (the hot path), edit, delete (tombstone), history and read receipts.

Post is one transaction: bump the chat's sequence (UPDATE ... RETURNING, which also serialises posts
per chat), insert the message and its per-device envelopes (executemany), append one event per
recipient device (batched), commit. The recipient check is one query over members × devices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Chat, Device, DeviceEvent, Envelope, Member, Message, Pin
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.metrics import MESSAGES_STORED, REPLIES_STORED
from messenger.realtime.events import emit_to_chat, emit_to_devices
from messenger.services.chats import RANK, chat_device_ids
from messenger.services.ids import new_id
from messenger.settings import Settings


class Relay(Protocol):
    """Recipients on other states' nodes (``messenger.federation``): their device ids, and the hand-off of
    a stored (``message.new``) or edited (``message.edited``) message with their envelopes, inside the
    same transaction."""

    @property
    def device_ids(self) -> frozenset[str]: ...

    async def relay(
        self, session: AsyncSession, *, kind: str, message: Mapping[str, Any], envelopes: Mapping[str, str]
    ) -> None: ...


@dataclass(frozen=True)
class Posted:
    id: str
    seq: int
    ts: float
    created: bool


def check_envelopes(settings: Settings, envelopes: Sequence[tuple[str, str]]) -> dict[str, str]:
    if len(envelopes) > settings.max_envelopes:
        raise BadRequest(f"at most {settings.max_envelopes} envelopes per message", code="too_many_envelopes")
    by_device = dict(envelopes)
    if len(by_device) != len(envelopes):
        raise BadRequest("one envelope per device", code="duplicate_envelope")
    for device_id, ciphertext in envelopes:
        if len(ciphertext) > settings.max_envelope_bytes:
            raise BadRequest(
                f"envelope for {device_id} is over {settings.max_envelope_bytes} characters",
                code="envelope_too_large",
            )
    return by_device


async def check_recipients(
    session: AsyncSession,
    *,
    chat_id: str,
    sender_device: str,
    given: set[str],
    extra: frozenset[str] = frozenset(),
    local: frozenset[str] | None = None,
) -> None:
    """Envelopes must go to exactly the chat's active devices (the sending device may be left out);
    ``extra`` are the members' devices on other states' nodes; ``local`` the chat's active local devices
    if the caller already read them in this transaction."""
    expected = (await chat_device_ids(session, chat_id=chat_id) if local is None else local) | extra
    require_recipients(chat_id, expected=expected, given=given, sender_device=sender_device)


def require_recipients(chat_id: str, *, expected: Set[str], given: Set[str], sender_device: str) -> None:
    """409 ``stale_devices`` unless ``given`` are exactly the ``expected`` devices (the sender's own may
    be left out)."""
    missing = sorted(expected - given - {sender_device})
    unknown = sorted(given - expected)
    if missing or unknown:
        raise Conflict(
            f"recipient devices changed; missing {missing}, unknown {unknown}; "
            f"refetch GET /v1/chats/{chat_id}/devices",
            code="stale_devices",
        )


def _message_event(msg: dict[str, object], by_device: dict[str, str]) -> Callable[[str], dict[str, object]]:
    return lambda device_id: {**msg, "ciphertext": by_device[device_id]}


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
_INSERT_ENVELOPE = insert(Envelope)


async def post_message(
    session: AsyncSession,
    settings: Settings,
    *,
    member: Member,
    device: Device,
    client_msg_id: str,
    reply_to: int | None,
    envelopes: Sequence[tuple[str, str]],
    remote: Relay | None = None,
    local: frozenset[str] | None = None,
) -> Posted:
    """Store a message and fan it out; a retried ``client_msg_id`` returns the stored one. Envelopes of
    ``remote`` devices are not stored here but handed to ``remote.relay``; ``local``: the chat's active
    local devices, if already read in this transaction (``local_recipients``)."""
    by_device = check_envelopes(settings, envelopes)
    chat_id, user_id, device_id = member.chat_id, member.user_id, device.id  # plain values survive a rollback
    remote_ids = remote.device_ids if remote is not None else frozenset()
    await check_recipients(
        session, chat_id=chat_id, sender_device=device_id, given=set(by_device), extra=remote_ids, local=local
    )
    elsewhere = {d: by_device.pop(d) for d in remote_ids & by_device.keys()}
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
    }
    try:
        await conn.execute(_INSERT_MESSAGE, [row])
    except IntegrityError:
        await session.rollback()
        return await _existing(session, chat_id=chat_id, device_id=device_id, client_msg_id=client_msg_id)
    if by_device:
        await conn.execute(
            _INSERT_ENVELOPE,
            [{"message_id": msg_id, "device_id": d, "ciphertext": c} for d, c in by_device.items()],
        )
    event = {
        "chat_id": chat_id,
        "seq": seq,
        "id": msg_id,
        "sender": user_id,
        "sender_device": device_id,
        "client_msg_id": client_msg_id,
        "reply_to": reply_to,
        "ts": ts,
    }
    await emit_to_devices(
        session, device_ids=by_device, kind="message.new", payload=_message_event(event, by_device)
    )
    if remote is not None:
        await remote.relay(session, kind="message.new", message=event, envelopes=elsewhere)
    await session.commit()
    MESSAGES_STORED.inc()
    if reply_to is not None:
        REPLIES_STORED.inc()
    return Posted(msg_id, seq, ts, True)


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
    envelopes: Sequence[tuple[str, str]],
    remote: Relay | None = None,
) -> None:
    """Replace a message's envelopes (its sender only); devices get ``message.edited``. Envelopes of
    ``remote`` devices are handed to ``remote.relay``."""
    by_device = check_envelopes(settings, envelopes)
    msg = await _message(session, member.chat_id, seq)
    if msg.sender_user_id != member.user_id:
        raise Forbidden("only the sender may edit a message", code="not_allowed")
    remote_ids = remote.device_ids if remote is not None else frozenset()
    await check_recipients(
        session, chat_id=member.chat_id, sender_device=device.id, given=set(by_device), extra=remote_ids
    )
    elsewhere = {d: by_device.pop(d) for d in remote_ids & by_device.keys()}
    msg.edited_at = now()
    await session.execute(delete(Envelope).where(Envelope.message_id == msg.id))
    if by_device:
        await session.execute(
            insert(Envelope),
            [{"message_id": msg.id, "device_id": d, "ciphertext": c} for d, c in by_device.items()],
        )
    event = {
        "chat_id": msg.chat_id,
        "seq": seq,
        "id": msg.id,
        "sender": msg.sender_user_id,
        "sender_device": device.id,
        "ts": msg.edited_at,
    }
    await emit_to_devices(
        session, device_ids=by_device, kind="message.edited", payload=_message_event(event, by_device)
    )
    if remote is not None:
        await remote.relay(session, kind="message.edited", message=event, envelopes=elsewhere)
    await session.commit()


async def delete_message(session: AsyncSession, *, member: Member, chat: Chat, seq: int) -> None:
    """Tombstone a message: its sender, or a group admin/owner for anyone's message. Envelopes are dropped."""
    msg = await _message(session, chat.id, seq)
    if msg.sender_user_id != member.user_id and (chat.kind != "group" or RANK[member.role] < RANK["admin"]):
        raise Forbidden("only the sender or a group admin may delete this message", code="not_allowed")
    if msg.sender_user_id != member.user_id:  # moderation: an admin deletes someone else's message
        detail = {"chat": chat.id, "seq": seq, "sender": msg.sender_user_id, "by_role": member.role}
        await audit.record(
            session, action="chat.message_removed", actor=member.user_id, target=msg.id, detail=detail
        )
    msg.deleted_at = now()
    recipients = list(
        await session.scalars(
            delete(Envelope).where(Envelope.message_id == msg.id).returning(Envelope.device_id)
        )
    )
    await scrub_events(
        session,
        message_id=msg.id,
        device_ids=recipients,
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


async def history(
    session: AsyncSession, *, chat_id: str, device_id: str, after: int, limit: int
) -> list[dict[str, object]]:
    """Messages with seq > ``after``, each with this device's ciphertext (None for tombstones/no envelope)."""
    rows = await session.execute(
        select(Message, Envelope.ciphertext)
        .outerjoin(Envelope, (Envelope.message_id == Message.id) & (Envelope.device_id == device_id))
        .where(Message.chat_id == chat_id, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [
        {
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
            "ciphertext": ciphertext,
        }
        for m, ciphertext in rows.all()
    ]


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
