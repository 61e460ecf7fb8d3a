"""Media key rotation: re-wrap every object's data key under the current media key, media untouched.

Media objects are sealed under per-object data keys (``messenger.media.crypto``); only the 40-byte
wrapped data key in each row depends on the media key. ``rotate`` makes a new media key version in the
key store, re-wraps the rows in batches (each batch one transaction) and, if asked, retires old
versions that no row uses any more. Uploads that race with it are wrapped under whichever version is
current when they are spooled; a version such a row still names is kept (run again to re-wrap it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from messenger.db.models.media import MediaObject
from messenger.keystore import KeyStore

_BATCH = 500


@dataclass(frozen=True)
class Rotation:
    current: str
    rewrapped: int
    retired: list[str]
    kept: list[str]  # old versions still named by rows (or kept because retiring was not asked)

    def line(self) -> str:
        out = f"media key {self.current}: {self.rewrapped} data keys re-wrapped"
        if self.retired:
            out += f"; retired {', '.join(self.retired)}"
        if self.kept:
            out += f"; kept {', '.join(self.kept)}"
        return out


async def rewrap(sessions: async_sessionmaker[AsyncSession], keys: KeyStore) -> int:
    """Re-wrap every data key not under the current media version; returns how many."""
    current, done, after = keys.current_id("media"), 0, ""
    while True:
        async with sessions() as session:
            rows = list(
                await session.scalars(
                    select(MediaObject)
                    # end-to-end encrypted objects have no node key (NULL key_id) to re-wrap
                    .where(
                        MediaObject.id > after, MediaObject.key_id.is_not(None), MediaObject.key_id != current
                    )
                    .order_by(MediaObject.id)
                    .limit(_BATCH)
                )
            )
            for obj in rows:
                assert obj.key_id is not None and obj.wrapped_key is not None  # selected so
                data_key = keys.unwrap("media", obj.key_id, obj.wrapped_key)
                obj.key_id, obj.wrapped_key = keys.wrap("media", data_key)
            await session.commit()
        done += len(rows)
        if len(rows) < _BATCH:
            return done
        after = rows[-1].id


async def rotate(sessions: async_sessionmaker[AsyncSession], keys: KeyStore, *, retire: bool) -> Rotation:
    """A new media key version, every data key re-wrapped under it, old versions retired if unused."""
    current = keys.rotate("media")
    count = await rewrap(sessions, keys)
    retired, kept = [], []
    async with sessions() as session:
        for old in keys.key_ids("media")[1:]:
            used = await session.scalar(select(func.count()).where(MediaObject.key_id == old))
            if retire and not used:
                keys.retire("media", old)
                retired.append(old)
            else:
                kept.append(old)
    return Rotation(current, count, retired, kept)
