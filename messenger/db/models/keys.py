"""Key directory: one-time keys published by devices (identity and fallback keys live on the device row),
the idempotency record of to-device sends, and server-side key backups (opaque to the node)."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class Prekey(Base):
    __tablename__ = "prekeys"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))  # base64 Curve25519 public key
    signature: Mapped[str | None] = mapped_column(String(128))  # Ed25519 by the device's signing key


class ToDeviceTxn(Base):
    """A sender device's to-device transaction id, seen once: a retried send is not delivered again."""

    __tablename__ = "to_device_txns"

    # No foreign key: inserting one would share-lock the sender's device row, and the delivery then locks
    # the recipients' rows for update, so two devices sending to each other would deadlock (PostgreSQL).
    # Rows go with the event log's retention (messenger.realtime.retention) and with account erasure.
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    txn_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, default=now, index=True)


class KeyBackup(Base):
    """A version of a user's key backup: the recovery key's public half (the node never sees the secret)."""

    __tablename__ = "key_backups"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)


class BackupSession(Base):
    """One backed-up room key, encrypted by the client to the backup's public key (``PkEncryption``)."""

    __tablename__ = "backup_sessions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "version"], ["key_backups.user_id", "key_backups.version"], ondelete="CASCADE"
        ),
    )

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # opaque: the client's encrypted room key
