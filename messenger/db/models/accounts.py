"""Accounts: users (by phone), their devices (bearer tokens stored as hashes), login codes and the
counters of the attempt limits (``messenger.services.limits``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # u<hex>@<STATE>
    phone: Mapped[str] = mapped_column(String(16), unique=True)  # E.164
    created_at: Mapped[float] = mapped_column(Float, default=now)
    # TOTP second factor, active and issued-but-unconfirmed: AES-GCM under the node's TOTP key (security.py)
    totp_secret: Mapped[str | None] = mapped_column(String(128))
    totp_pending: Mapped[str | None] = mapped_column(String(128))
    pin_hash: Mapped[str | None] = mapped_column(Text)  # scrypt$salt$hash


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # d<hex>
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the bearer token
    created_at: Mapped[float] = mapped_column(Float, default=now)
    revoked_at: Mapped[float | None] = mapped_column(Float)
    identity_key: Mapped[str | None] = mapped_column(String(64))  # base64 X25519 public key
    signing_key: Mapped[str | None] = mapped_column(String(64))  # base64 Ed25519 verify key
    # Ed25519 signature (base64, by signing_key) of the identity key: the node checks it on upload.
    identity_signature: Mapped[str | None] = mapped_column(String(128))
    # Handed out (and kept) when the device has no one-time key left (messenger.services.keys).
    fallback_key: Mapped[str | None] = mapped_column(String(64))
    fallback_signature: Mapped[str | None] = mapped_column(String(128))
    # Last event cursor handed out to this device (see messenger.db.models.events).
    event_seq: Mapped[int] = mapped_column(Integer, default=0)


class LoginCode(Base):
    __tablename__ = "login_codes"
    __table_args__ = (
        Index("ix_login_codes_phone_created", "phone", "created_at"),
        Index("ix_login_codes_ip_created", "client_ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(16))
    client_ip: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(node secret, phone:code)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed: Mapped[bool] = mapped_column(Boolean, default=False)


class RateLimit(Base):
    """One limit's counter: a fixed window (``count`` hits until ``until``) or a backoff (``count``
    attempts, the next allowed at ``until``, the current lock ``delay`` seconds). ``key`` is
    ``<limit>:<HMAC of the subject>``, so phone numbers and addresses are not stored."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    until: Mapped[float] = mapped_column(Float, index=True)
    delay: Mapped[float] = mapped_column(Float, default=0.0)
