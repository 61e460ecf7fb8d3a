"""``/v1/media``: streamed uploads, ranged downloads, thumbnails, shares; ``/v1/chats/{id}/media``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field

from messenger.api.deps import ChatMember, CurrentDevice, NodeDep, SessionDep
from messenger.api.schemas import Body, Out
from messenger.db.models.media import MediaObject, MediaUpload
from messenger.errors import NotFound, Unprocessable
from messenger.federation.media import fetch as fetch_remote
from messenger.federation.service import federation_of
from messenger.media import service
from messenger.media.crypto import KeyWrapper
from messenger.media.service import Media, Meta
from messenger.media.settings import load_media_settings
from messenger.media.store import open_store
from messenger.node import Node

router = APIRouter(tags=["media"])

Kind = Literal["photo", "video", "audio", "voice", "video_note", "document"]
MEDIA_ID = r"^[0-9a-f]{64}$"


async def startup(node: Node) -> None:
    settings = load_media_settings()
    keys = KeyWrapper(node.keys)
    node.features["media"] = Media(settings, await open_store(settings, node.settings.data_dir), keys)


async def shutdown(node: Node) -> None:
    media: Media | None = node.features.pop("media", None)
    if media is not None:
        await media.store.close()


def get_media(node: NodeDep) -> Media:
    media: Media = node.features["media"]
    return media


MediaDep = Annotated[Media, Depends(get_media)]


class MediaOut(Out):
    id: str = Field(description="SHA-256 of the bytes (node-sealed) or random (end-to-end encrypted)")
    kind: str
    encrypted: bool = Field(description="end-to-end encrypted by the client: opaque bytes, no key here")
    content_type: str
    size: int
    created_at: float
    width: int | None
    height: int | None
    duration_ms: int | None
    waveform: list[int] | None
    preview_id: str | None
    thumbnail: bool


class SharedOut(MediaOut):
    shared_by: str
    shared_at: float


class ShareIn(Body):
    chat_id: str = Field(max_length=40)


def _out(obj: MediaObject, upload: MediaUpload | None = None) -> MediaOut:
    """``created_at`` is the caller's own upload time when given (``upload``), so uploading bytes someone
    else sent before tells nothing of them."""
    return MediaOut(
        id=obj.id,
        kind=obj.kind,
        encrypted=obj.encrypted,
        content_type=obj.content_type,
        size=obj.size,
        created_at=upload.uploaded_at if upload is not None else obj.created_at,
        width=obj.width,
        height=obj.height,
        duration_ms=obj.duration_ms,
        waveform=json.loads(obj.waveform) if obj.waveform else None,
        preview_id=obj.preview_id,
        thumbnail=obj.thumb_size is not None,
    )


def _waveform(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise Unprocessable("waveform is comma-separated integers 0..255", code="invalid_waveform") from None


@router.post("/v1/media", status_code=201)
async def upload(
    request: Request,
    response: Response,
    kind: Kind,
    device: CurrentDevice,
    session: SessionDep,
    media: MediaDep,
    chat_id: Annotated[str | None, Query(max_length=40, description="share into this chat")] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    duration_ms: Annotated[int | None, Query(ge=1, le=86_400_000)] = None,
    waveform: Annotated[str | None, Query(max_length=2048, description="comma-separated 0..255")] = None,
    preview: Annotated[str | None, Query(pattern=MEDIA_ID, description="photo id (video notes)")] = None,
    encrypted: Annotated[
        bool, Query(description="opaque bytes the client encrypted end to end (chat media)")
    ] = False,
) -> MediaOut:
    """Upload the raw request body (any Content-Type): end-to-end encrypted bytes stored as they come
    (``encrypted``), else sniffed, probed and sealed by the node (public media)."""
    if encrypted and any(v is not None for v in (filename, duration_ms, waveform, preview)):
        raise Unprocessable(
            "an encrypted upload carries its file name, duration, waveform and preview inside the "
            "encrypted message, not as parameters",
            code="metadata_not_allowed",
        )
    if chat_id is not None:
        await service.check_chat(session, chat_id=chat_id, user_id=device.user_id)
    await session.commit()  # end the read transaction: no lock is held while the body streams in
    meta = Meta(
        filename=service.base_name(filename),
        duration_ms=duration_ms,
        waveform=_waveform(waveform),
        preview_id=preview,
    )
    # Content-Length is the transport's, not a documented parameter: a client (or a fuzzer) cannot then
    # promise a length the body does not have. Missing or chunked: the limit is enforced while streaming.
    declared = request.headers.get("content-length", "")
    length = int(declared) if declared.isdigit() else None
    spooled = await service.spool(media, request.stream(), kind=kind, length=length, encrypted=encrypted)
    obj, upload, new = await service.store_upload(
        session, media, spooled, user_id=device.user_id, chat_id=chat_id, meta=meta
    )
    if not new:
        response.status_code = 200  # the caller's own retry
    return _out(obj, upload)


ChatHint = Annotated[
    str | None,
    Query(
        max_length=40, description="a chat it was shared in: media of other states' users is fetched via it"
    ),
]


async def _readable(
    session: SessionDep, node: Node, media: Media, media_id: str, user_id: str, chat_id: str | None
) -> MediaObject:
    """``service.readable``; for media shared in ``chat_id`` by a user of another state, this node first
    fetches a copy from that state's node (``messenger.federation.media``)."""
    try:
        return await service.readable(session, media_id, user_id)
    except NotFound:
        fed = federation_of(node)
        if chat_id is None or fed is None:
            raise
        await session.rollback()
        fetched = await fetch_remote(
            fed.client, session, media, local=fed.state, media_id=media_id, chat_id=chat_id, user_id=user_id
        )
        if not fetched:
            raise
    return await service.readable(session, media_id, user_id)


@router.get("/v1/media/{media_id}/meta")
async def meta(
    media_id: str,
    device: CurrentDevice,
    session: SessionDep,
    node: NodeDep,
    media: MediaDep,
    chat_id: ChatHint = None,
) -> MediaOut:
    obj = await _readable(session, node, media, media_id, device.user_id, chat_id)
    return _out(obj, await session.get(MediaUpload, (obj.id, device.user_id)))


@router.get("/v1/media/{media_id}", response_class=StreamingResponse)
async def download(
    media_id: str,
    device: CurrentDevice,
    session: SessionDep,
    media: MediaDep,
    node: NodeDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
    chat_id: ChatHint = None,
) -> StreamingResponse:
    """The bytes with their sniffed type (``application/octet-stream`` if end-to-end encrypted: the bytes
    as uploaded); ``Range: bytes=a-b`` gives 206 with ``Content-Range``."""
    obj = await _readable(session, node, media, media_id, device.user_id, chat_id)
    await session.commit()  # release the read transaction before streaming
    return _stream(media, obj, range_, thumbnail=False)


@router.get("/v1/media/{media_id}/thumbnail", response_class=StreamingResponse)
async def thumbnail(
    media_id: str,
    device: CurrentDevice,
    session: SessionDep,
    media: MediaDep,
    node: NodeDep,
    range_: Annotated[str | None, Header(alias="range")] = None,
    chat_id: ChatHint = None,
) -> StreamingResponse:
    """A JPEG thumbnail of a node-sealed photo (404 ``no_thumbnail`` for other kinds and for end-to-end
    encrypted photos, whose client uploads its own encrypted thumbnail)."""
    obj = await _readable(session, node, media, media_id, device.user_id, chat_id)
    await session.commit()  # release the read transaction before streaming
    if obj.thumb_size is None:
        raise NotFound(f"media {media_id} has no thumbnail", code="no_thumbnail")
    return _stream(media, obj, range_, thumbnail=True)


def _stream(
    media: Media, obj: MediaObject, range_header: str | None, *, thumbnail: bool
) -> StreamingResponse:
    size = obj.thumb_size if thumbnail and obj.thumb_size is not None else obj.size
    selected = service.parse_range(range_header, size)
    start, end = selected or (0, size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1),
        "ETag": f'"{obj.id}{"-thumb" if thumbnail else ""}"',
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed: never changes
        "X-Content-Type-Options": "nosniff",
    }
    if obj.kind == "document" and not thumbnail:
        headers["Content-Disposition"] = "attachment"
    if selected is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    body: AsyncIterator[bytes] = service.read_plain(media, obj, start, end, thumbnail=thumbnail)
    return StreamingResponse(
        body,
        status_code=206 if selected is not None else 200,
        media_type="image/jpeg" if thumbnail else obj.content_type,
        headers=headers,
    )


@router.post("/v1/media/{media_id}/shares", status_code=204)
async def share(media_id: str, body: ShareIn, device: CurrentDevice, session: SessionDep) -> Response:
    """Share media the caller may read into one of the caller's chats (members may then fetch it)."""
    await service.share(session, media_id=media_id, chat_id=body.chat_id, user_id=device.user_id)
    return Response(status_code=204)


@router.get("/v1/chats/{chat_id}/media")
async def chat_media(member: ChatMember, session: SessionDep) -> list[SharedOut]:
    """Media shared in the chat, oldest first."""
    rows = await service.chat_media(session, chat_id=member.chat_id)
    return [SharedOut(**_out(o).model_dump(), shared_by=s.shared_by, shared_at=s.shared_at) for o, s in rows]
