"""Key directory: one-time prekeys published by devices (identity keys live on the device row)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base


class Prekey(Base):
    __tablename__ = "prekeys"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 X25519 public key
