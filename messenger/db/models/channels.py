"""Channels (newsletters): owners post server-readable posts, subscribers receive them by batched fan-out."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # h<hex>
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    subscribers: Mapped[int] = mapped_column(Integer, default=0)  # owners included


class ChannelMember(Base):
    __tablename__ = "channel_members"
    __table_args__ = (
        Index("ix_channel_members_user", "user_id"),
        Index("ix_channel_members_read", "channel_id", "last_read_seq"),
    )

    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="subscriber")  # owner | subscriber
    joined_at: Mapped[float] = mapped_column(Float, default=now)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)


class ChannelPost(Base):
    __tablename__ = "channel_posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "seq", name="uq_channel_posts_channel_seq"),
        Index("ix_channel_posts_pending", "fanout_done"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # p<hex>
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # server-readable by design: channels are searchable
    created_at: Mapped[float] = mapped_column(Float, default=now)
    # Fan-out progress: members with user_id > fanout_after are still to be delivered to.
    fanout_after: Mapped[str] = mapped_column(String(64), default="")
    fanout_done: Mapped[bool] = mapped_column(Boolean, default=False)
    fanout_done_at: Mapped[float | None] = mapped_column(Float)
    delivered_members: Mapped[int] = mapped_column(Integer, default=0)
    delivered_devices: Mapped[int] = mapped_column(Integer, default=0)


class ChannelPostEarly(Base):
    """Devices that got a post in the online-first pass; the batches skip them (rows go when done)."""

    __tablename__ = "channel_post_early"

    post_id: Mapped[str] = mapped_column(ForeignKey("channel_posts.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
