"""Data rights of the SCIM directories: what organisations provisioned about a person (matched by phone)
and the organisations an operator created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update

from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.scim.models import Organisation, ScimGroup, ScimGroupMember, ScimGroupOwner, ScimUser


async def _export(ctx: Context) -> Mapping[str, Any]:
    session, subject = ctx.session, ctx.subject
    rows = (
        await session.execute(
            select(ScimUser, Organisation.name)
            .join(Organisation, Organisation.id == ScimUser.org_id)
            .where(ScimUser.phone == subject.phone)
            .order_by(ScimUser.id)
        )
    ).all()
    groups = await session.execute(
        select(ScimGroupMember.scim_user_id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.scim_user_id.in_([u.id for u, _ in rows]))
        .order_by(ScimGroup.display_name)
    )
    in_groups: dict[str, list[str]] = {}
    for user_id, name in groups.all():
        in_groups.setdefault(user_id, []).append(name)
    owned = await session.execute(
        select(ScimGroupOwner.scim_user_id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupOwner.group_id)
        .where(ScimGroupOwner.scim_user_id.in_([u.id for u, _ in rows]))
        .order_by(ScimGroup.display_name)
    )
    owns: dict[str, list[str]] = {}
    for user_id, name in owned.all():
        owns.setdefault(user_id, []).append(name)
    created = await session.scalars(select(Organisation.id).where(Organisation.created_by == subject.user_id))
    return {
        "directory_records": [
            {
                "organisation": org_name,
                "user_name": u.user_name,
                "display_name": u.display_name,
                "given_name": u.given_name,
                "family_name": u.family_name,
                "external_id": u.external_id,
                "active": u.active,
                "groups": in_groups.get(u.id, []),
                "owner_of": owns.get(u.id, []),
            }
            for u, org_name in rows
        ],
        "organisations_created": sorted(created),
    }


async def _erase(ctx: Context) -> Mapping[str, int]:
    """The person's provisioned records go (with their group memberships and ownerships, by cascade);
    an organisation that still lists them may provision them again. Organisations an operator created
    stay, unnamed."""
    session, subject = ctx.session, ctx.subject
    gone = await session.execute(delete(ScimUser).where(ScimUser.phone == subject.phone))
    await session.execute(
        update(Organisation).where(Organisation.created_by == subject.user_id).values(created_by=ERASED_USER)
    )
    return {"directory_records": gone.rowcount or 0}  # type: ignore[attr-defined]


PROVIDER = Provider(
    name="scim",
    covers={
        "scim_users": ("phone",),
        "scim_group_members": ("scim_user_id",),
        "scim_group_owners": ("scim_user_id",),
        "scim_orgs": ("created_by",),
    },
    export=_export,
    erase=_erase,
)
