"""Operator roles and least-privilege permissions of the admin API.

``admin`` may do everything; ``auditor`` reads (and verifies) the audit log only; ``support`` looks up
accounts and revokes their devices but reads neither the audit log nor message metadata (chats,
members, counts). Users whose phone is in the ``admin_phones`` setting are admins (bootstrap).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from messenger.db.models import AdminRole, User
from messenger.errors import Forbidden

ROLES = ("admin", "auditor", "support")

PERMISSIONS: dict[str, frozenset[str]] = {
    "audit.read": frozenset({"admin", "auditor"}),
    "users.read": frozenset({"admin", "support"}),
    "devices.revoke": frozenset({"admin", "support"}),
    "metadata.read": frozenset({"admin"}),
    "roles.write": frozenset({"admin"}),
    "orgs.write": frozenset({"admin"}),  # SCIM organisations and their tokens (messenger.scim)
}


def bootstrap_phones(setting: str) -> frozenset[str]:
    """The phones of the ``admin_phones`` setting (comma-separated E.164)."""
    return frozenset(p.strip() for p in setting.split(",") if p.strip())


async def role_of(session: AsyncSession, *, user_id: str, admin_phones: frozenset[str]) -> str | None:
    """The user's operator role, or None for ordinary users."""
    row = await session.get(AdminRole, user_id)
    if row is not None:
        return row.role
    if admin_phones:
        user = await session.get(User, user_id)
        if user is not None and user.phone in admin_phones:
            return "admin"
    return None


def require(role: str | None, permission: str) -> str:
    """``role`` if it holds ``permission``; 403 otherwise (the detail names the permission)."""
    if role is None or role not in PERMISSIONS[permission]:
        who = f"role {role}" if role else "a user without an operator role"
        raise Forbidden(f"{who} may not use {permission}", code="not_allowed")
    return role
