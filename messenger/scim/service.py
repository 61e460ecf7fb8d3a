"""Organisations, their provisioned users and groups, and the effect on the messenger.

Effects are reconciled, not replayed: after any SCIM write, ``sync_groups`` makes each touched group's
chat hold exactly the messenger accounts of its active, linked members, adding and removing them through
``messenger.services.chats`` (so ``member.added`` / ``member.removed`` events, the audit entries and the
chat hooks fire as for the API). A group of kind ``channel`` is mirrored to a channel instead: its
members are the subscribers and its extension's owners the channel's owners, through
``messenger.channels.service``. An interrupted sync is finished by the next write or sign-up.

A provisioned user is *linked* while an account with its mobile number exists (``users.phone``); nothing
stores the link, so a number that signs up later links at once (``link_account``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from messenger import audit
from messenger.channels import service as channels
from messenger.db.base import now
from messenger.db.models import Chat, Member, User
from messenger.db.models.channels import Channel, ChannelMember
from messenger.errors import ApiError
from messenger.scim.models import Organisation, ScimGroup, ScimGroupMember, ScimGroupOwner, ScimUser
from messenger.security import new_token, token_hash
from messenger.services import chats
from messenger.services.ids import new_id

KINDS = ("school", "company", "ministry")


def actor_of(org: Organisation | str) -> str:
    """How an organisation appears as the actor of audit entries and chat events: ``org:o…``."""
    return f"org:{org if isinstance(org, str) else org.id}"


# --- organisations ---


async def create_org(
    session: AsyncSession, *, name: str, kind: str, created_by: str
) -> tuple[Organisation, str]:
    """A new organisation and its SCIM bearer token (returned once; only its SHA-256 is stored)."""
    token = new_token()
    org = Organisation(
        id=new_id("o"),
        name=name,
        kind=kind,
        token_hash=token_hash(token),
        created_by=created_by,
        created_at=now(),
    )
    session.add(org)
    await audit.record(
        session, action="scim.org_created", actor=created_by, target=org.id, detail={"kind": kind}
    )
    await session.commit()
    return org, token


async def rotate_token(session: AsyncSession, *, org: Organisation, actor: str) -> str:
    """A new token for ``org``; the old one stops working at once."""
    token = new_token()
    org.token_hash = token_hash(token)
    await audit.record(session, action="scim.token_rotated", actor=actor, target=org.id)
    await session.commit()
    return token


async def org_for_token(session: AsyncSession, token: str) -> Organisation | None:
    return await session.scalar(select(Organisation).where(Organisation.token_hash == token_hash(token)))


async def list_orgs(session: AsyncSession) -> list[Organisation]:
    return list(await session.scalars(select(Organisation).order_by(Organisation.created_at)))


# --- rows of one organisation ---


async def user_of(session: AsyncSession, org: Organisation, user_id: str) -> ScimUser | None:
    row = await session.get(ScimUser, user_id)
    return row if row is not None and row.org_id == org.id else None  # other orgs' ids do not leak


async def group_of(session: AsyncSession, org: Organisation, group_id: str) -> ScimGroup | None:
    row = await session.get(ScimGroup, group_id)
    return row if row is not None and row.org_id == org.id else None


def _links(owners: bool) -> type[ScimGroupMember] | type[ScimGroupOwner]:
    return ScimGroupOwner if owners else ScimGroupMember


async def members_of(
    session: AsyncSession, group_ids: Sequence[str], *, owners: bool = False
) -> dict[str, list[ScimUser]]:
    """The provisioned users of each group (``owners``: its extension's owners), in user-id order."""
    out: dict[str, list[ScimUser]] = {g: [] for g in group_ids}
    link = _links(owners)
    if group_ids:
        rows = await session.execute(
            select(link.group_id, ScimUser)
            .join(ScimUser, ScimUser.id == link.scim_user_id)
            .where(link.group_id.in_(group_ids))
            .order_by(ScimUser.id)
        )
        for group_id, user in rows.all():
            out[group_id].append(user)
    return out


async def groups_with(session: AsyncSession, scim_user_ids: Iterable[str]) -> list[str]:
    ids = list(scim_user_ids)
    if not ids:
        return []
    members = select(ScimGroupMember.group_id).where(ScimGroupMember.scim_user_id.in_(ids))
    owners = select(ScimGroupOwner.group_id).where(ScimGroupOwner.scim_user_id.in_(ids))
    return sorted(set(await session.scalars(members.union(owners))))


async def unknown_users(session: AsyncSession, org: Organisation, ids: Sequence[str]) -> list[str]:
    if not ids:
        return []
    found = set(
        await session.scalars(select(ScimUser.id).where(ScimUser.org_id == org.id, ScimUser.id.in_(ids)))
    )
    return [i for i in ids if i not in found]


async def set_members(
    session: AsyncSession, group: ScimGroup, ids: Sequence[str], *, owners: bool = False
) -> None:
    """Make ``ids`` (checked to be the org's users) the group's members (``owners``: its extension's
    owners); the caller commits."""
    link = _links(owners)
    await session.execute(delete(link).where(link.group_id == group.id))
    session.add_all(link(group_id=group.id, scim_user_id=i) for i in dict.fromkeys(ids))


def touch(row: ScimUser | ScimGroup) -> None:
    row.updated_at = now()
    row.version = (row.version or 0) + 1


# --- effect on the messenger ---


async def _accounts(session: AsyncSession, group_id: str, *, owners: bool = False) -> set[str]:
    """Messenger accounts of the group's active provisioned members or owners (linked by phone)."""
    link = _links(owners)
    rows = await session.scalars(
        select(User.id)
        .join(ScimUser, ScimUser.phone == User.phone)
        .join(link, link.scim_user_id == ScimUser.id)
        .where(link.group_id == group_id, ScimUser.active.is_not(False))
    )
    return set(rows)


async def _chat_for(session: AsyncSession, group: ScimGroup) -> Chat:
    chat = await session.get(Chat, group.chat_id) if group.chat_id else None
    if chat is None:
        creator = actor_of(group.org_id)
        chat = chats.new_chat(session, kind="group", title=group.display_name, created_by=creator)
        group.chat_id = chat.id
        await session.commit()
    elif chat.title != group.display_name:
        chat.title = group.display_name
        await session.commit()
    return chat


async def sync_groups(session: AsyncSession, *, state: str, group_ids: Iterable[str]) -> None:
    """Make each group's chat hold exactly the accounts of its active linked members (module docstring)."""
    for group_id in sorted(set(group_ids)):
        # Locked (PostgreSQL) until the chat exists: two workers syncing a new group make one chat.
        group = await session.get(ScimGroup, group_id, with_for_update=True)
        if group is None:
            continue
        if group.kind == "channel":
            await _sync_channel(session, group, state=state)
            continue
        chat = await _chat_for(session, group)
        await _reconcile(
            session,
            chat_id=chat.id,
            org_id=group.org_id,
            wanted=await _accounts(session, group_id),
            state=state,
        )


async def _reconcile(
    session: AsyncSession, *, chat_id: str, org_id: str, wanted: set[str], state: str
) -> None:
    have = set(await session.scalars(select(Member.user_id).where(Member.chat_id == chat_id)))
    # The organisation acts as the chat's owner (it is not a member): the services' own permission
    # checks pass and their events name it as ``by``.
    actor = Member(chat_id=chat_id, user_id=actor_of(org_id), role="owner")
    for user_id in sorted(wanted - have):
        try:
            await chats.add_member(session, actor=actor, user_id=user_id, role="member", state=state)
        except ApiError:  # a concurrent sync added them first
            await session.rollback()
    for user_id in sorted(have - wanted):
        try:
            await chats.remove_member(session, actor=actor, user_id=user_id)
        except ApiError:  # a concurrent sync (or the user leaving) removed them first
            await session.rollback()


async def empty_group(session: AsyncSession, *, group: ScimGroup, state: str) -> None:
    """A deleted group's chat loses every member, its channel every subscriber (the rows and their
    history stay for retention)."""
    if group.chat_id:
        await _reconcile(session, chat_id=group.chat_id, org_id=group.org_id, wanted=set(), state=state)
    if group.channel_id:
        await _reconcile_channel(session, channel_id=group.channel_id, org_id=group.org_id, wanted={})


async def _sync_channel(session: AsyncSession, group: ScimGroup, *, state: str) -> None:
    """A channel group: its channel's subscribers are the group's accounts, its owners the owners'."""
    if group.chat_id:  # the group was a chat until its kind was given (once, RFC 7643 immutable)
        await _reconcile(session, chat_id=group.chat_id, org_id=group.org_id, wanted=set(), state=state)
        group.chat_id = None
        await session.commit()
    channel = await session.get(Channel, group.channel_id) if group.channel_id else None
    if channel is None:
        # The organisation is the channel's owner of record, as it acts as a group chat's owner.
        channel = await channels.create(
            session, owner=actor_of(group.org_id), title=group.display_name, description=""
        )
        group.channel_id = channel.id
        await session.commit()
    elif channel.title != group.display_name:
        channel.title = group.display_name
        await session.commit()
    wanted = dict.fromkeys(await _accounts(session, group.id), "subscriber")
    wanted |= dict.fromkeys(await _accounts(session, group.id, owners=True), "owner")
    await _reconcile_channel(session, channel_id=channel.id, org_id=group.org_id, wanted=wanted)


async def _reconcile_channel(
    session: AsyncSession, *, channel_id: str, org_id: str, wanted: dict[str, str]
) -> None:
    org = actor_of(org_id)
    rows = await session.execute(
        select(ChannelMember.user_id, ChannelMember.role).where(
            ChannelMember.channel_id == channel_id, ChannelMember.user_id != org
        )
    )
    have = dict(rows.tuples().all())
    for user_id, role in sorted(wanted.items()):
        try:
            if role == "owner" and have.get(user_id) != "owner":
                await channels.add_owner(session, channel_id=channel_id, actor=org, user_id=user_id)
            elif role == "subscriber" and have.get(user_id) == "owner":
                await channels.remove_owner(session, channel_id=channel_id, actor=org, user_id=user_id)
            elif user_id not in have:
                await channels.subscribe(session, channel_id=channel_id, user_id=user_id)
        except ApiError:  # a concurrent sync changed them first
            await session.rollback()
    for user_id in sorted(set(have) - set(wanted)):
        try:
            await channels.unsubscribe(session, channel_id=channel_id, user_id=user_id)
        except ApiError:  # a concurrent sync (or the user) unsubscribed them first
            await session.rollback()


async def link_account(session: AsyncSession, *, phone: str, state: str) -> None:
    """A new account of ``phone``: join the chats of the groups its provisioned records are in."""
    ids = list(
        await session.scalars(
            select(ScimUser.id).where(ScimUser.phone == phone, ScimUser.active.is_not(False))
        )
    )
    await sync_groups(session, state=state, group_ids=await groups_with(session, ids))


async def fellow_phones(session: AsyncSession, *, user_id: str) -> set[str]:
    """Phones of the active users provisioned by the organisations that provision ``user_id`` (actively):
    the directory part of the user's contacts."""
    phone = select(User.phone).where(User.id == user_id).scalar_subquery()
    orgs = select(ScimUser.org_id).where(ScimUser.phone == phone, ScimUser.active.is_not(False))
    rows = await session.scalars(
        select(ScimUser.phone)
        .where(
            ScimUser.org_id.in_(orgs),
            ScimUser.active.is_not(False),
            ScimUser.phone.is_not(None),
            ScimUser.phone != phone,
        )
        .distinct()
    )
    return {p for p in rows if p}


async def count_users(session: AsyncSession, org: Organisation) -> int:
    return int(await session.scalar(select(func.count()).where(ScimUser.org_id == org.id)) or 0)
