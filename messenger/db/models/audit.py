"""The append-only, hash-chained audit log and the admin roles of operators."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class AuditEntry(Base):
    """One security-relevant action. ``hash`` = SHA-256 over this entry's fields and ``prev_hash``."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3, ...
    created_at: Mapped[float] = mapped_column(Float, default=now)
    action: Mapped[str] = mapped_column(String(64), index=True)  # auth.login, device.revoked, admin.* ...
    actor: Mapped[str | None] = mapped_column(String(64))  # user id, "system", or a peer state
    target: Mapped[str | None] = mapped_column(String(140))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON object, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AdminRole(Base):
    """An operator role of a user: admin, auditor or support (messenger.admin.PERMISSIONS)."""

    __tablename__ = "admin_roles"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[float] = mapped_column(Float, default=now)
