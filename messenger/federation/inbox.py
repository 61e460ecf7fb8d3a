"""The inbound side: apply a peer's transaction once, in one database transaction.

Each PDU is checked against the origin's authority first (a hosting node speaks for its chats, a node
for its own users); runs of ``message.new`` are stored together. A sequenced message's sender must be a
member of the replica and homed at the origin, or carry the attestation of the sender's home node
(``signing.attest``: a member of a third state, or of this one, who posted through the host). A chat
event is one of the kinds chats emit, reaches only the chat's members (and, for ``member.removed``,
the member just removed), and is sent by the host or, for the kinds any member state may send, by the
state of the user it names. A PDU that fails its checks is logged
and skipped (the transaction is then redone with one savepoint per PDU) so one bad item cannot block
the stream behind it. Order per chat is the
sender's order: the hosting node sends one transaction at a time per destination, and a
``message.new`` at or below the replica's ``last_seq`` is a duplicate and ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models import Chat, Member, Message, Pin
from messenger.federation import calls, meetings
from messenger.federation.models import OPS_PENDING, ChatHost, PendingOp, ReceivedTxn
from messenger.federation.ops import OPS
from messenger.federation.outbox import CHAT_EVENT_KINDS, HOST_ONLY, enqueue
from messenger.federation.signing import attested
from messenger.realtime.events import emit_to_devices, emit_to_users
from messenger.services import todevice
from messenger.services.chats import chat_device_ids
from messenger.services.ids import home_state, new_id
from messenger.services.messages import message_event, replace_ciphertext

log = logging.getLogger("messenger.federation.inbox")
ATTESTERS = "msgfleet.federation.attesters"  # session.info: state → key whose message attestations count
STORED = "msgfleet.federation.stored"  # session.info: (messages, replies) stored by this transaction
MAX_CIPHERTEXT = "msgfleet.federation.max_ciphertext"  # session.info: this node's max_ciphertext_bytes


class PduRejected(Exception):
    """A PDU the origin may not send (or that does not fit this node's state); skipped, logged."""


async def apply_txn(
    session: AsyncSession, *, local: str, origin: str, txn_id: str, pdus: Sequence[Mapping[str, Any]]
) -> bool:
    """Apply a transaction unless it was applied before (then ``False``); the caller commits."""
    if await session.get(ReceivedTxn, (origin, txn_id)) is not None:
        return False
    session.add(ReceivedTxn(origin=origin, txn_id=txn_id, received_at=now(), pdus=len(pdus)))
    session.info[STORED] = (0, 0)
    try:  # the common case: every PDU applies, one savepoint for all, runs of messages stored together
        async with session.begin_nested():
            run: list[Mapping[str, Any]] = []
            for pdu in pdus:
                if pdu.get("type") == "message.new":
                    run.append(pdu)
                    continue
                await _messages_new(session, local, origin, run)
                run = []
                await _apply(session, local, origin, pdu)
            await _messages_new(session, local, origin, run)
        return True
    except (PduRejected, KeyError, TypeError, ValueError):
        session.info[STORED] = (0, 0)  # some PDU does not apply: redo them one savepoint each, skip the bad
    for pdu in pdus:
        stored = session.info[STORED]
        try:
            async with session.begin_nested():
                await _apply(session, local, origin, pdu)
        except (PduRejected, KeyError, TypeError, ValueError) as exc:
            session.info[STORED] = stored
            log.warning(
                "federation pdu skipped",
                extra={"origin": origin, "txn_id": txn_id, "pdu_type": pdu.get("type"), "reason": str(exc)},
            )
    return True


async def _apply(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    kind = pdu.get("type")
    if kind == "message.new":
        await _messages_new(session, local, origin, [pdu])
    elif kind == "message.submit":
        await _message_submit(session, local, origin, pdu)
    elif kind == "chat.event":
        await _chat_event(session, local, origin, pdu)
    elif kind == "message.edited":
        await _message_edited(session, local, origin, pdu)
    elif kind == "message.edit":
        await _message_edit(session, local, origin, pdu)
    elif kind == "chat.op":
        await _chat_op(session, local, origin, pdu)
    elif kind == "call.event":
        await calls.apply_event(session, local, origin, pdu)
    elif kind == "call.signal":
        await calls.apply_signal(session, local, origin, pdu)
    elif kind == "call.op":
        await calls.apply_op(session, local, origin, pdu)
    elif kind == "call.usage":
        await calls.apply_usage(session, local, origin, pdu)
    elif kind == "meeting.event":
        await meetings.apply_event(session, local, origin, pdu)
    elif kind == "meeting.op":
        await meetings.apply_op(session, local, origin, pdu)
    elif kind == "to_device":
        await _to_device(session, local, origin, pdu)
    else:
        raise PduRejected(f"unknown pdu type {kind!r}")


async def _to_device(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """To-device messages from a device homed at the origin to devices of users homed here (a device
    that is not, or no longer, one of theirs is skipped: the sender could not know)."""
    sender = str(pdu["sender"])
    if home_state(sender) != origin:
        raise PduRejected(f"{origin} cannot send to-device messages for {sender}")
    messages = {
        str(u): {str(d): str(c) for d, c in devices.items()}
        for u, devices in dict(pdu["messages"]).items()
        if home_state(str(u)) == local
    }
    await todevice.deliver(
        session, sender=sender, sender_device=str(pdu["sender_device"]), messages=messages, strict=False
    )


async def _host(session: AsyncSession, chat_id: str, local: str) -> str:
    row = await session.get(ChatHost, chat_id)  # from the identity map after the first PDU of a chat
    return row.host_state if row is not None else local


async def _store(
    session: AsyncSession, items: Sequence[tuple[str, int, Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """Insert messages (chat id, seq, PDU) with their one ciphertext, and emit ``message.new`` to the
    chats' local devices in order: a few statements for the whole run, not per message."""
    messages: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    per_device: dict[str, list[dict[str, Any]]] = {}
    devices_of: dict[str, set[str]] = {}
    ids = [str(pdu["id"]) for _, _, pdu in items]
    taken = set(await session.scalars(select(Message.id).where(Message.id.in_(ids)))) if ids else set()
    for chat_id, seq, pdu in items:
        msg_id = str(pdu["id"]) if str(pdu["id"]) not in taken else new_id("m")
        taken.add(msg_id)
        ciphertext = str(pdu["ciphertext"])
        if len(ciphertext) > session.info.get(MAX_CIPHERTEXT, len(ciphertext)):
            raise PduRejected(f"message {msg_id} of {chat_id} is over the ciphertext limit")
        row = {
            "id": msg_id,
            "chat_id": chat_id,
            "seq": seq,
            "sender_user_id": str(pdu["sender"]),
            "sender_device_id": str(pdu["sender_device"]),
            "client_msg_id": str(pdu["client_msg_id"]),
            "reply_to": int(pdu["reply_to"]) if pdu.get("reply_to") is not None else None,
            "created_at": float(pdu["ts"]),
            "ciphertext": ciphertext,
            "session_id": str(pdu["session_id"]),
        }
        rows.append(row)
        message = message_event(row)
        messages.append(message)
        if chat_id not in devices_of:
            devices_of[chat_id] = await chat_device_ids(session, chat_id=chat_id)
        for device_id in sorted(devices_of[chat_id]):
            per_device.setdefault(device_id, []).append(message)
    if rows:
        await session.execute(insert(Message), rows)
        count, replies = session.info.get(STORED, (0, 0))
        session.info[STORED] = (
            count + len(rows),
            replies + sum(1 for r in rows if r["reply_to"] is not None),
        )
    # Round r carries each device's r-th message, so every device's log keeps the messages' order.
    for r in range(max((len(v) for v in per_device.values()), default=0)):
        await emit_to_devices(
            session,
            device_ids=[d for d, events in per_device.items() if len(events) > r],
            kind="message.new",
            payload=lambda device_id, r=r: per_device[device_id][r],  # type: ignore[misc]
        )
    return messages


async def _messages_new(
    session: AsyncSession, local: str, origin: str, pdus: Sequence[Mapping[str, Any]]
) -> None:
    """Messages sequenced by their hosting node (the origin) for this replica; at or below the
    replica's ``last_seq`` they were applied before and are skipped."""
    items, relayed = [], set()
    for pdu in pdus:
        chat_id, seq, sender = str(pdu["chat_id"]), int(pdu["seq"]), str(pdu["sender"])
        chat = await session.get(Chat, chat_id)
        if chat is None or await _host(session, chat_id, local) != origin:
            raise PduRejected(f"{origin} does not host a chat {chat_id} replicated here")
        if seq <= chat.last_seq:
            continue
        if await session.get(Member, (chat_id, sender)) is None:
            raise PduRejected(f"{sender} is not a member of chat {chat_id}")
        if home_state(sender) != origin:
            await _check_attested(session, chat_id, pdu)
            if str(pdu["id"]) in relayed:
                raise PduRejected(f"message {pdu['id']} of {chat_id} came twice")
            relayed.add(str(pdu["id"]))
        chat.last_seq = seq
        items.append((chat_id, seq, pdu))
    await _store(session, items)


async def _check_attested(session: AsyncSession, chat_id: str, pdu: Mapping[str, Any]) -> None:
    """A message the host relays for a user of another state: that state's node must have signed it,
    and it is stored once (a replay under a new ``seq`` is refused)."""
    sender = str(pdu["sender"])
    key = session.info.get(ATTESTERS, {}).get(home_state(sender))
    if key is None or not attested(key, {**pdu, "chat_id": chat_id}, pdu.get("attestation")):
        raise PduRejected(f"message {pdu['id']} of {chat_id} is not attested by {sender}'s home node")
    if await session.scalar(select(Message.id).where(Message.id == str(pdu["id"]))) is not None:
        raise PduRejected(f"message {pdu['id']} of {chat_id} was stored before")


async def _message_submit(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """A message posted on a member state's node to a chat hosted here: sequence it and fan it out."""
    chat_id, sender = str(pdu["chat_id"]), str(pdu["sender"])
    chat = await session.get(Chat, chat_id)
    if chat is None or await _host(session, chat_id, local) != local:
        raise PduRejected(f"chat {chat_id} is not hosted here")
    if home_state(sender) != origin or await session.get(Member, (chat_id, sender)) is None:
        raise PduRejected(f"{sender} is not a member of {chat_id} homed in {origin}")
    duplicate = await session.scalar(
        select(Message.id).where(
            Message.chat_id == chat_id,
            Message.sender_device_id == str(pdu["sender_device"]),
            Message.client_msg_id == str(pdu["client_msg_id"]),
        )
    )
    if duplicate is not None:
        return
    seq = await session.scalar(
        update(Chat).where(Chat.id == chat_id).values(last_seq=Chat.last_seq + 1).returning(Chat.last_seq)
    )
    assert seq is not None
    reply_to = pdu.get("reply_to")
    if reply_to is not None and not 0 < int(reply_to) < seq:
        raise PduRejected(f"reply_to {reply_to} is not an earlier message of {chat_id}")
    [message] = await _store(session, [(chat_id, seq, pdu)])
    if message["id"] != str(pdu["id"]):
        raise PduRejected(f"message id {pdu['id']} is taken")  # its attestation would not hold
    message["attestation"] = pdu.get("attestation")
    members = await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id))
    for state in sorted({home_state(u) for u in members} - {local}):
        await enqueue(session, [state], {"type": "message.new", **message})


async def _replace(session: AsyncSession, msg: Message, pdu: Mapping[str, Any]) -> dict[str, Any]:
    """An edit: the message's ciphertext is replaced; the chat's devices here get ``message.edited``."""
    return await replace_ciphertext(
        session,
        msg,
        sender_device=str(pdu["sender_device"]),
        ciphertext=str(pdu["ciphertext"]),
        session_id=str(pdu["session_id"]),
        ts=float(pdu.get("ts") or now()),
    )


async def _edited_message(session: AsyncSession, pdu: Mapping[str, Any], origin: str) -> Message | None:
    msg = await session.scalar(
        select(Message).where(Message.chat_id == str(pdu["chat_id"]), Message.seq == int(pdu["seq"]))
    )
    if msg is not None and msg.sender_user_id != str(pdu["sender"]):
        raise PduRejected(f"{pdu['sender']} did not send message {pdu['seq']} of {pdu['chat_id']}")
    return msg if msg is not None and msg.deleted_at is None else None


async def _message_edited(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """An edit, applied by the hosting node (the origin), for this replica's devices."""
    if (
        await session.get(Chat, str(pdu["chat_id"])) is None
        or await _host(session, str(pdu["chat_id"]), local) != origin
    ):
        raise PduRejected(f"{origin} does not host a chat {pdu['chat_id']} replicated here")
    msg = await _edited_message(session, pdu, origin)
    if msg is not None:  # else deleted, or older than this replica
        await _replace(session, msg, pdu)


async def _message_edit(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """A sender homed in ``origin`` edits a message of a chat hosted here: apply it and fan it out."""
    chat_id, sender = str(pdu["chat_id"]), str(pdu["sender"])
    if await session.get(Chat, chat_id) is None or await _host(session, chat_id, local) != local:
        raise PduRejected(f"chat {chat_id} is not hosted here")
    if home_state(sender) != origin:
        raise PduRejected(f"{origin} cannot edit for {sender}")
    msg = await _edited_message(session, pdu, origin)
    if msg is None:
        raise PduRejected(f"message {pdu['seq']} of {chat_id} is gone")
    event = await _replace(session, msg, {**pdu, "ts": now()})
    members = await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id))
    for state in sorted({home_state(u) for u in members} - {local}):
        await enqueue(session, [state], {"type": "message.edited", **event})


async def _chat_event(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    chat_id, kind = str(pdu["chat_id"]), str(pdu["kind"])
    payload: dict[str, Any] = dict(pdu.get("payload") or {})
    snap = pdu.get("snapshot")
    if kind not in CHAT_EVENT_KINDS:
        raise PduRejected(f"{kind!r} is not a chat event")
    chat = await session.get(Chat, chat_id)
    host = await _host(session, chat_id, local) if chat is not None else origin
    if (kind in HOST_ONLY or snap is not None) and (host != origin or host == local):
        raise PduRejected(f"{origin} does not host chat {chat_id}; it cannot send {kind}")
    before = set(await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id)))
    if snap is not None:
        chat = await _sync_replica(session, local, origin, chat, snap)
    if chat is None:
        raise PduRejected(f"no replica of chat {chat_id} here")
    members = list(await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id)))
    if kind not in HOST_ONLY:
        actor = str(payload.get("user_id"))
        if home_state(actor) != origin or actor not in members:
            raise PduRejected(f"{origin} cannot send {kind} for {actor} in chat {chat_id}")
    # ``also``: only the member a removal just took out of the chat still hears of it.
    removed = str(payload.get("user_id")) if kind == "member.removed" else None
    also = [u for u in pdu.get("also") or [] if u == removed and u in before and u not in members]
    await _apply_effect(session, origin, chat, kind, payload)
    await emit_to_users(session, user_ids=[*members, *also], kind=kind, payload=payload)
    if snap is not None and not any(home_state(u) == local for u in members):
        await session.delete(chat)  # no local member left: the replica goes (its messages too)


async def _sync_replica(
    session: AsyncSession, local: str, origin: str, chat: Chat | None, snap: Mapping[str, Any]
) -> Chat | None:
    """Create or update the replica of a chat from its host's snapshot (membership and title)."""
    members = {str(m["user_id"]): m for m in snap["members"]}
    if chat is None:
        if home_state(str(snap["created_by"])) != origin:
            raise PduRejected(f"chat {snap['chat_id']} was not created in {origin}")
        if not any(home_state(u) == local for u in members):
            return None  # nothing of ours in it: store nothing
        pair_key = snap.get("pair_key")
        if pair_key and await session.scalar(select(Chat.id).where(Chat.pair_key == pair_key)):
            pair_key = None  # both sides opened the same private chat at once; keep both
        chat = Chat(
            id=str(snap["chat_id"]),
            kind=str(snap["kind"]),
            title=snap.get("title"),
            pair_key=pair_key,
            created_by=str(snap["created_by"]),
            created_at=float(snap["created_at"]),
            last_seq=int(snap["last_seq"]),
        )
        session.add(chat)
        session.add(ChatHost(chat_id=chat.id, host_state=origin))
        await session.flush()
    chat.title = snap.get("title")
    current = {m.user_id: m for m in await session.scalars(select(Member).where(Member.chat_id == chat.id))}
    for user_id, row in current.items():
        if user_id not in members:
            await session.delete(row)
        else:
            row.role = str(members[user_id]["role"])
    for user_id, m in members.items():
        if user_id not in current:
            session.add(
                Member(
                    chat_id=chat.id,
                    user_id=user_id,
                    role=str(m["role"]),
                    joined_at=float(m["joined_at"]),
                    last_read_seq=0,
                )
            )
    await session.flush()
    return chat


async def _apply_effect(
    session: AsyncSession, origin: str, chat: Chat, kind: str, payload: Mapping[str, Any]
) -> None:
    """The replica's copy of what the event changed (membership is synced from the snapshot)."""
    if kind == "receipt":
        user_id, seq = str(payload["user_id"]), int(payload["seq"])
        await session.execute(
            update(Member)
            .where(Member.chat_id == chat.id, Member.user_id == user_id, Member.last_read_seq < seq)
            .values(last_read_seq=seq)
        )
    elif kind == "message.deleted":
        seq = int(payload["seq"])
        msg = await session.scalar(select(Message).where(Message.chat_id == chat.id, Message.seq == seq))
        if msg is not None:
            msg.deleted_at, msg.ciphertext, msg.session_id = now(), None, None
        await session.execute(delete(Pin).where(Pin.chat_id == chat.id, Pin.seq == seq))
    elif kind == "pin.added":
        seq = int(payload["seq"])
        if await session.get(Pin, (chat.id, seq)) is None:
            session.add(Pin(chat_id=chat.id, seq=seq, pinned_by=str(payload["by"]), pinned_at=now()))
    elif kind == "pin.removed":
        await session.execute(delete(Pin).where(Pin.chat_id == chat.id, Pin.seq == int(payload["seq"])))


async def _chat_op(session: AsyncSession, local: str, origin: str, pdu: Mapping[str, Any]) -> None:
    """A change a member homed in ``origin`` asks of a chat hosted here: stored, run after the commit."""
    chat_id, actor = str(pdu["chat_id"]), str(pdu["actor"])
    if await session.get(Chat, chat_id) is None or await _host(session, chat_id, local) != local:
        raise PduRejected(f"chat {chat_id} is not hosted here")
    if home_state(actor) != origin or str(pdu["op"]) not in OPS:
        raise PduRejected(f"{origin} cannot ask {pdu['op']!r} for {actor}")
    op = {"chat_id": chat_id, "actor": actor, "op": str(pdu["op"]), "args": dict(pdu.get("args") or {})}
    session.add(PendingOp(origin=origin, op=json.dumps(op)))
    session.info[OPS_PENDING] = True
