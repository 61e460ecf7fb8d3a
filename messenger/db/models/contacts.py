"""Contact discovery: users' imported (hashed) contacts, the phone-hash index, and lookups for rate limits."""

from __future__ import annotations

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class PhoneHash(Base):
    """SHA-256 (hex) of each registered user's E.164 phone number."""

    __tablename__ = "phone_hashes"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), unique=True)


class Contact(Base):
    """A hashed phone number in a user's imported address book (names stay on the device)."""

    __tablename__ = "contacts"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    added_at: Mapped[float] = mapped_column(Float, default=now)


class ContactLookup(Base):
    """The first time a user asked about a hash: the rate limit counts distinct hashes per window."""

    __tablename__ = "contact_lookups"
    __table_args__ = (Index("ix_contact_lookups_user_time", "user_id", "looked_at"),)

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    looked_at: Mapped[float] = mapped_column(Float, default=now)
