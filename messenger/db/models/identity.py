"""Identity: accounts linked to an identity provider, OpenID sign-ins under way, device links by code.

Nothing here holds personal data from the provider: the subject is an HMAC under the node secret and
``claims`` holds only the claims the provider's ``keep_claims`` allows (messenger/identity/settings.py).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from messenger.db.base import Base, now


class IdentityLink(Base):
    """An account's identity verified by ``provider`` (one link per account and provider)."""

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("provider", "subject_hash"),
        UniqueConstraint("user_id", "provider"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA-256(node secret, provider:subject)
    claims: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the kept claims only
    verified_at: Mapped[float] = mapped_column(Float, default=now)


class OidcFlow(Base):
    """A sign-in started at ``POST /v1/auth/oidc/{provider}/start``: short-lived and single-use."""

    __tablename__ = "oidc_flows"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of ``state``
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))  # PKCE (RFC 7636), sent once to the provider
    user_id: Mapped[str | None] = mapped_column(String(64))  # the caller when it links a signed-in account
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class DeviceLink(Base):
    """A new device waiting for a signed-in device of the same user to approve its code."""

    __tablename__ = "device_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # l<hex>; the new device's poll handle
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC(node secret, code)
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the polling secret
    phone_hash: Mapped[str] = mapped_column(String(64))  # HMAC(node secret, phone) of the account to join
    device_name: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    approved_by: Mapped[str | None] = mapped_column(String(40))  # the approving device
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    claimed: Mapped[bool] = mapped_column(Boolean, default=False)
