"""``/v1/chats/{chat_id}/locations`` and ``/map``: location sharing and the chat's GeoJSON map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from messenger.api.deps import ChatMember, SessionDep
from messenger.api.schemas import Body, Out
from messenger.services import locations

router = APIRouter(prefix="/v1/chats/{chat_id}", tags=["locations"])


class PointIn(Body):
    lat: float = Field(ge=-90, le=90, description="WGS 84 latitude, degrees")
    lon: float = Field(ge=-180, le=180, description="WGS 84 longitude, degrees")
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class ShareIn(PointIn):
    live_seconds: int | None = Field(
        None,
        ge=locations.MIN_LIVE_SECONDS,
        le=locations.MAX_LIVE_SECONDS,
        description="share a live location for this long; omit for a one-off location",
    )


class LocationOut(Out):
    id: int
    user_id: str
    lat: float
    lon: float
    accuracy_m: float | None
    live: bool
    ts: float
    expires_at: float | None


def _out(loc: Any) -> LocationOut:
    return LocationOut(
        id=loc.id,
        user_id=loc.user_id,
        lat=loc.lat,
        lon=loc.lon,
        accuracy_m=loc.accuracy_m,
        live=loc.live,
        ts=loc.updated_at,
        expires_at=loc.expires_at,
    )


@router.post("/locations", status_code=201)
async def share(body: ShareIn, member: ChatMember, session: SessionDep) -> LocationOut:
    """Share a location (members get ``location.shared``); with ``live_seconds`` it is live until then."""
    loc = await locations.share(
        session,
        member=member,
        lat=body.lat,
        lon=body.lon,
        accuracy_m=body.accuracy_m,
        live_seconds=body.live_seconds,
    )
    return _out(loc)


@router.put("/locations/live")
async def update_live(body: PointIn, member: ChatMember, session: SessionDep) -> LocationOut:
    """Move the caller's live location (410 ``live_location_expired`` after its expiry)."""
    loc = await locations.update_live(
        session, member=member, lat=body.lat, lon=body.lon, accuracy_m=body.accuracy_m
    )
    return _out(loc)


@router.delete("/locations/live", status_code=204)
async def stop_live(member: ChatMember, session: SessionDep) -> Response:
    await locations.stop_live(session, member=member)
    return Response(status_code=204)


@router.get("/map")
async def chat_map(member: ChatMember, session: SessionDep) -> dict[str, Any]:
    """GeoJSON FeatureCollection (RFC 7946): the latest non-expired location of each member."""
    return await locations.chat_map(session, chat_id=member.chat_id)
