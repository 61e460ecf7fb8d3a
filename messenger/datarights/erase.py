"""Account deletion: everything the node holds for a user goes, in one transaction, then their sockets close.

- messages they sent become tombstones (envelopes erased), envelopes addressed to their devices go;
- they leave every chat (a group they owned passes to its longest-standing admin, else member);
- media only they uploaded is deleted (rows, then sealed bytes); shares they made of others' media go;
- devices, keys, event logs (cascades), login codes and the user row are deleted.
The audit log keeps its entries (it is append-only) plus one ``account.deleted`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.db.base import now
from messenger.db.models import Device, Envelope, LoginCode, Member, Message, User
from messenger.db.models.media import MediaShare, MediaUpload
from messenger.media.service import Media, delete_objects
from messenger.realtime.events import emit_to_chat
from messenger.services.chats import _promote_successor


@dataclass(frozen=True)
class Erased:
    device_ids: list[str]
    messages: int
    chats: int
    media: int


async def erase_account(session: AsyncSession, media: Media, *, user: User) -> Erased:
    """Delete ``user`` and their data (see the module docstring); returns what went."""
    user_id = user.id
    devices = list(await session.scalars(select(Device.id).where(Device.user_id == user_id)))
    sent = select(Message.id).where(Message.sender_user_id == user_id)
    await session.execute(delete(Envelope).where(Envelope.message_id.in_(sent)))
    tombstoned = await session.execute(
        update(Message)
        .where(Message.sender_user_id == user_id, Message.deleted_at.is_(None))
        .values(deleted_at=now())
    )
    await session.execute(delete(Envelope).where(Envelope.device_id.in_(devices)))

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

    uploaded = list(await session.scalars(select(MediaUpload.media_id).where(MediaUpload.user_id == user_id)))
    others = select(MediaUpload.media_id).where(
        MediaUpload.media_id.in_(uploaded), MediaUpload.user_id != user_id
    )
    kept = set(await session.scalars(others))
    await session.execute(delete(MediaUpload).where(MediaUpload.user_id == user_id))
    await session.execute(delete(MediaShare).where(MediaShare.shared_by == user_id))
    only_theirs = [m for m in uploaded if m not in kept]

    await session.execute(delete(LoginCode).where(LoginCode.phone == user.phone))
    await session.delete(user)  # devices, prekeys, device events cascade
    messages = tombstoned.rowcount or 0  # type: ignore[attr-defined]
    await audit.record(
        session,
        action="account.deleted",
        actor=user_id,
        target=user_id,
        detail={"messages": messages, "chats": len(memberships), "media": len(only_theirs)},
    )
    await session.commit()
    deleted = await delete_objects(session, media, only_theirs)
    return Erased(devices, messages, len(memberships), deleted)
