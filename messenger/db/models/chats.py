"""Chats, members, messages (one end-to-end encrypted Megolm ciphertext each), and pins.

User and device ids in these tables carry no foreign key to ``users``/``devices``: federation puts
users and devices homed in other states into local chats.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # c<hex>
    kind: Mapped[str] = mapped_column(String(16))  # private | group (features add more kinds)
    title: Mapped[str | None] = mapped_column(String(200))
    pair_key: Mapped[str | None] = mapped_column(String(140), unique=True)  # private: "<uid>|<uid>" sorted
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # per-chat message sequence


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (Index("ix_members_user", "user_id"),)

    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # owner | admin | member
    joined_at: Mapped[float] = mapped_column(Float, default=now)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("chat_id", "seq", name="uq_messages_chat_seq"),
        UniqueConstraint("chat_id", "sender_device_id", "client_msg_id", name="uq_messages_client_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # m<hex>
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender_user_id: Mapped[str] = mapped_column(String(64))
    sender_device_id: Mapped[str] = mapped_column(String(40))
    client_msg_id: Mapped[str] = mapped_column(String(64))
    reply_to: Mapped[int | None] = mapped_column(Integer)  # seq in the same chat
    created_at: Mapped[float] = mapped_column(Float, default=now)
    edited_at: Mapped[float | None] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float)  # tombstone: the ciphertext is dropped
    # The Megolm ciphertext (base64, opaque to the node; one per message whatever the number of devices)
    # and the id of the sender device's Megolm session, which recipients need to pick the room key.
    ciphertext: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(64))


class Pin(Base):
    __tablename__ = "pins"

    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    pinned_by: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[float] = mapped_column(Float, default=now)
