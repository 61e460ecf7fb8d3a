"""Data rights of channels: the user's subscriptions, the channels they own and the posts they wrote.

Decision on owned channels: a channel whose **only** owner deletes their account is deleted with its
posts (handing a broadcast audience to an arbitrary subscriber would be worse); a channel with other
owners stays, their posts in it stay as published content of the channel with the author replaced by
``ERASED_USER``. Subscriptions go (subscriber counts drop). Search index rows of deleted posts and
channels go with them (triggers on SQLite, expression indexes on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select, update

from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.db.models.channels import Channel, ChannelMember, ChannelPost, ChannelPostEarly


async def export(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    rows = await session.execute(
        select(Channel, ChannelMember)
        .join(ChannelMember, ChannelMember.channel_id == Channel.id)
        .where(ChannelMember.user_id == user_id)
        .order_by(Channel.created_at)
    )
    posts = await session.scalars(
        select(ChannelPost).where(ChannelPost.author == user_id).order_by(ChannelPost.created_at)
    )
    return {
        "channels": [
            {
                "id": c.id,
                "title": c.title,
                "description": c.description,
                "role": m.role,
                "joined_at": m.joined_at,
                "last_read_seq": m.last_read_seq,
            }
            for c, m in rows.all()
        ],
        "channel_posts": [
            {"channel_id": p.channel_id, "seq": p.seq, "id": p.id, "text": p.text, "ts": p.created_at}
            for p in posts
        ],
    }


async def erase(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    owned = select(ChannelMember.channel_id).where(
        ChannelMember.user_id == user_id, ChannelMember.role == "owner"
    )
    co_owned = select(ChannelMember.channel_id).where(
        ChannelMember.channel_id.in_(owned), ChannelMember.role == "owner", ChannelMember.user_id != user_id
    )
    sole = list(await session.scalars(owned.where(ChannelMember.channel_id.not_in(co_owned))))
    # Posts first, so that their search-index triggers fire on every dialect's cascade behaviour.
    await session.execute(delete(ChannelPost).where(ChannelPost.channel_id.in_(sole)))
    await session.execute(delete(Channel).where(Channel.id.in_(sole)))
    left = list(
        await session.scalars(select(ChannelMember.channel_id).where(ChannelMember.user_id == user_id))
    )
    await session.execute(delete(ChannelMember).where(ChannelMember.user_id == user_id))
    if left:
        await session.execute(
            update(Channel).where(Channel.id.in_(left)).values(subscribers=Channel.subscribers - 1)
        )
    await session.execute(update(ChannelPost).where(ChannelPost.author == user_id).values(author=ERASED_USER))
    # A fan-out cursor that stopped at the user moves back to the previous remaining member (the same
    # position: nobody is left in between).
    previous = (
        select(func.coalesce(func.max(ChannelMember.user_id), ""))
        .where(ChannelMember.channel_id == ChannelPost.channel_id, ChannelMember.user_id < user_id)
        .scalar_subquery()
    )
    await session.execute(
        update(ChannelPost).where(ChannelPost.fanout_after == user_id).values(fanout_after=previous)
    )
    await session.execute(update(Channel).where(Channel.created_by == user_id).values(created_by=ERASED_USER))
    await session.execute(
        delete(ChannelPostEarly).where(ChannelPostEarly.device_id.in_(ctx.subject.device_ids))
    )
    return {"channels_deleted": len(sole), "subscriptions": len(left)}


PROVIDER = Provider(
    name="channels",
    covers={
        "channel_members": ("user_id",),
        "channel_posts": ("author", "fanout_after"),
        "channels": ("created_by",),
        "channel_post_early": ("device_id",),
    },
    export=export,
    erase=erase,
)
