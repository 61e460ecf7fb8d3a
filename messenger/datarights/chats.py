"""Chats, members, messages and pins (also imported WhatsApp chats: ordinary group chats whose history
the importing device encrypted and posted).

Export: memberships, the messages sent (metadata and their end-to-end encrypted ciphertext, which only
the chat's devices can open). Erase: messages they sent become tombstones (ciphertext erased; sender,
device and client id replaced, so the other members' history keeps its sequence without the user's
id); they leave every chat (``member.removed``; a group they owned passes to its
longest-standing admin, else member); their pins and the chats they created keep ``ERASED_USER``; a
private chat forgets its pair key.

Imported history is the exception: a message the user posted for another author (``client_msg_id``
starting with :data:`IMPORTED`, set by ``messenger.imports.runner``) is the other members' history, not
the user's. It stays, with its ciphertext; its sender becomes ``ERASED_USER`` and it keeps the importing
device's id, which the Megolm session of its ciphertext belongs to (the device itself is gone, so the id
leads nowhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select, update

from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.db.base import now
from messenger.db.models import Chat, Member, Message, Pin
from messenger.realtime.events import emit_to_chat
from messenger.services.chats import _promote_successor

IMPORTED = "import:"  # client_msg_id prefix of a message imported for another author


async def export(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    memberships = (
        await session.execute(
            select(Chat, Member).join(Member, Member.chat_id == Chat.id).where(Member.user_id == user_id)
        )
    ).all()
    sent = await session.scalars(
        select(Message).where(Message.sender_user_id == user_id).order_by(Message.chat_id, Message.seq)
    )
    return {
        "chats": [
            {
                "id": c.id,
                "kind": c.kind,
                "title": c.title,
                "role": m.role,
                "joined_at": m.joined_at,
                "last_read_seq": m.last_read_seq,
            }
            for c, m in memberships
        ],
        "messages_sent": [
            {
                "chat_id": m.chat_id,
                "seq": m.seq,
                "id": m.id,
                "client_msg_id": m.client_msg_id,
                "sender_device": m.sender_device_id,
                "reply_to": m.reply_to,
                "ts": m.created_at,
                "edited_at": m.edited_at,
                "deleted": m.deleted_at is not None,
                "session_id": m.session_id,
                "ciphertext": m.ciphertext,
            }
            for m in sent
        ],
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    imported = Message.client_msg_id.startswith(IMPORTED, autoescape=True)
    own = (Message.sender_user_id == user_id) & ~imported
    tombstoned = await session.execute(
        update(Message).where(own, Message.deleted_at.is_(None)).values(deleted_at=now())
    )
    await session.execute(update(Message).where(own).values(ciphertext=None, session_id=None))
    # client_msg_id := id keeps uq_messages_client_id unique once every device id reads ERASED_USER.
    await session.execute(
        update(Message)
        .where(own)
        .values(sender_user_id=ERASED_USER, sender_device_id=ERASED_USER, client_msg_id=Message.id)
    )
    await session.execute(
        update(Message).where(Message.sender_user_id == user_id, imported).values(sender_user_id=ERASED_USER)
    )
    await session.execute(update(Pin).where(Pin.pinned_by == user_id).values(pinned_by=ERASED_USER))

    memberships = list(await session.scalars(select(Member).where(Member.user_id == user_id)))
    for member in memberships:
        await session.delete(member)
        await session.flush()
        if member.role == "owner":
            await _promote_successor(session, member.chat_id)
        await emit_to_chat(
            session,
            chat_id=member.chat_id,
            kind="member.removed",
            payload={"chat_id": member.chat_id, "user_id": user_id, "by": user_id},
        )
    await session.execute(update(Chat).where(Chat.created_by == user_id).values(created_by=ERASED_USER))
    # pair_key is "<uid>|<uid>"; NULLs never clash under the unique constraint.
    pair = or_(
        Chat.pair_key.startswith(f"{user_id}|", autoescape=True),
        Chat.pair_key.endswith(f"|{user_id}", autoescape=True),
    )
    await session.execute(update(Chat).where(pair).values(pair_key=None))
    return {"messages": tombstoned.rowcount or 0, "chats": len(memberships)}  # type: ignore[attr-defined]


PROVIDER = Provider(
    name="chats",
    covers={
        "members": ("user_id",),
        "messages": ("sender_user_id", "sender_device_id"),
        "pins": ("pinned_by",),
        "chats": ("created_by", "pair_key"),
    },
    export=export,
    erase=erase,
)
