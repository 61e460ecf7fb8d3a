"""The account itself (user row, devices, login codes, own audit entries) and operator roles.

Erase: login codes for the phone number and the user row go; devices, their one-time prekeys and event
logs cascade with it. Operator roles of the user go, and roles they granted to others keep no granter.
The audit log is append-only and keeps its entries (``registry.ALLOWED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update

from messenger.datarights.registry import Context, Provider
from messenger.db.models import AdminRole, AuditEntry, Device, LoginCode, User


async def export_account(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    user = await session.get(User, user_id)
    assert user is not None
    devices = await session.scalars(
        select(Device).where(Device.user_id == user_id).order_by(Device.created_at)
    )
    audit = await session.scalars(
        select(AuditEntry).where(AuditEntry.actor == user_id).order_by(AuditEntry.seq)
    )
    return {
        "user": {
            "id": user.id,
            "phone": user.phone,
            "created_at": user.created_at,
            "second_factor": {"totp": bool(user.totp_secret), "pin": bool(user.pin_hash)},
        },
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "platform": d.platform,
                "created_at": d.created_at,
                "revoked_at": d.revoked_at,
                "identity_key": d.identity_key,
            }
            for d in devices
        ],
        "audit": [{"seq": a.seq, "ts": a.created_at, "action": a.action, "target": a.target} for a in audit],
    }


async def erase_account(ctx: Context) -> Mapping[str, int]:
    session = ctx.session
    codes = await session.execute(delete(LoginCode).where(LoginCode.phone == ctx.subject.phone))
    await session.execute(delete(User).where(User.id == ctx.subject.user_id))  # devices etc. cascade
    return {"devices": len(ctx.subject.device_ids), "login_codes": codes.rowcount or 0}  # type: ignore[attr-defined]


ACCOUNT = Provider(
    name="account",
    covers={
        "users": ("id", "phone"),
        "devices": ("id", "user_id"),
        "prekeys": ("device_id",),
        "device_events": ("device_id",),
        "login_codes": ("phone",),
    },
    export=export_account,
    erase=erase_account,
)


async def export_admin(ctx: Context) -> Mapping[str, Any]:
    role = await ctx.session.get(AdminRole, ctx.subject.user_id)
    return {"operator_role": None if role is None else {"role": role.role, "granted_at": role.granted_at}}


async def erase_admin(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    gone = await session.execute(delete(AdminRole).where(AdminRole.user_id == user_id))
    await session.execute(update(AdminRole).where(AdminRole.granted_by == user_id).values(granted_by=None))
    return {"roles": gone.rowcount or 0}  # type: ignore[attr-defined]


ADMIN = Provider(
    name="admin",
    covers={"admin_roles": ("user_id", "granted_by")},
    export=export_admin,
    erase=erase_admin,
)
