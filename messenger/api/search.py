"""``GET /v1/search``: full-text search over channel posts, channel and chat titles, file names."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from messenger.api.deps import CurrentDevice, SessionDep
from messenger.services import search as engine

router = APIRouter(prefix="/v1/search", tags=["search"])

Kind = Literal["posts", "channels", "chats", "files"]


@router.get("")
async def search(
    session: SessionDep,
    device: CurrentDevice,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    kind: Annotated[list[Kind] | None, Query(description="repeat to pick; default all")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, list[dict[str, Any]]]:
    """Best matches per kind, visible to the caller only: posts of subscribed channels, any channel,
    chats the caller is in, files the caller uploaded or that were shared in their chats."""
    kinds = tuple(dict.fromkeys(kind)) if kind else engine.KINDS
    return await engine.search(session, user_id=device.user_id, q=q, kinds=kinds, limit=limit)
