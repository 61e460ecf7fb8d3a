"""A user's data export: one zip with ``account.json`` and the plaintext of every media object they uploaded.

``account.json`` holds the account, devices, chat memberships, the metadata of the messages they sent,
the ciphertext envelopes addressed to their devices (only their device keys open them), their media's
metadata and their own audit entries.
"""

from __future__ import annotations

import json
import mimetypes
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models import AuditEntry, Chat, Device, Envelope, Member, Message, User
from messenger.db.models.media import MediaObject, MediaShare, MediaUpload
from messenger.media.service import Media, read_plain

FORMAT = "msgfleet-export/1"


def _media_path(obj: MediaObject) -> str:
    return f"media/{obj.id}{mimetypes.guess_extension(obj.content_type) or ''}"


async def collect(session: AsyncSession, user: User) -> tuple[dict[str, Any], list[MediaObject]]:
    """Everything the node holds about ``user`` as JSON-ready data, and the media objects they uploaded."""
    devices = list(
        await session.scalars(select(Device).where(Device.user_id == user.id).order_by(Device.created_at))
    )
    memberships = (
        await session.execute(
            select(Chat, Member).join(Member, Member.chat_id == Chat.id).where(Member.user_id == user.id)
        )
    ).all()
    sent = await session.scalars(
        select(Message).where(Message.sender_user_id == user.id).order_by(Message.chat_id, Message.seq)
    )
    envelopes = await session.execute(
        select(Message, Envelope)
        .join(Envelope, Envelope.message_id == Message.id)
        .where(Envelope.device_id.in_([d.id for d in devices]))
        .order_by(Message.chat_id, Message.seq)
    )
    uploads = (
        await session.execute(
            select(MediaObject, MediaUpload)
            .join(MediaUpload, MediaUpload.media_id == MediaObject.id)
            .where(MediaUpload.user_id == user.id)
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
    audit = await session.scalars(
        select(AuditEntry).where(AuditEntry.actor == user.id).order_by(AuditEntry.seq)
    )
    data = {
        "format": FORMAT,
        "exported_at": now(),
        "user": {
            "id": user.id,
            "phone": user.phone,
            "created_at": user.created_at,
            "second_factor": {"totp": bool(user.totp_secret), "pin": bool(user.pin_hash)},
        },
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "platform": d.platform,
                "created_at": d.created_at,
                "revoked_at": d.revoked_at,
                "identity_key": d.identity_key,
            }
            for d in devices
        ],
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
            }
            for m in sent
        ],
        "envelopes": [
            {
                "chat_id": m.chat_id,
                "seq": m.seq,
                "sender": m.sender_user_id,
                "sender_device": m.sender_device_id,
                "device_id": e.device_id,
                "ciphertext": e.ciphertext,
            }
            for m, e in envelopes.all()
        ],
        "media": [
            {
                "id": o.id,
                "kind": o.kind,
                "content_type": o.content_type,
                "size": o.size,
                "filename": u.filename,
                "uploaded_at": u.uploaded_at,
                "width": o.width,
                "height": o.height,
                "duration_ms": o.duration_ms,
                "waveform": json.loads(o.waveform) if o.waveform else None,
                "shared_in": sorted(shared_in.get(o.id, [])),
                "path": _media_path(o),
            }
            for o, u in uploads
        ],
        "audit": [{"seq": a.seq, "ts": a.created_at, "action": a.action, "target": a.target} for a in audit],
    }
    return data, [o for o, _ in uploads]


async def write_zip(path: Path, data: dict[str, Any], objects: list[MediaObject], media: Media) -> int:
    """Write the export zip; media bytes are decrypted chunk by chunk into it (stored, not recompressed)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("account.json", json.dumps(data, indent=1, ensure_ascii=False), zipfile.ZIP_DEFLATED)
        for obj in objects:
            with archive.open(_media_path(obj), "w", force_zip64=obj.size > 2**31) as out:
                async for piece in read_plain(media, obj, 0, obj.size - 1):
                    out.write(piece)
    return path.stat().st_size
