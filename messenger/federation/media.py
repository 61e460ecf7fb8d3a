"""Media across states: a member's home node fetches media shared in a chat from the node that has it.

A user's client only talks to its home node: ``GET /v1/media/{id}?chat_id=…`` for media it cannot
read there makes the home node ask, over signed federation (``POST /_federation/v1/media/fetch``), the
chat's hosting node and then the other member states' nodes. The answering node checks that the media
was shared in that chat and that the asking state has a member in it (404 otherwise, so ids do not
leak). The home node checks node-sealed media against the content address and seals it with its own
key; end-to-end encrypted media travels as the opaque bytes it is (the reading client checks the
SHA-256 the encrypted message carries). Either is shared into the home node's replica of the chat and
served (with ranges) like local media.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse

from messenger.db.models import Member
from messenger.db.models.media import MediaObject, MediaShare
from messenger.errors import ApiError, NotFound
from messenger.federation.client import PeerClient, PeerError
from messenger.federation.outbox import host_of
from messenger.media import service
from messenger.media.service import Media, Meta
from messenger.services.ids import home_state

log = logging.getLogger("messenger.federation.media")

FETCH_PATH = "/_federation/v1/media/fetch"
INFO_HEADER = "X-Msgfleet-Media"  # JSON: kind, duration_ms, waveform, shared_by of the answered media


class FetchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    chat_id: str = Field(max_length=40)


async def serve(
    session: AsyncSession, media: Media, *, origin: str, media_id: str, chat_id: str
) -> StreamingResponse:
    """The media's bytes for a node of ``origin`` with a member in a chat the media was shared in."""
    share = await session.get(MediaShare, (media_id, chat_id))
    obj = await session.get(MediaObject, media_id)
    members = await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id))
    if share is None or obj is None or not any(home_state(u) == origin for u in members):
        raise NotFound(f"media {media_id} not found", code="media_not_found")
    info = {
        "kind": obj.kind,
        "encrypted": obj.encrypted,
        "duration_ms": obj.duration_ms,
        "waveform": json.loads(obj.waveform) if obj.waveform else None,
        "shared_by": share.shared_by,
    }
    await session.commit()
    return StreamingResponse(
        service.read_plain(media, obj, 0, obj.size - 1),
        media_type=obj.content_type,
        headers={"Content-Length": str(obj.size), INFO_HEADER: json.dumps(info)},
    )


async def fetch(
    client: PeerClient,
    session: AsyncSession,
    media: Media,
    *,
    local: str,
    media_id: str,
    chat_id: str,
    user_id: str,
) -> bool:
    """Fetch ``media_id`` shared in ``chat_id`` for ``user_id`` (a member here) from the states with
    members in the chat, host first; ``True`` once a copy is stored here."""
    if await session.get(Member, (chat_id, user_id)) is None:
        return False
    host = await host_of(session, chat_id, local)
    members = await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id))
    states = [host, *sorted({home_state(u) for u in members} - {host})]
    await session.commit()  # hold no database lock while a peer answers
    for state in [s for s in states if s != local]:
        try:
            async with client.stream(state, FETCH_PATH, {"media_id": media_id, "chat_id": chat_id}) as resp:
                info: dict[str, Any] = json.loads(resp.headers[INFO_HEADER])
                length = resp.headers.get("Content-Length")
                up = await service.spool(
                    media,
                    resp.aiter_bytes(),
                    kind=str(info["kind"]),
                    length=int(length) if length else None,
                    encrypted=bool(info.get("encrypted")),
                )
        except (PeerError, ApiError, KeyError, ValueError) as exc:
            log.info("media fetch failed", extra={"state": state, "media_id": media_id, "reason": str(exc)})
            continue
        if up.key is None:  # end to end encrypted: not a content address; the client checks the SHA-256
            up.id = media_id
        elif up.id != media_id:  # the bytes are not what the content address says
            up.path.unlink(missing_ok=True)
            log.warning("peer sent other bytes for media", extra={"state": state, "media_id": media_id})
            continue
        meta = Meta(duration_ms=info.get("duration_ms"), waveform=info.get("waveform"))
        try:
            await service.store_fetched(
                session, media, up, chat_id=chat_id, shared_by=str(info["shared_by"]), meta=meta
            )
        except ApiError as exc:  # e.g. a duration the bytes do not play: not stored
            await session.rollback()
            log.warning(
                "fetched media refused", extra={"state": state, "media_id": media_id, "reason": str(exc)}
            )
            continue
        return True
    return False
