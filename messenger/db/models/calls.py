"""Calls: the call detail record (``calls``), who was asked (``call_participants``), who was connected when
(``call_legs``), and the minutes metered per user per billing period (``call_usage``)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # k<hex>
    chat_id: Mapped[str | None] = mapped_column(String(40), index=True)  # None for a meeting's call
    meeting_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(8))  # direct | group
    media: Mapped[str] = mapped_column(String(8))  # audio | video
    created_by: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8))  # ringing | active | ended
    created_at: Mapped[float] = mapped_column(Float, default=now)  # the CDR's start (first ring)
    answered_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(
        String(16)
    )  # hangup | declined | missed | cancelled | timeout


class CallParticipant(Base):
    __tablename__ = "call_participants"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # caller | invited | ringing | joined | declined | left | missed
    status: Mapped[str] = mapped_column(String(8))
    invited_at: Mapped[float] = mapped_column(Float, default=now)


class CallLeg(Base):
    """One device connected to a call from ``joined_at`` until ``left_at`` (rejoining opens a new leg)."""

    __tablename__ = "call_legs"
    __table_args__ = (Index("ix_call_legs_open", "left_at", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(40))
    joined_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    left_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # left | hangup | timeout


class CallUsage(Base):
    """Metered call time of one user in one billing period (``YYYY-MM``, UTC)."""

    __tablename__ = "call_usage"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    minutes: Mapped[float] = mapped_column(Float, default=0.0)  # billable, rounded as the tariff says
    calls: Mapped[int] = mapped_column(Integer, default=0)
