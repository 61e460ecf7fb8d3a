"""The per-device event log that makes reconnect-with-cursor exact.

Every event for a device gets ``seq = devices.event_seq + 1`` inside the writer's transaction, with the
device rows locked in id order; so a device's cursor only ever grows and no event can commit behind a
cursor a reader has already passed (unlike a global autoincrement under concurrent transactions).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class DeviceEvent(Base):
    __tablename__ = "device_events"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # message.new, message.edited, receipt, member.added ...
    payload: Mapped[str] = mapped_column(Text)  # JSON object
    created_at: Mapped[float] = mapped_column(Float, default=now)
