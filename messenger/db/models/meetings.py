"""Scheduled online meetings, their invitees' RSVPs, and the reminder sent before the start."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_reminder", "remind_at", "reminded_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # e<hex>
    title: Mapped[str] = mapped_column(String(200))
    organizer: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[float] = mapped_column(Float)  # UNIX seconds (UTC instant)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name the organizer scheduled in
    media: Mapped[str] = mapped_column(String(8), default="video")
    remind_at: Mapped[float] = mapped_column(Float)
    reminded_at: Mapped[float | None] = mapped_column(Float)
    call_id: Mapped[str | None] = mapped_column(String(40))
    cancelled_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE, bumped on changes


class MeetingInvitee(Base):
    __tablename__ = "meeting_invitees"
    __table_args__ = (Index("ix_meeting_invitees_user", "user_id"),)

    meeting_id: Mapped[str] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # any state's user id
    rsvp: Mapped[str] = mapped_column(String(12), default="needs-action")  # accepted | declined | tentative
    responded_at: Mapped[float | None] = mapped_column(Float)
