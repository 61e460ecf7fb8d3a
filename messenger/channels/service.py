"""Channel data access: create, subscribe, owners, post, list posts, read markers, per-post counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.base import now
from messenger.db.models.channels import Channel, ChannelMember, ChannelPost
from messenger.errors import BadRequest, Conflict, Forbidden, NotFound
from messenger.services.ids import new_id


async def get_channel(session: AsyncSession, channel_id: str) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"channel {channel_id} not found", code="channel_not_found")
    return channel


async def membership(session: AsyncSession, *, channel_id: str, user_id: str) -> ChannelMember | None:
    return await session.get(ChannelMember, (channel_id, user_id))


async def require_member(session: AsyncSession, *, channel_id: str, user_id: str) -> ChannelMember:
    """The caller's subscription; 404 for an unknown channel, 403 ``not_subscribed`` otherwise."""
    await get_channel(session, channel_id)
    member = await membership(session, channel_id=channel_id, user_id=user_id)
    if member is None:
        raise Forbidden("subscribe to this channel first", code="not_subscribed")
    return member


async def require_owner(session: AsyncSession, *, channel_id: str, user_id: str) -> ChannelMember:
    member = await require_member(session, channel_id=channel_id, user_id=user_id)
    if member.role != "owner":
        raise Forbidden("only channel owners may do this", code="not_owner")
    return member


async def create(session: AsyncSession, *, owner: str, title: str, description: str) -> Channel:
    ts = now()
    channel = Channel(
        id=new_id("h"),
        title=title,
        description=description,
        created_by=owner,
        created_at=ts,
        last_seq=0,
        subscribers=1,
    )
    session.add(channel)
    await session.flush()
    session.add(
        ChannelMember(channel_id=channel.id, user_id=owner, role="owner", joined_at=ts, last_read_seq=0)
    )
    await session.commit()
    return channel


async def subscribe(session: AsyncSession, *, channel_id: str, user_id: str) -> bool:
    """Subscribe (idempotent); True if the user was not subscribed before."""
    await get_channel(session, channel_id)
    if await membership(session, channel_id=channel_id, user_id=user_id) is not None:
        return False
    session.add(ChannelMember(channel_id=channel_id, user_id=user_id, role="subscriber", joined_at=now()))
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request of the same user subscribed first
        await session.rollback()
        return False
    await session.execute(
        update(Channel).where(Channel.id == channel_id).values(subscribers=Channel.subscribers + 1)
    )
    await session.commit()
    return True


async def unsubscribe(session: AsyncSession, *, channel_id: str, user_id: str) -> None:
    member = await require_member(session, channel_id=channel_id, user_id=user_id)
    if member.role == "owner":
        owners = await session.scalar(
            select(func.count()).where(ChannelMember.channel_id == channel_id, ChannelMember.role == "owner")
        )
        if (owners or 0) <= 1:
            raise Conflict("the last owner cannot leave; add another owner first", code="last_owner")
    await session.execute(
        delete(ChannelMember).where(ChannelMember.channel_id == channel_id, ChannelMember.user_id == user_id)
    )
    await session.execute(
        update(Channel).where(Channel.id == channel_id).values(subscribers=Channel.subscribers - 1)
    )
    await session.commit()


async def add_owner(session: AsyncSession, *, channel_id: str, actor: str, user_id: str) -> None:
    """Make ``user_id`` an owner (subscribing them if needed); owners only."""
    await require_owner(session, channel_id=channel_id, user_id=actor)
    member = await membership(session, channel_id=channel_id, user_id=user_id)
    if member is None:
        session.add(ChannelMember(channel_id=channel_id, user_id=user_id, role="owner", joined_at=now()))
        await session.execute(
            update(Channel).where(Channel.id == channel_id).values(subscribers=Channel.subscribers + 1)
        )
    else:
        member.role = "owner"
    await session.commit()


async def remove_owner(session: AsyncSession, *, channel_id: str, actor: str, user_id: str) -> None:
    """Make owner ``user_id`` a plain subscriber again; owners only, and never the last owner."""
    await require_owner(session, channel_id=channel_id, user_id=actor)
    member = await require_owner(session, channel_id=channel_id, user_id=user_id)
    owners = await session.scalar(
        select(func.count()).where(ChannelMember.channel_id == channel_id, ChannelMember.role == "owner")
    )
    if (owners or 0) <= 1:
        raise Conflict("the last owner cannot stop being one; add another owner first", code="last_owner")
    member.role = "subscriber"
    await session.commit()


async def post(session: AsyncSession, *, channel_id: str, author: str, text: str) -> ChannelPost:
    """Store a post (owners only) and commit; the caller then starts its fan-out."""
    await require_owner(session, channel_id=channel_id, user_id=author)
    seq = await session.scalar(
        update(Channel)
        .where(Channel.id == channel_id)
        .values(last_seq=Channel.last_seq + 1)
        .returning(Channel.last_seq)
    )
    assert seq is not None
    item = ChannelPost(
        id=new_id("p"),
        channel_id=channel_id,
        seq=seq,
        author=author,
        text=text,
        created_at=now(),
        fanout_after="",
        fanout_done=False,
        delivered_members=0,
        delivered_devices=0,
    )
    session.add(item)
    await session.commit()
    return item


async def posts(session: AsyncSession, *, channel_id: str, after: int, limit: int) -> list[ChannelPost]:
    rows = await session.scalars(
        select(ChannelPost)
        .where(ChannelPost.channel_id == channel_id, ChannelPost.seq > after)
        .order_by(ChannelPost.seq)
        .limit(limit)
    )
    return list(rows)


async def mark_read(session: AsyncSession, *, member: ChannelMember, seq: int) -> int:
    channel = await get_channel(session, member.channel_id)
    if not 0 < seq <= channel.last_seq:
        raise BadRequest(
            f"seq {seq} is not a post of this channel (last is {channel.last_seq})", code="invalid_seq"
        )
    if seq > member.last_read_seq:
        member.last_read_seq = seq
        await session.commit()
    return member.last_read_seq


@dataclass(frozen=True)
class PostStats:
    seq: int
    members: int
    delivered_members: int
    delivered_devices: int
    read: int
    fanout_done: bool
    fanout_seconds: float | None


async def stats(session: AsyncSession, *, channel_id: str, seq: int) -> PostStats:
    item = await session.scalar(
        select(ChannelPost).where(ChannelPost.channel_id == channel_id, ChannelPost.seq == seq)
    )
    if item is None:
        raise NotFound(f"post {seq} not found", code="post_not_found")
    channel = await get_channel(session, channel_id)
    read = await session.scalar(
        select(func.count()).where(ChannelMember.channel_id == channel_id, ChannelMember.last_read_seq >= seq)
    )
    took = item.fanout_done_at - item.created_at if item.fanout_done_at is not None else None
    return PostStats(
        seq=seq,
        members=channel.subscribers,
        delivered_members=item.delivered_members,
        delivered_devices=item.delivered_devices,
        read=read or 0,
        fanout_done=item.fanout_done,
        fanout_seconds=took,
    )
