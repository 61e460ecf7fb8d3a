"""Media data access: streamed ingest, shares, access checks, ranged reads.

Two kinds of object. **End-to-end encrypted** uploads (``encrypted=true``, what the reference client
sends for chat media, ``messenger.client.attachments``) are opaque bytes: the client encrypted them
with a key only the message carries, declares the kind, and made the thumbnail, duration and waveform
itself; the node checks the per-kind size limit, stores the bytes as they came under a random id (no
dedup: a content address would tell who holds the same file) and serves them back. **Node-sealed**
uploads (public media such as channel posts) are sniffed, probed (dimensions, thumbnail, duration),
deduplicated by content hash and sealed at rest under a data key the node wraps
(``messenger.media.crypto``).

The caller's membership is checked before a byte of the body is read; the body goes chunk by chunk
into a spool file, so nothing reaches the store (or the database) unless the whole upload was accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models import Member
from messenger.db.models.media import MediaObject, MediaShare, MediaUpload
from messenger.errors import ApiError, BadRequest, NotFound, PayloadTooLarge, Unprocessable
from messenger.media import crypto
from messenger.media.crypto import CHUNK, SEALED, KeyWrapper, Sealer
from messenger.media.metrics import BYTES, UPLOADS
from messenger.media.probe import ImageInfo, probe_duration_ms, probe_image
from messenger.media.settings import MediaSettings
from messenger.media.sniff import SNIFF_BYTES, content_type_for
from messenger.media.store import MediaStore

READ_CHUNKS = 16  # sealed chunks fetched from the store per read (1 MiB)
DURATION_TOLERANCE_MS = 1000  # a declared duration may differ this much from the measured one
WAVEFORM_MAX = (
    256  # samples; Telegram sends 100 five-bit samples (core.telegram.org/constructor/documentAttributeAudio)
)
_PROBED = ("photo", "video", "audio", "voice", "video_note")
OPAQUE_TYPE = "application/octet-stream"  # how end-to-end encrypted objects are stored and served


class RangeNotSatisfiable(ApiError):
    status, code = 416, "range_not_satisfiable"


@dataclass
class Media:
    """The node's media runtime (``node.features["media"]``)."""

    settings: MediaSettings
    store: MediaStore
    keys: KeyWrapper


@dataclass
class Spooled:
    """An accepted upload sealed into ``path``, not yet in the store."""

    id: str
    kind: str
    content_type: str
    size: int
    path: Path
    key: bytes | None  # None: end-to-end encrypted, stored as uploaded
    key_id: str | None
    wrapped_key: bytes | None
    probe: bytes | None


@dataclass(frozen=True)
class Meta:
    """Client-declared metadata of an upload, validated against what the bytes show."""

    filename: str | None = None
    duration_ms: int | None = None
    waveform: Sequence[int] | None = None
    preview_id: str | None = None


async def spool(
    media: Media, body: AsyncIterator[bytes], *, kind: str, length: int | None, encrypted: bool = False
) -> Spooled:
    """Read and size-check an upload stream into a spool file: as it comes when ``encrypted`` (end to
    end), else sniffed, hashed and sealed."""
    limit = media.settings.max_bytes(kind)
    if length is not None and length > limit:
        raise PayloadTooLarge(f"a {kind} may be at most {limit} bytes", code="payload_too_large")
    if encrypted:
        return await _spool_opaque(media, body, kind=kind, limit=limit)
    key, key_id, wrapped = media.keys.new_data_key()
    sealer, digest = Sealer(key), hashlib.sha256()
    size, buf, content_type = 0, bytearray(), None
    probe: bytearray | None = bytearray() if kind in _PROBED else None
    path = media.store.spool_dir / f"{secrets.token_hex(12)}.part"
    try:
        with path.open("wb") as out:
            async for piece in body:
                size += len(piece)
                if size > limit:
                    raise PayloadTooLarge(f"a {kind} may be at most {limit} bytes", code="payload_too_large")
                digest.update(piece)
                buf += piece
                if content_type is None and len(buf) >= SNIFF_BYTES:
                    content_type = content_type_for(kind, bytes(buf[:SNIFF_BYTES]))
                if probe is not None and size <= media.settings.probe_max_bytes:
                    probe += piece
                else:
                    probe = None
                while len(buf) > CHUNK:
                    out.write(sealer.seal(bytes(buf[:CHUNK]), last=False))
                    del buf[:CHUNK]
            if size == 0:
                raise BadRequest("the upload is empty", code="empty_upload")
            if content_type is None:
                content_type = content_type_for(kind, bytes(buf))
            out.write(sealer.seal(bytes(buf), last=True))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(
        digest.hexdigest(),
        kind,
        content_type,
        size,
        path,
        key,
        key_id,
        wrapped,
        bytes(probe) if probe else None,
    )


async def _spool_opaque(media: Media, body: AsyncIterator[bytes], *, kind: str, limit: int) -> Spooled:
    path = media.store.spool_dir / f"{secrets.token_hex(12)}.part"
    size = 0
    try:
        with path.open("wb") as out:
            async for piece in body:
                size += len(piece)
                if size > limit:
                    raise PayloadTooLarge(f"a {kind} may be at most {limit} bytes", code="payload_too_large")
                out.write(piece)
        if size == 0:
            raise BadRequest("the upload is empty", code="empty_upload")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # A random id, not a content address: nothing about the bytes (or who else has them) shows.
    return Spooled(secrets.token_hex(32), kind, OPAQUE_TYPE, size, path, None, None, None, None)


async def check_chat(session: AsyncSession, *, chat_id: str, user_id: str) -> None:
    if await session.get(Member, (chat_id, user_id)) is None:
        raise NotFound(f"chat {chat_id} not found", code="chat_not_found")


async def store_upload(
    session: AsyncSession, media: Media, up: Spooled, *, user_id: str, chat_id: str | None, meta: Meta
) -> tuple[MediaObject, MediaUpload, bool]:
    """Record an upload (deduplicated by content), its uploader and share.

    Returns (object, the caller's upload, new): ``new`` is whether the caller had not uploaded these
    bytes before — not whether anyone had, which would tell a stranger that someone holds the file."""
    try:
        attrs = await _attributes(session, media, up, user_id=user_id, meta=meta)
        obj = await session.get(MediaObject, up.id)
        created = obj is None
        if obj is None:
            obj = await _put_object(session, media, up, attrs)
    finally:
        up.path.unlink(missing_ok=True)
    upload = await session.get(MediaUpload, (obj.id, user_id))
    new = upload is None
    if upload is None:
        # The first uploader's time is the object's; anyone else's upload starts their own.
        at = obj.created_at if created else now()
        upload = MediaUpload(media_id=obj.id, user_id=user_id, filename=meta.filename, uploaded_at=at)
        session.add(upload)
    if chat_id is not None:
        await _share(session, obj, chat_id=chat_id, user_id=user_id)
    await session.commit()
    UPLOADS.labels(up.kind, "stored" if created else "dedup").inc()
    BYTES.labels("in").inc(up.size)
    return obj, upload, new


def base_name(filename: str | None) -> str | None:
    """The last path component of a client's file name, without control or format characters (a
    ``../../etc/passwd`` is stored as ``passwd``); ``None`` when nothing is left. Hand-written: the
    libraries that do this (werkzeug's ``secure_filename``) also drop every non-ASCII letter."""
    if filename is None:
        return None
    printable = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C")
    base = printable.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return None if base in ("", ".", "..") else base


async def store_fetched(
    session: AsyncSession, media: Media, up: Spooled, *, chat_id: str, shared_by: str, meta: Meta
) -> MediaObject:
    """Keep a copy of media shared in ``chat_id`` fetched from another state's node (sealed with this
    node's own key), shared into the chat's replica for this node's members; no upload row."""
    try:
        attrs = await _attributes(session, media, up, user_id=shared_by, meta=meta)
        obj = await session.get(MediaObject, up.id)
        if obj is None:
            obj = await _put_object(session, media, up, attrs)
    finally:
        up.path.unlink(missing_ok=True)
    await _share(session, obj, chat_id=chat_id, user_id=shared_by)
    await session.commit()
    return obj


async def _attributes(
    session: AsyncSession, media: Media, up: Spooled, *, user_id: str, meta: Meta
) -> dict[str, object]:
    """Columns read from the bytes (dimensions, duration) and checked client metadata (none for end-to-end
    encrypted objects: their metadata is inside the encrypted message)."""
    attrs: dict[str, object] = {}
    if up.key is None:
        return attrs
    if up.kind == "photo" and up.probe is not None:
        attrs["image"] = await asyncio.to_thread(
            probe_image,
            up.probe,
            max_px=media.settings.thumbnail_px,
            max_pixels=media.settings.photo_max_pixels,
        )
    if up.kind in ("video", "audio", "voice", "video_note"):
        measured = (
            await asyncio.to_thread(probe_duration_ms, up.probe, up.content_type)
            if up.probe is not None
            else None
        )
        declared = meta.duration_ms
        if measured is not None and declared is not None and abs(measured - declared) > DURATION_TOLERANCE_MS:
            raise Unprocessable(
                f"duration_ms {declared} does not match the {measured} ms the file plays",
                code="duration_mismatch",
            )
        duration = measured if measured is not None else declared
        if duration is None and up.kind in ("voice", "video_note"):
            raise Unprocessable(
                f"a {up.kind} needs duration_ms (not readable from the file)", code="duration_required"
            )
        limit_ms = media.settings.video_note_max_seconds * 1000
        if up.kind == "video_note" and duration is not None and duration > limit_ms:
            raise Unprocessable(
                f"a video note may last at most {limit_ms:.0f} ms, not {duration}", code="too_long"
            )
        attrs["duration_ms"] = duration
    if meta.waveform is not None:
        if up.kind != "voice":
            raise Unprocessable("waveform is only for voice notes", code="invalid_waveform")
        if not 0 < len(meta.waveform) <= WAVEFORM_MAX or any(not 0 <= v <= 255 for v in meta.waveform):
            raise Unprocessable(f"waveform: 1..{WAVEFORM_MAX} values in 0..255", code="invalid_waveform")
        attrs["waveform"] = json.dumps(list(meta.waveform))
    if meta.preview_id is not None:
        if up.kind not in ("video", "video_note"):
            raise Unprocessable("preview is only for videos and video notes", code="invalid_preview")
        preview = await session.get(MediaObject, meta.preview_id)
        if preview is None or preview.kind != "photo" or not await can_read(session, preview.id, user_id):
            raise Unprocessable(
                f"preview {meta.preview_id} is not a photo you uploaded", code="invalid_preview"
            )
        attrs["preview_id"] = preview.id
    return attrs


async def _put_object(
    session: AsyncSession, media: Media, up: Spooled, attrs: dict[str, object]
) -> MediaObject:
    storage_key = f"objects/{up.id[:2]}/{up.id}-{secrets.token_hex(6)}"
    image = attrs.pop("image", None)
    await media.store.put(storage_key, up.path)
    obj = MediaObject(
        id=up.id,
        kind=up.kind,
        content_type=up.content_type,
        size=up.size,
        storage_key=storage_key,
        wrapped_key=up.wrapped_key,
        key_id=up.key_id,
        created_at=now(),
        **attrs,
    )
    if isinstance(image, ImageInfo) and up.key is not None:  # probed: a node-sealed photo
        thumb_path = media.store.spool_dir / f"{secrets.token_hex(12)}.thumb"
        thumb_path.write_bytes(crypto.seal_all(up.key, image.thumbnail, crypto.THUMBNAIL))
        await media.store.put(f"{storage_key}.thumb", thumb_path)
        obj.width, obj.height = image.width, image.height
        obj.thumb_size, obj.thumb_width, obj.thumb_height = (
            len(image.thumbnail),
            image.thumb_width,
            image.thumb_height,
        )
    session.add(obj)
    try:
        await session.flush()
    except IntegrityError:  # the same bytes were stored concurrently: keep theirs
        await session.rollback()
        await _delete_blobs(media, [obj])
        existing = await session.get(MediaObject, up.id)
        assert existing is not None
        return existing
    return obj


async def _share(session: AsyncSession, obj: MediaObject, *, chat_id: str, user_id: str) -> None:
    for media_id in filter(None, (obj.id, obj.preview_id)):
        if media_id != obj.id and not await can_read(session, media_id, user_id):
            continue  # the preview another uploader of the same video chose is not the sharer's to give
        if await session.get(MediaShare, (media_id, chat_id)) is None:
            session.add(MediaShare(media_id=media_id, chat_id=chat_id, shared_by=user_id, shared_at=now()))


async def share(session: AsyncSession, *, media_id: str, chat_id: str, user_id: str) -> None:
    """Share media the caller can read into one of the caller's chats (forwarding included)."""
    obj = await readable(session, media_id, user_id)
    await check_chat(session, chat_id=chat_id, user_id=user_id)
    await _share(session, obj, chat_id=chat_id, user_id=user_id)
    await session.commit()


async def can_read(session: AsyncSession, media_id: str, user_id: str) -> bool:
    """The uploader, or a member of a chat the object was shared in."""
    uploaded = exists().where(MediaUpload.media_id == media_id, MediaUpload.user_id == user_id)
    shared = exists().where(
        MediaShare.media_id == media_id, Member.chat_id == MediaShare.chat_id, Member.user_id == user_id
    )
    return bool(await session.scalar(select(uploaded | shared)))


async def readable(session: AsyncSession, media_id: str, user_id: str) -> MediaObject:
    """The object if the caller may read it; 404 otherwise (ids of others' media do not leak)."""
    obj = await session.get(MediaObject, media_id)
    if obj is None or not await can_read(session, media_id, user_id):
        raise NotFound(f"media {media_id} not found", code="media_not_found")
    return obj


async def chat_media(session: AsyncSession, *, chat_id: str) -> list[tuple[MediaObject, MediaShare]]:
    rows = await session.execute(
        select(MediaObject, MediaShare)
        .join(MediaShare, MediaShare.media_id == MediaObject.id)
        .where(MediaShare.chat_id == chat_id)
        .order_by(MediaShare.shared_at)
    )
    return [(o, s) for o, s in rows.all()]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One ``bytes=a-b`` / ``a-`` / ``-n`` range as inclusive (start, end), or None for the whole object.

    Hand-written because Starlette's range support only serves plain files; follows RFC 9110 §14.1.2.
    Several ranges are answered with the whole object, which RFC 9110 §14.2 allows (a server MAY ignore
    Range); a range starting past the end is 416.
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if (
        not dash
        or not (first.isdigit() or last.isdigit())
        or (first and not first.isdigit())
        or (last and not last.isdigit())
    ):
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(
                "an empty suffix range selects nothing", headers={"Content-Range": f"bytes */{size}"}
            )
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(
            f"range {spec} is outside the object's {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


async def read_plain(
    media: Media, obj: MediaObject, start: int, end: int, *, thumbnail: bool = False
) -> AsyncIterator[bytes]:
    """Bytes ``start..end`` (inclusive) of the object (or of its thumbnail) as uploaded: unsealed for
    node-sealed media, as stored for end-to-end encrypted media."""
    if obj.wrapped_key is None or obj.key_id is None:
        for offset in range(start, end + 1, READ_CHUNKS * CHUNK):
            piece = await media.store.read(
                obj.storage_key, offset, min(READ_CHUNKS * CHUNK, end + 1 - offset)
            )
            BYTES.labels("out").inc(len(piece))
            yield piece
        return
    key = media.keys.unwrap(obj.wrapped_key, obj.key_id)
    size = obj.thumb_size if thumbnail and obj.thumb_size is not None else obj.size
    storage_key = f"{obj.storage_key}.thumb" if thumbnail else obj.storage_key
    stream = crypto.THUMBNAIL if thumbnail else crypto.OBJECT
    total = crypto.chunk_count(size)
    first, last = start // CHUNK, end // CHUNK
    for batch in range(first, last + 1, READ_CHUNKS):
        count = min(READ_CHUNKS, last + 1 - batch)
        sealed = await media.store.read(storage_key, batch * SEALED, count * SEALED)
        for i, plain in enumerate(crypto.open_chunks(key, sealed, first=batch, total=total, stream=stream)):
            index = batch + i
            lo = start - index * CHUNK if index == first else 0
            hi = end - index * CHUNK + 1 if index == last else len(plain)
            BYTES.labels("out").inc(hi - lo)
            yield plain[lo:hi]


async def delete_objects(session: AsyncSession, media: Media, ids: Sequence[str]) -> int:
    """Delete objects (rows, then sealed bytes); the caller's transaction is committed."""
    objs = list(await session.scalars(select(MediaObject).where(MediaObject.id.in_(list(ids)))))
    if not objs:
        return 0
    await session.execute(delete(MediaObject).where(MediaObject.id.in_([o.id for o in objs])))
    await session.commit()
    await _delete_blobs(media, objs)
    return len(objs)


async def _delete_blobs(media: Media, objs: Sequence[MediaObject]) -> None:
    for obj in objs:
        await media.store.delete(obj.storage_key)
        if obj.thumb_size is not None:
            await media.store.delete(f"{obj.storage_key}.thumb")
