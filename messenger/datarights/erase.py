"""Account deletion: every registered provider erases its part in ONE transaction, then sealed media bytes
go and the user's sockets close.

If any provider raises, the transaction rolls back and nothing is erased. The audit log keeps its
entries (append-only) and gets one ``account.deleted`` entry with counts only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.datarights.registry import Context, Provider, Subject, providers
from messenger.db.models import Device, User
from messenger.media.service import Media, _delete_blobs


@dataclass(frozen=True)
class Erased:
    device_ids: list[str]
    counts: dict[str, int]  # "<provider>.<what>" -> rows (or objects) erased


async def subject_of(session: AsyncSession, user: User) -> Subject:
    devices = await session.scalars(select(Device.id).where(Device.user_id == user.id).order_by(Device.id))
    return Subject(user_id=user.id, phone=user.phone, device_ids=tuple(devices))


async def erase_account(
    session: AsyncSession, media: Media, *, user: User, items: list[Provider] | None = None
) -> Erased:
    """Delete ``user`` and their data through every provider; commits once, or rolls back on failure."""
    ctx = Context(session=session, subject=await subject_of(session, user), media=media)
    counts: dict[str, int] = {}
    try:
        for provider in providers() if items is None else items:
            for what, n in (await provider.erase(ctx)).items():
                counts[f"{provider.name}.{what}"] = n
        await audit.record(session, action="account.deleted", actor=user.id, target=user.id, detail=counts)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    await _delete_blobs(media, ctx.blobs)
    return Erased(list(ctx.subject.device_ids), counts)
