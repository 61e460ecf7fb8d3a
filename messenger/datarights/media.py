"""Media: the user's uploads (metadata in ``account.json``, bytes in the zip) and the shares they made.

The zip holds node-sealed media as plaintext and end-to-end encrypted media as the opaque bytes the
client uploaded (``encrypted: true``): the node has no key for those; the user's own devices hold them
in the messages that sent them.

Erase: their upload rows and the shares they made go; an object nobody else uploaded is deleted (rows in
the transaction, its sealed bytes and thumbnail from storage once it has committed). An object another
user also uploaded stays theirs. Its file-name search index rows go with the upload rows (triggers).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from messenger.datarights.registry import Context, Provider
from messenger.db.models.media import MediaObject, MediaShare, MediaUpload


def zip_path(obj: MediaObject) -> str:
    """Where an object's bytes lie in the export zip (``.bin`` for end-to-end encrypted ones)."""
    return f"media/{obj.id}{mimetypes.guess_extension(obj.content_type) or ''}"


async def export(ctx: Context) -> Mapping[str, Any]:
    session = ctx.session
    uploads = (
        await session.execute(
            select(MediaObject, MediaUpload)
            .join(MediaUpload, MediaUpload.media_id == MediaObject.id)
            .where(MediaUpload.user_id == ctx.subject.user_id)
            .order_by(MediaUpload.uploaded_at)
        )
    ).all()
    shares = await session.execute(
        select(MediaShare.media_id, MediaShare.chat_id).where(
            MediaShare.media_id.in_([o.id for o, _ in uploads])
        )
    )
    shared_in: dict[str, list[str]] = {}
    for media_id, chat_id in shares.all():
        shared_in.setdefault(media_id, []).append(chat_id)
    ctx.files.extend(o for o, _ in uploads)
    return {
        "media": [
            {
                "id": o.id,
                "kind": o.kind,
                "encrypted": o.encrypted,
                "content_type": o.content_type,
                "size": o.size,
                "filename": u.filename,
                "uploaded_at": u.uploaded_at,
                "width": o.width,
                "height": o.height,
                "duration_ms": o.duration_ms,
                "waveform": json.loads(o.waveform) if o.waveform else None,
                "shared_in": sorted(shared_in.get(o.id, [])),
                "path": zip_path(o),
            }
            for o, u in uploads
        ]
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    uploaded = list(await session.scalars(select(MediaUpload.media_id).where(MediaUpload.user_id == user_id)))
    others = select(MediaUpload.media_id).where(
        MediaUpload.media_id.in_(uploaded), MediaUpload.user_id != user_id
    )
    kept = set(await session.scalars(others))
    await session.execute(delete(MediaUpload).where(MediaUpload.user_id == user_id))
    shares = await session.execute(delete(MediaShare).where(MediaShare.shared_by == user_id))
    only_theirs = [m for m in uploaded if m not in kept]
    objs = list(await session.scalars(select(MediaObject).where(MediaObject.id.in_(only_theirs))))
    await session.execute(delete(MediaObject).where(MediaObject.id.in_(only_theirs)))
    ctx.blobs.extend(objs)
    return {"objects": len(objs), "shares": shares.rowcount or 0}  # type: ignore[attr-defined]


PROVIDER = Provider(
    name="media",
    covers={"media_uploads": ("user_id",), "media_shares": ("shared_by",)},
    export=export,
    erase=erase,
)
