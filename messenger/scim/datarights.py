"""Data rights of the SCIM directories: what organisations provisioned about a person (matched by phone)
and the organisations an operator created."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from messenger.datarights.registry import ERASED_USER, Context, Provider
from messenger.scim.models import Organisation, ScimGroup, ScimGroupMember, ScimGroupOwner, ScimUser


async def _group_names(
    session: AsyncSession, link: type[ScimGroupMember] | type[ScimGroupOwner], user_ids: list[str]
) -> dict[str, list[str]]:
    """Provisioned user id -> the display names of the groups ``link`` (members or owners) ties it to."""
    rows = await session.execute(
        select(link.scim_user_id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == link.group_id)
        .where(link.scim_user_id.in_(user_ids))
        .order_by(ScimGroup.display_name)
    )
    names: dict[str, list[str]] = {}
    for user_id, name in rows.all():
        names.setdefault(user_id, []).append(name)
    return names


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
    ids = [u.id for u, _ in rows]
    in_groups = await _group_names(session, ScimGroupMember, ids)
    owns = await _group_names(session, ScimGroupOwner, ids)
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
