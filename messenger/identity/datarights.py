"""Data rights of the identity features: the account's identity-provider links (provider, when verified,
the kept claims; the subject only as stored, an HMAC), sign-ins under way and device links.

Erase: all of them go (links and device links would cascade with the user row too; the registry wants
every column covered by name)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, or_, select

from messenger.datarights.registry import Context, Provider
from messenger.db.models import DeviceLink, IdentityLink, OidcFlow


async def export_identity(ctx: Context) -> Mapping[str, Any]:
    session, user_id = ctx.session, ctx.subject.user_id
    links = await session.scalars(
        select(IdentityLink).where(IdentityLink.user_id == user_id).order_by(IdentityLink.id)
    )
    approved = await session.scalars(
        select(DeviceLink).where(DeviceLink.user_id == user_id).order_by(DeviceLink.created_at)
    )
    return {
        "identity_links": [
            {
                "provider": link.provider,
                "verified_at": link.verified_at,
                "subject_hmac": link.subject_hash,
                "claims": json.loads(link.claims),
            }
            for link in links
        ],
        "device_links": [
            {
                "id": d.id,
                "device_name": d.device_name,
                "platform": d.platform,
                "created_at": d.created_at,
                "approved_by": d.approved_by,
                "claimed": d.claimed,
            }
            for d in approved
        ],
    }


async def erase_identity(ctx: Context) -> Mapping[str, int]:
    session, user_id = ctx.session, ctx.subject.user_id
    links = await session.execute(delete(IdentityLink).where(IdentityLink.user_id == user_id))
    flows = await session.execute(delete(OidcFlow).where(OidcFlow.user_id == user_id))
    device_links = await session.execute(
        delete(DeviceLink).where(
            or_(DeviceLink.user_id == user_id, DeviceLink.approved_by.in_(ctx.subject.device_ids))
        )
    )
    return {
        "links": links.rowcount or 0,  # type: ignore[attr-defined]
        "flows": flows.rowcount or 0,  # type: ignore[attr-defined]
        "device_links": device_links.rowcount or 0,  # type: ignore[attr-defined]
    }


PROVIDER = Provider(
    name="identity",
    covers={
        "identity_links": ("user_id",),
        "oidc_flows": ("user_id",),
        "device_links": ("user_id", "approved_by"),
    },
    export=export_identity,
    erase=erase_identity,
)
