"""Share a location or a live location in a chat; the chat map is a GeoJSON FeatureCollection.

GeoJSON follows RFC 7946: positions are ``[longitude, latitude]`` in WGS 84 (§3.1.1, §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.datarights.registry import Context, Provider
from messenger.db.base import now
from messenger.db.models import Member
from messenger.db.models.locations import Location
from messenger.errors import ApiError, NotFound
from messenger.realtime.events import emit_to_chat

# Live locations last 15 min .. 8 h: the choices WhatsApp and Telegram offer (help pages on live location).
MIN_LIVE_SECONDS, MAX_LIVE_SECONDS = 60, 8 * 3600


class LocationExpired(ApiError):
    status, code = 410, "live_location_expired"


def _event(loc: Location) -> dict[str, Any]:
    return {
        "chat_id": loc.chat_id,
        "user_id": loc.user_id,
        "lat": loc.lat,
        "lon": loc.lon,
        "accuracy_m": loc.accuracy_m,
        "live": loc.live,
        "ts": loc.updated_at,
        "expires_at": loc.expires_at,
    }


async def share(
    session: AsyncSession,
    *,
    member: Member,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    live_seconds: int | None,
) -> Location:
    """Store a location (live for ``live_seconds`` if given; it replaces the sender's earlier live one)."""
    ts = now()
    if live_seconds is not None:
        await _end_live(session, member=member, at=ts)
    loc = Location(
        chat_id=member.chat_id,
        user_id=member.user_id,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy_m,
        live=live_seconds is not None,
        created_at=ts,
        updated_at=ts,
        expires_at=ts + live_seconds if live_seconds is not None else None,
    )
    session.add(loc)
    await session.flush()
    await emit_to_chat(session, chat_id=member.chat_id, kind="location.shared", payload=_event(loc))
    await session.commit()
    return loc


async def _active_live(session: AsyncSession, *, member: Member) -> Location | None:
    return await session.scalar(
        select(Location)
        .where(
            Location.chat_id == member.chat_id, Location.user_id == member.user_id, Location.live.is_(True)
        )
        .order_by(Location.id.desc())
        .limit(1)
    )


async def _end_live(session: AsyncSession, *, member: Member, at: float) -> None:
    loc = await _active_live(session, member=member)
    if loc is not None and loc.expires_at is not None and loc.expires_at > at:
        loc.expires_at = at


async def update_live(
    session: AsyncSession, *, member: Member, lat: float, lon: float, accuracy_m: float | None
) -> Location:
    """Move the caller's live location; 404 if none was shared, 410 once it expired or was stopped."""
    loc = await _active_live(session, member=member)
    if loc is None:
        raise NotFound("no live location shared in this chat", code="live_location_not_found")
    ts = now()
    if loc.expires_at is None or loc.expires_at <= ts:
        raise LocationExpired("the live location expired or was stopped; share a new one")
    loc.lat, loc.lon, loc.accuracy_m, loc.updated_at = lat, lon, accuracy_m, ts
    await emit_to_chat(session, chat_id=member.chat_id, kind="location.updated", payload=_event(loc))
    await session.commit()
    return loc


async def stop_live(session: AsyncSession, *, member: Member) -> None:
    ts = now()
    loc = await _active_live(session, member=member)
    if loc is None or loc.expires_at is None or loc.expires_at <= ts:
        raise NotFound("no active live location in this chat", code="live_location_not_found")
    loc.expires_at = ts
    await emit_to_chat(session, chat_id=member.chat_id, kind="location.stopped", payload=_event(loc))
    await session.commit()


async def chat_map(session: AsyncSession, *, chat_id: str) -> dict[str, Any]:
    """The latest non-expired location of each current member as a GeoJSON FeatureCollection."""
    ts = now()
    rank = (
        func.row_number()
        .over(partition_by=Location.user_id, order_by=(Location.updated_at.desc(), Location.id.desc()))
        .label("rank")
    )
    fresh = (
        select(Location.id, rank)
        .join(Member, (Member.chat_id == Location.chat_id) & (Member.user_id == Location.user_id))
        .where(Location.chat_id == chat_id, or_(Location.expires_at.is_(None), Location.expires_at > ts))
        .subquery()
    )
    rows = await session.scalars(
        select(Location)
        .join(fresh, fresh.c.id == Location.id)
        .where(fresh.c.rank == 1)
        .order_by(Location.user_id)
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [loc.lon, loc.lat]},
                "properties": {k: v for k, v in _event(loc).items() if k not in {"lat", "lon", "chat_id"}},
            }
            for loc in rows
        ],
    }


async def _export_rights(ctx: Context) -> Mapping[str, Any]:
    """Data rights: every location the user shared, in any chat."""
    rows = await ctx.session.scalars(
        select(Location).where(Location.user_id == ctx.subject.user_id).order_by(Location.id)
    )
    return {"locations": [{**_event(loc), "created_at": loc.created_at} for loc in rows]}


async def _erase_rights(ctx: Context) -> Mapping[str, int]:
    """Data rights: the user's locations go (their point leaves every chat map at once)."""
    gone = await ctx.session.execute(delete(Location).where(Location.user_id == ctx.subject.user_id))
    return {"locations": gone.rowcount or 0}  # type: ignore[attr-defined]


DATA_RIGHTS = Provider(
    name="locations", covers={"locations": ("user_id",)}, export=_export_rights, erase=_erase_rights
)
