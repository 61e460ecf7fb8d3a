"""Locations shared in a chat: one-off pins and live locations that expire (server-readable for the map)."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (Index("ix_locations_chat_user", "chat_id", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)  # WGS 84 degrees
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float | None] = mapped_column(Float)  # live only; None for a one-off location
